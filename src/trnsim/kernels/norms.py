"""RMSNorm and LayerNorm over the last axis of a [rows, hidden] tensor.

Rows go on partitions (128 per tile), the hidden dimension along the free axis, so every row's
statistics are free-axis reductions of one tile:

* RMSNorm: ScalarE ``activation_reduce(square, x·1/√H)`` yields ``mean(x²)`` per row in one
  instruction; ``rsqrt(mean + eps)`` is a [rows, 1] column; one VectorE
  ``scalar_tensor_tensor`` computes ``(x · rstd) · w``.
* LayerNorm (two-pass, numerically stable): VectorE row sum → mean; ``x − mean``; ScalarE
  ``activation_reduce(square, (x − mean)·1/√H)`` → variance; ``(xc · rstd) · gamma`` then
  ``+ beta``.

The weight vectors are loaded once, broadcast over the 128 partitions by the DMA. Statistics
are fp32, outputs have the input dtype. Any row count works; the hidden size is limited by SBUF
(a few [128, H] fp32 tiles; H ≤ 16384 is safe on every generation).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trnsim.kernels.loops import tile_spans
from trnsim.kernels.tiling import require, require_rank
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


def _check(kernel: str, x: Any, *weights: Any) -> tuple[int, int]:
    require_rank(kernel, "x", x.shape, 2)
    rows, hidden = (int(d) for d in x.shape)
    for i, w in enumerate(weights):
        require(
            tuple(w.shape) == (hidden,),
            kernel,
            f"weight {i} has shape {tuple(w.shape)}; expected ({hidden},) to match x {tuple(x.shape)}",
        )
    return rows, hidden


def _broadcast_rows(w: Any, hidden: int) -> Any:
    """Load the [hidden] vector ``w`` into a [128, hidden] SBUF tile (same values on every partition)."""
    p = nl.tile_size.pmax
    return nl.load(w.reshape((1, hidden)).broadcast_to((p, hidden)))


@jit
def rmsnorm(x: Any, weight: Any, eps: float = 1e-6) -> Any:
    """Return ``x / sqrt(mean(x², axis=-1) + eps) * weight`` for x [rows, hidden], weight [hidden]."""
    rows, hidden = _check("rmsnorm", x, weight)
    out = nl.ndarray((rows, hidden), dtype=x.dtype, buffer=nl.shared_hbm)
    w_tile = _broadcast_rows(weight, hidden)
    for r, pr in tile_spans(rows, nl.tile_size.pmax):
        tile = nl.load(x[r : r + pr, :])
        mean_sq = nl.ndarray((pr, 1), dtype=nl.float32, buffer=nl.sbuf)
        nisa.activation_reduce(
            op=nl.square,
            data=tile,
            scale=1.0 / math.sqrt(hidden),
            reduce_op=np.add,
            reduce_res=mean_sq,
            dtype=nl.float32,
        )
        rstd = nl.rsqrt(nl.add(mean_sq, eps, dtype=nl.float32), dtype=nl.float32)
        normed = nisa.scalar_tensor_tensor(
            data=tile, op0=np.multiply, operand0=rstd, op1=np.multiply, operand1=w_tile[:pr, :], dtype=x.dtype
        )
        nl.store(out[r : r + pr, :], value=normed)
    return out


@jit
def layernorm(x: Any, gamma: Any, beta: Any, eps: float = 1e-5) -> Any:
    """Return ``(x − mean) / sqrt(var + eps) * gamma + beta`` over the last axis of x [rows, hidden]."""
    rows, hidden = _check("layernorm", x, gamma, beta)
    out = nl.ndarray((rows, hidden), dtype=x.dtype, buffer=nl.shared_hbm)
    g_tile = _broadcast_rows(gamma, hidden)
    b_tile = _broadcast_rows(beta, hidden)
    for r, pr in tile_spans(rows, nl.tile_size.pmax):
        tile = nl.load(x[r : r + pr, :])
        total = nisa.tensor_reduce(np.add, tile, axis=(1,), keepdims=True, dtype=nl.float32)
        neg_mean = nl.multiply(total, -1.0 / hidden, dtype=nl.float32)
        centred = nisa.tensor_scalar(tile, np.add, neg_mean, dtype=nl.float32)
        var = nl.ndarray((pr, 1), dtype=nl.float32, buffer=nl.sbuf)
        nisa.activation_reduce(
            op=nl.square,
            data=centred,
            scale=1.0 / math.sqrt(hidden),
            reduce_op=np.add,
            reduce_res=var,
            dtype=nl.float32,
        )
        rstd = nl.rsqrt(nl.add(var, eps, dtype=nl.float32), dtype=nl.float32)
        scaled = nisa.scalar_tensor_tensor(
            data=centred,
            op0=np.multiply,
            operand0=rstd,
            op1=np.multiply,
            operand1=g_tile[:pr, :],
            dtype=nl.float32,
        )
        normed = nisa.tensor_tensor(scaled, b_tile[:pr, :], np.add, dtype=x.dtype)
        nl.store(out[r : r + pr, :], value=normed)
    return out
