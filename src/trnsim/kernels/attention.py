"""Flash-attention forward: causal or not, grouped-query (several query heads per KV head).

Shapes: ``q`` [B, Hq, Sq, D], ``k`` and ``v`` [B, Hkv, Sk, D] with ``Hq % Hkv == 0``; returns
``out`` [B, Hq, Sq, D] (input dtype) and ``lse`` [B, Hq, Sq] (fp32 log-sum-exp of the scaled
scores, which the backward kernel needs).

Algorithm (FlashAttention-2 on a NeuronCore). For each (batch, KV head) the keys are transposed
once on TensorE into a resident ``K^T`` [D, Sk] and the values are kept as [128, D] tiles; both
serve every query head of the group. For each query head and 128-row query tile:

* ``Q^T`` [D, 128] is the stationary operand; each key block of up to ``KV_BLOCK`` columns gives
  scores ``S = Q K^T`` in PSUM, scaled on ScalarE; blocks crossing the diagonal are masked on
  GpSimdE with ``affine_select``; blocks past the diagonal are skipped entirely (causal).
* online softmax: block max on VectorE, ``P = exp(S − m_new)`` and its row sum in one ScalarE
  ``activation_reduce``, correction ``α = exp(m_old − m_new)``, ``l ← α·l + rowsum(P)``;
* ``P`` is transposed per 128×128 piece on TensorE and ``P V`` accumulates in PSUM; the running
  output is updated in one VectorE instruction ``O ← α·O + P V``;
* at the end ``O / l`` is stored, and ``lse = m + log(l)``.

Limits: Sq and Sk multiples of 128, D ≤ 128; causal attention requires Sq == Sk. SBUF holds
``K^T`` and ``V`` of one KV head (about ``4·Sk·D/128`` bytes per partition in bf16), so Sk up to
about 16k at D = 128 fits on trn1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trnsim.kernels.tiling import chunks, require, require_multiple, require_rank
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

#: Key columns per score block: one PSUM bank of fp32 (the moving-tile limit of nc_matmul).
KV_BLOCK = 512
#: Score given to masked positions: exp(MASK_SCORE − m) is exactly 0 in fp32 for any real m.
MASK_SCORE = -30000.0


def check_attention(kernel: str, q: Any, k: Any, v: Any, causal: bool) -> tuple[int, int, int, int, int, int]:
    """Validate attention operands; return ``(B, Hq, Hkv, Sq, Sk, D)``."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        require_rank(kernel, name, t.shape, 4)
    b, hq, sq, d = (int(x) for x in q.shape)
    b2, hkv, sk, d2 = (int(x) for x in k.shape)
    require(
        tuple(v.shape) == tuple(k.shape),
        kernel,
        f"k {tuple(k.shape)} and v {tuple(v.shape)} must have the same shape [B, Hkv, Sk, D]",
    )
    require(
        b == b2 and d == d2,
        kernel,
        f"q {tuple(q.shape)} and k {tuple(k.shape)} disagree on batch or head_dim ([B, H, S, D] layout)",
    )
    require(
        hkv > 0 and hq % hkv == 0,
        kernel,
        f"query heads ({hq}) must be a multiple of KV heads ({hkv})",
    )
    require(
        q.dtype == k.dtype == v.dtype,
        kernel,
        f"q, k, v must share a dtype; got {q.dtype}, {k.dtype}, {v.dtype}",
    )
    pmax = nl.tile_size.pmax
    require_multiple(kernel, "seq_q", sq, pmax)
    require_multiple(kernel, "seq_k", sk, pmax)
    require(0 < d <= pmax, kernel, f"head_dim is {d}; it must be between 1 and {pmax}")
    require(
        not causal or sq == sk,
        kernel,
        f"causal attention needs seq_q == seq_k; got {sq} and {sk}",
    )
    return b, hq, hkv, sq, sk, d


def load_transposed(src: Any, rows: int, cols: int, dtype: Any) -> Any:
    """Load an HBM [rows ≤ 128, cols ≤ 128] slice and return its transpose [cols, rows] in SBUF."""
    tile = nl.load(src)
    flipped = nisa.nc_transpose(tile)
    return nl.copy(flipped, dtype=dtype)


