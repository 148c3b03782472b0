"""Flash-attention backward: gradients of q, k, v from the forward's output and log-sum-exp.

Inputs ``q`` [B, Hq, Sq, D], ``k``/``v`` [B, Hkv, Sk, D], ``out`` and ``dout`` [B, Hq, Sq, D],
``lse`` [B, Hq, Sq] (fp32, from :func:`~trnsim.kernels.attention.flash_attention_fwd`).
Returns ``(dq, dk, dv)`` in the input dtype; for grouped-query attention ``dk``/``dv`` sum the
contributions of every query head of the group.

Algorithm (FlashAttention-2 backward, scores recomputed from ``lse`` instead of stored). For each
(batch, KV head): ``K^T``, ``V^T`` [D, Sk] and ``K`` tiles are loaded once and ``dK``, ``dV``
accumulate in fp32 SBUF tiles across all query heads and tiles. For each query head and 128-row
query tile ``i`` (with ``Δ_i = rowsum(dO_i ∘ O_i)``) and each 128-column key tile ``j ≤ i``
(all ``j`` without the causal mask):

* ``P = exp(scale · Q_i K_j^T − lse_i)`` (TensorE, then one ScalarE activation; the diagonal tile
  is masked on GpSimdE);
* ``dV_j += P^T dO_i`` — ``P`` [q, k] is already the stationary layout, no transpose needed;
* ``dP = dO_i V_j^T``; ``dS = P ∘ (dP − Δ_i)`` in one VectorE ``scalar_tensor_tensor``;
* ``dK_j += dS^T Q_i`` (stationary ``dS``), and ``dQ_i += dS K_j`` accumulated in PSUM over ``j``
  after one TensorE transpose of ``dS``; ``scale`` is applied once to ``dQ_i`` and ``dK_j``.

Limits: as the forward (Sq, Sk multiples of 128, D ≤ 128, causal needs Sq == Sk); SBUF holds
``K^T``, ``V^T``, ``K`` and the fp32 ``dK``, ``dV`` of one KV head (about ``14·Sk·D/128`` bytes per
partition for bf16), so Sk up to about 8k at D = 128 on trn1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trnsim.kernels.attention import causal_keep, check_attention, load_transposed
from trnsim.kernels.tiling import require
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


@jit
def flash_attention_bwd(
    q: Any,
    k: Any,
    v: Any,
    out: Any,
    dout: Any,
    lse: Any,
    causal: bool = True,
    softmax_scale: float | None = None,
) -> tuple[Any, Any, Any]:
    """Return ``(dq, dk, dv)`` of ``out = softmax(q k^T · scale [+ mask]) v`` given ``dout``."""
    kernel = "flash_attention_bwd"
    b_size, hq, hkv, sq, _, d = check_attention(kernel, q, k, v, causal)
    for name, t in (("out", out), ("dout", dout)):
        require(
            tuple(t.shape) == tuple(q.shape),
            kernel,
            f"'{name}' has shape {tuple(t.shape)}; expected q's shape {tuple(q.shape)}",
        )
    require(
        tuple(lse.shape) == (b_size, hq, sq),
        kernel,
        f"'lse' has shape {tuple(lse.shape)}; expected {(b_size, hq, sq)} (from flash_attention_fwd)",
    )
    scale = 1.0 / math.sqrt(d) if softmax_scale is None else float(softmax_scale)
    group = hq // hkv
    dt = q.dtype
    dq = nl.ndarray(tuple(q.shape), dtype=dt, buffer=nl.shared_hbm)
    dk = nl.ndarray(tuple(k.shape), dtype=dt, buffer=nl.shared_hbm)
    dv = nl.ndarray(tuple(v.shape), dtype=dt, buffer=nl.shared_hbm)
    lse_col = lse.reshape((b_size, hq, sq, 1))

    for b in nl.affine_range(b_size):
        for kvh in nl.affine_range(hkv):
            _kv_head_bwd(q, k, v, out, dout, lse_col, dq, dk, dv, b, kvh, group, causal, scale)

    return dq, dk, dv


def _kv_head_bwd(
    q: Any,
    k: Any,
    v: Any,
    out: Any,
    dout: Any,
    lse_col: Any,
    dq: Any,
    dk: Any,
    dv: Any,
    b: Any,
    kvh: Any,
    group: int,
    causal: bool,
    scale: float,
) -> None:
    """Gradients of one (batch, KV head); a function so its tiles die on return."""
    p = nl.tile_size.pmax
    dt = q.dtype
    sq, sk, d = int(q.shape[2]), int(k.shape[2]), int(q.shape[3])
    k_tiles_n = sk // p
    k_t = nl.ndarray((nl.par_dim(d), sk), dtype=dt, buffer=nl.sbuf)
    v_t = nl.ndarray((nl.par_dim(d), sk), dtype=dt, buffer=nl.sbuf)
    k_tiles = nl.ndarray((k_tiles_n, nl.par_dim(p), d), dtype=dt, buffer=nl.sbuf)
    for j in nl.affine_range(k_tiles_n):
        k_tiles[j] = nl.load(k[b, kvh, j * p : (j + 1) * p, :])
        k_t[:, j * p : (j + 1) * p] = nl.copy(nisa.nc_transpose(k_tiles[j]), dtype=dt)
        v_t[:, j * p : (j + 1) * p] = load_transposed(v[b, kvh, j * p : (j + 1) * p, :], p, d, dt)
    dk_acc = nl.zeros((k_tiles_n, nl.par_dim(p), d), dtype=nl.float32, buffer=nl.sbuf)
    dv_acc = nl.zeros((k_tiles_n, nl.par_dim(p), d), dtype=nl.float32, buffer=nl.sbuf)

    # dK and dV accumulate over the query heads of the group: a carried dependency.
    for g in nl.sequential_range(group):
        h = kvh * group + g
        # Trace-time loop: with a causal mask the number of key tiles depends on qi.
        for qi in nl.static_range(sq // p):
            q0 = qi * p
            q_tile = nl.load(q[b, h, q0 : q0 + p, :])
            q_t = nl.copy(nisa.nc_transpose(q_tile), dtype=dt)
            do_tile = nl.load(dout[b, h, q0 : q0 + p, :])
            do_t = nl.copy(nisa.nc_transpose(do_tile), dtype=dt)
            o_tile = nl.load(out[b, h, q0 : q0 + p, :])
            neg_lse = nl.multiply(nl.load(lse_col[b, h, q0 : q0 + p, :]), -1.0, dtype=nl.float32)
            do_o = nisa.tensor_tensor(do_tile, o_tile, np.multiply, dtype=nl.float32)
            delta = nisa.tensor_reduce(np.add, do_o, axis=(1,), keepdims=True, dtype=nl.float32)
            dq_psum = nl.zeros((p, d), dtype=nl.float32, buffer=nl.psum)
            for kj in nl.static_range(qi + 1 if causal else k_tiles_n):
                k0 = kj * p
                s_psum = nisa.nc_matmul(q_t, k_t[:, k0 : k0 + p])
                probs = nisa.activation(op=nl.exp, data=s_psum, scale=scale, bias=neg_lse, dtype=nl.float32)
                if causal and kj == qi:
                    probs = nisa.affine_select(
                        pred=causal_keep(q0, k0, p, p),
                        on_true_tile=probs,
                        on_false_value=0.0,
                        dtype=nl.float32,
                    )
                probs_lo = nl.copy(probs, dtype=dt)
                dv_acc[kj] = nisa.tensor_tensor(
                    dv_acc[kj], nisa.nc_matmul(probs_lo, do_tile), np.add, dtype=nl.float32
                )
                dp_psum = nisa.nc_matmul(do_t, v_t[:, k0 : k0 + p])
                ds = nisa.scalar_tensor_tensor(
                    data=dp_psum,
                    op0=np.subtract,
                    operand0=delta,
                    op1=np.multiply,
                    operand1=probs,
                    dtype=dt,
                )
                dk_acc[kj] = nisa.tensor_tensor(
                    dk_acc[kj], nisa.nc_matmul(ds, q_tile), np.add, dtype=nl.float32
                )
                ds_t = nl.copy(nisa.nc_transpose(ds), dtype=dt)
                dq_psum += nisa.nc_matmul(ds_t, k_tiles[kj])
            dq_tile = nisa.tensor_scalar(dq_psum, np.multiply, scale, dtype=dt)
            nl.store(dq[b, h, q0 : q0 + p, :], value=dq_tile)

    for j in nl.affine_range(k_tiles_n):
        dk_tile = nisa.tensor_scalar(dk_acc[j], np.multiply, scale, dtype=dt)
        nl.store(dk[b, kvh, j * p : (j + 1) * p, :], value=dk_tile)
        nl.store(dv[b, kvh, j * p : (j + 1) * p, :], value=nl.copy(dv_acc[j], dtype=dt))
