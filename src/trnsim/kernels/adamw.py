"""One AdamW optimizer step over a parameter tensor (decoupled weight decay, bias-corrected).

Inputs ``param`` (fp32 or bf16), ``grad`` (any float dtype), ``exp_avg`` and ``exp_avg_sq``
(fp32), all of the same shape with a total size divisible by 128. Returns the new
``(param, exp_avg, exp_avg_sq)`` (param in its dtype, moments fp32), as ``torch.optim.AdamW``::

    p ← p·(1 − lr·wd)
    m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²
    p ← p − lr/(1 − β1^t) · m / (sqrt(v/(1 − β2^t)) + eps)

Algorithm: every tensor is viewed as [128, n/128] (each partition owns one contiguous run, so
every DMA is one long burst per partition) and streamed in chunks of ``MAX_FREE`` columns:
four loads, eight VectorE/ScalarE instructions, three stores per chunk. The hyper-parameters are
trace-time constants folded into the instructions' immediates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trnsim.kernels.loops import tile_spans
from trnsim.kernels.tiling import require
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

#: Columns per chunk (fp32 [128, 2048] = 8 KiB per partition per temporary).
MAX_FREE = 2048


@jit
def adamw(
    param: Any,
    grad: Any,
    exp_avg: Any,
    exp_avg_sq: Any,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    step: int = 1,
) -> tuple[Any, Any, Any]:
    """Return ``(param, exp_avg, exp_avg_sq)`` after one AdamW step (``step`` counts from 1)."""
    kernel = "adamw"
    shape = tuple(int(d) for d in param.shape)
    for name, t in (("grad", grad), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)):
        require(
            tuple(t.shape) == shape,
            kernel,
            f"'{name}' has shape {tuple(t.shape)}; expected param's shape {shape}",
        )
    for name, t in (("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)):
        require(
            np.dtype(t.dtype) == np.dtype(np.float32),
            kernel,
            f"'{name}' is {t.dtype}; optimizer moments must be float32",
        )
    require(step >= 1, kernel, f"step is {step}; it counts from 1")
    numel = math.prod(shape)
    p = nl.tile_size.pmax
    require(
        numel > 0 and numel % p == 0,
        kernel,
        f"parameter has {numel} elements; the count must be a positive multiple of {p}",
    )
    cols = numel // p
    bias1 = 1.0 - beta1**step
    bias2 = 1.0 - beta2**step

    new_param = nl.ndarray(shape, dtype=param.dtype, buffer=nl.shared_hbm)
    new_m = nl.ndarray(shape, dtype=nl.float32, buffer=nl.shared_hbm)
    new_v = nl.ndarray(shape, dtype=nl.float32, buffer=nl.shared_hbm)
    views = [t.reshape((p, cols)) for t in (param, grad, exp_avg, exp_avg_sq, new_param, new_m, new_v)]
    param_2d, grad_2d, m_2d, v_2d, out_p, out_m, out_v = views

    for c, fc in tile_spans(cols, MAX_FREE):
        w = nl.load(param_2d[:, c : c + fc])
        g = nl.load(grad_2d[:, c : c + fc])
        m = nl.load(m_2d[:, c : c + fc])
        v = nl.load(v_2d[:, c : c + fc])
        g_part = nisa.tensor_scalar(g, np.multiply, 1.0 - beta1, dtype=nl.float32)
        m_next = nisa.scalar_tensor_tensor(
            data=m, op0=np.multiply, operand0=beta1, op1=np.add, operand1=g_part, dtype=nl.float32
        )
        g_sq = nisa.activation(op=nl.square, data=g, scale=math.sqrt(1.0 - beta2), dtype=nl.float32)
        v_next = nisa.scalar_tensor_tensor(
            data=v, op0=np.multiply, operand0=beta2, op1=np.add, operand1=g_sq, dtype=nl.float32
        )
        denom = nisa.activation(op=nl.sqrt, data=v_next, scale=1.0 / bias2, dtype=nl.float32)
        inv = nisa.reciprocal(nisa.tensor_scalar(denom, np.add, eps, dtype=nl.float32), dtype=nl.float32)
        direction = nisa.tensor_tensor(m_next, inv, np.multiply, dtype=nl.float32)
        decayed = nisa.tensor_scalar(w, np.multiply, 1.0 - lr * weight_decay, dtype=nl.float32)
        w_next = nisa.scalar_tensor_tensor(
            data=direction,
            op0=np.multiply,
            operand0=-lr / bias1,
            op1=np.add,
            operand1=decayed,
            dtype=param.dtype,
        )
        nl.store(out_p[:, c : c + fc], value=w_next)
        nl.store(out_m[:, c : c + fc], value=m_next)
        nl.store(out_v[:, c : c + fc], value=v_next)
    return new_param, new_m, new_v