def load_kv(k: Any, v: Any, b: int, kvh: int, sk: int, d: int) -> tuple[Any, Any]:
    """Load one KV head: ``K^T`` [D, Sk] and ``V`` as (Sk/128) tiles of [128, D], both in SBUF."""
    p = nl.tile_size.pmax
    k_t = nl.ndarray((nl.par_dim(d), sk), dtype=k.dtype, buffer=nl.sbuf)
    v_tiles = nl.ndarray((sk // p, nl.par_dim(p), d), dtype=v.dtype, buffer=nl.sbuf)
    for j in nl.affine_range(sk // p):
        k_t[:, j * p : (j + 1) * p] = load_transposed(k[b, kvh, j * p : (j + 1) * p, :], p, d, k.dtype)
        v_tiles[j] = nl.load(v[b, kvh, j * p : (j + 1) * p, :])
    return k_t, v_tiles


def causal_keep(q0: int, k0: int, rows: int, cols: int) -> Any:
    """The affine predicate ``query position ≥ key position`` over a [rows, cols] score block."""
    i_q = nl.arange(rows)[:, None]
    i_k = nl.arange(cols)[None, :]
    return q0 + i_q - k0 - i_k >= 0


@jit
def flash_attention_fwd(
    q: Any, k: Any, v: Any, causal: bool = True, softmax_scale: float | None = None
) -> tuple[Any, Any]:
    """Return ``(softmax(q k^T · scale [+ causal mask]) v, lse)``; scale defaults to 1/√D."""
    b_size, hq, hkv, sq, _, d = check_attention("flash_attention_fwd", q, k, v, causal)
    scale = 1.0 / math.sqrt(d) if softmax_scale is None else float(softmax_scale)
    group = hq // hkv
    out = nl.ndarray((b_size, hq, sq, d), dtype=q.dtype, buffer=nl.shared_hbm)
    lse = nl.ndarray((b_size, hq, sq), dtype=nl.float32, buffer=nl.shared_hbm)
    lse_col = lse.reshape((b_size, hq, sq, 1))

    for b in nl.affine_range(b_size):
        for kvh in nl.affine_range(hkv):
            _kv_head_fwd(q, k, v, out, lse_col, b, kvh, group, causal, scale)

    return out, lse


def _kv_head_fwd(
    q: Any, k: Any, v: Any, out: Any, lse_col: Any, b: Any, kvh: Any, group: int, causal: bool, scale: float
) -> None:
    """Attention of the query heads of one (batch, KV head); a function so its tiles die on return."""
    p = nl.tile_size.pmax
    sq, sk, d = int(q.shape[2]), int(k.shape[2]), int(q.shape[3])
    k_t, v_tiles = load_kv(k, v, b, kvh, sk, d)
    for g in nl.affine_range(group):
        h = kvh * group + g
        # Trace-time loop: with a causal mask the number of key blocks depends on qi.
        for qi in nl.static_range(sq // p):
            q0 = qi * p
            q_t = load_transposed(q[b, h, q0 : q0 + p, :], p, d, q.dtype)
            run_max = nl.full((p, 1), MASK_SCORE, dtype=nl.float32, buffer=nl.sbuf)
            run_sum = nl.zeros((p, 1), dtype=nl.float32, buffer=nl.sbuf)
            acc = nl.zeros((p, d), dtype=nl.float32, buffer=nl.sbuf)
            key_end = q0 + p if causal else sk
            for k0, kw in chunks(key_end, KV_BLOCK):
                s_psum = nisa.nc_matmul(q_t, k_t[:, k0 : k0 + kw])
                scores = nisa.tensor_scalar(s_psum, np.multiply, scale, dtype=nl.float32)
                if causal and k0 + kw > q0:
                    scores = nisa.affine_select(
                        pred=causal_keep(q0, k0, p, kw),
                        on_true_tile=scores,
                        on_false_value=MASK_SCORE,
                        dtype=nl.float32,
                    )
                block_max = nisa.tensor_reduce(np.max, scores, axis=(1,), keepdims=True, dtype=nl.float32)
                new_max = nl.maximum(run_max, block_max, dtype=nl.float32)
                neg_max = nl.multiply(new_max, -1.0, dtype=nl.float32)
                block_sum = nl.ndarray((p, 1), dtype=nl.float32, buffer=nl.sbuf)
                probs = nisa.activation_reduce(
                    op=nl.exp,
                    data=scores,
                    bias=neg_max,
                    reduce_op=np.add,
                    reduce_res=block_sum,
                    dtype=q.dtype,
                )
                alpha = nisa.activation(op=nl.exp, data=run_max, bias=neg_max, dtype=nl.float32)
                run_sum[...] = nisa.scalar_tensor_tensor(
                    data=run_sum,
                    op0=np.multiply,
                    operand0=alpha,
                    op1=np.add,
                    operand1=block_sum,
                    dtype=nl.float32,
                )
                pv_psum = nl.zeros((p, d), dtype=nl.float32, buffer=nl.psum)
                for j in nl.affine_range(kw // p):
                    probs_t = nl.copy(nisa.nc_transpose(probs[:, j * p : (j + 1) * p]), dtype=q.dtype)
                    pv_psum += nisa.nc_matmul(probs_t, v_tiles[k0 // p + j])
                acc[...] = nisa.scalar_tensor_tensor(
                    data=acc,
                    op0=np.multiply,
                    operand0=alpha,
                    op1=np.add,
                    operand1=pv_psum,
                    dtype=nl.float32,
                )
                run_max[...] = new_max
            inv_sum = nisa.reciprocal(run_sum, dtype=nl.float32)
            o_tile = nisa.tensor_scalar(acc, np.multiply, inv_sum, dtype=q.dtype)
            nl.store(out[b, h, q0 : q0 + p, :], value=o_tile)
            log_sum = nisa.activation(op=nl.log, data=run_sum, dtype=nl.float32)
            nl.store(lse_col[b, h, q0 : q0 + p, :], value=nl.add(log_sum, run_max, dtype=nl.float32))
