"""Decode-shaped kernels: a skinny matmul that streams its weights, and attention over a KV cache.

In autoregressive decoding every step multiplies a few rows (one per request in flight) by every
weight matrix, and attends one query per request against the whole cached context. Both are
bound by how fast HBM bytes reach the engines, not by TensorE, so the kernels are written to
stream:

* :func:`decode_matmul` — ``result [M, N] = xT.T @ w`` with ``M ≤ 128`` rows. The activations
  ``xT`` [K, M] are loaded once and sit in TensorE's stationary slot (M columns); the weights
  ``w`` [K, N] are the moving operand, streamed in blocks of ``W_BLOCK_BYTES`` per partition
  (several K tiles × up to ``W_BLOCK_MAX_COLUMNS`` columns, one DMA each, contraction rows dealt
  to partitions partition-major so each partition reads one contiguous run), and accumulate in
  one PSUM bank per 512 columns. Each weight byte is read exactly once.
* :func:`decode_attention` — flash-decoding for one query token per (batch, query head):
  ``q`` [B, Hq, D], the key cache stored transposed ``kT`` [B, Hkv, D, S] (so a key block loads
  straight into the moving slot, as serving stacks lay it out) and ``v`` [B, Hkv, S, D]. The
  ``g = Hq / Hkv`` query heads of one KV head form the stationary ``Q^T`` [D, g]; key blocks of
  ``KV_BLOCK`` positions stream from HBM; the online softmax (running max, sum, rescaled
  output) runs on VectorE/ScalarE as in :mod:`trnsim.kernels.attention`; ``P^T`` per 128 keys
  comes from a TensorE transpose and ``P V`` accumulates in PSUM.

Limits: ``decode_matmul`` needs K a multiple of 128 and 1 ≤ M ≤ 128 (any N);
``decode_attention`` needs S a multiple of 128, D ≤ 128 and at most 128 query heads per KV head.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trnsim.kernels.attention import load_transposed
from trnsim.kernels.matmul import result_dtype
from trnsim.kernels.tiling import chunks, require, require_multiple, require_rank
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

__all__ = ["KV_BLOCK", "KV_SUPER_BLOCK", "PAIRS_IN_FLIGHT", "W_BLOCK_BYTES", "W_BLOCK_MAX_COLUMNS",
           "decode_attention", "decode_matmul"]

#: Bytes per partition of one weight DMA: 8 MiB over the 128 partitions, split over a core's 16
#: DMA queues in 512 KiB parts, so the ~1.3 us fixed cost of each part is about 5 % of its time
#: (at 32 KiB parts it would be 40 %). Double-buffered, 128 KiB of a partition's 192 KiB of SBUF.
W_BLOCK_BYTES = 64 * 1024
#: Widest weight block: 2048 columns are 4 KiB of contiguous row per partition in BF16, the size
#: the DMA guide names for full descriptor efficiency ([DMA]: >= 2 KiB, ideally >= 4 KiB), and
#: 4 of PSUM's 8 banks of accumulators (the other 4 take the next block's).
W_BLOCK_MAX_COLUMNS = 2048
#: Key positions per score block: one PSUM bank of fp32 (the moving-tile limit of nc_matmul).
KV_BLOCK = 512
#: Cached positions per K/V load: [D, 2048] of K^T and 2048 x D of V, 512 KiB each in BF16 at
#: D = 128: 4 KiB contiguous per partition (V dealt partition-major), and 4 score blocks.
KV_SUPER_BLOCK = 2048
#: (request, KV head) pairs processed stage by stage together, so that their independent work
#: interleaves in the engines' in-order queues (each holds a super block of K/V in SBUF).
PAIRS_IN_FLIGHT = 4


@jit
def decode_matmul(xT: Any, w: Any) -> Any:
    """``xT.T @ w`` for a skinny ``xT`` [K, M ≤ 128]; the weights ``w`` [K, N] stream once."""
    kernel = "decode_matmul"
    require_rank(kernel, "xT", xT.shape, 2)
    require_rank(kernel, "w", w.shape, 2)
    k_size, m_size = (int(d) for d in xT.shape)
    k2, n_size = (int(d) for d in w.shape)
    require(k_size == k2, kernel, f"contraction sizes differ: xT is [K={k_size}, M] but w is [K={k2}, N]")
    require(xT.dtype == w.dtype, kernel, f"xT and w must share a dtype; got {xT.dtype} and {w.dtype}")
    pmax = nl.tile_size.pmax
    require_multiple(kernel, "K (rows of xT and w)", k_size, pmax)
    require(0 < m_size <= nl.tile_size.gemm_stationary_fmax, kernel,
            f"M (rows in flight) is {m_size}; it must be 1..{nl.tile_size.gemm_stationary_fmax}")
    require(n_size > 0, kernel, f"N (columns of w) is {n_size}; it must be positive")
    # Moving tiles of the widest a PSUM bank takes, the last one ragged: each partition row of a
    # weight DMA is then 1 KiB contiguous (bf16), not the 256 B a divisor of N could force.
    n_max = nl.tile_size.gemm_moving_fmax
    k_tiles = k_size // pmax
    out_dtype = result_dtype(xT.dtype)
    item = np.dtype(w.dtype).itemsize
    result = nl.ndarray((m_size, n_size), dtype=out_dtype, buffer=nl.shared_hbm)
    # Contraction rows are dealt to partitions partition-major: partition p holds rows
    # p·KT .. p·KT + KT − 1, so one partition's share of a weight block is one contiguous run of
    # HBM (kw rows × bw columns when the block spans all N) instead of kw runs of a row slice.
    i_p = nl.arange(pmax)[:, None, None]
    i_m = nl.arange(m_size)[None, None, :]
    i_x = nl.arange(k_tiles)[None, :, None]
    x_all = nl.ndarray((nl.par_dim(pmax), k_tiles, m_size), dtype=xT.dtype, buffer=nl.sbuf)
    x_all[i_p, i_x, i_m] = nl.load(xT[i_p * k_tiles + i_x, i_m])  # resident stationary operands
    block_n = min(n_size, W_BLOCK_MAX_COLUMNS)
    group = max(1, min(k_tiles, W_BLOCK_BYTES // (block_n * item)))
    # Every weight DMA in streaming order; each is issued one step ahead of the matmuls that use
    # it (software pipelining), so the next block's load is never queued behind this block's
    # PSUM evacuation and store.
    blocks = [(b0, bw, k0, kw) for b0, bw in chunks(n_size, block_n) for k0, kw in chunks(k_tiles, group)]
    pending = _load_weights(w, *blocks[0], k_tiles)
    sums: list[Any] = []
    for i, (b0, bw, k0, kw) in enumerate(blocks):
        w_tiles = pending
        if i + 1 < len(blocks):
            pending = _load_weights(w, *blocks[i + 1], k_tiles)
        tiles = list(chunks(bw, n_max))
        if k0 == 0:
            sums = [nl.zeros((m_size, tw), dtype=nl.float32, buffer=nl.psum) for _, tw in tiles]
        for t, (t0, tw) in enumerate(tiles):
            for j in nl.static_range(kw):
                sums[t] += nisa.nc_matmul(x_all[:, k0 + j, :], w_tiles[:, j, t0 : t0 + tw])
        if k0 + kw == k_tiles:
            for t, (t0, tw) in enumerate(tiles):
                res_sb = nl.copy(sums[t], dtype=out_dtype)
                nl.store(result[:, b0 + t0 : b0 + t0 + tw], value=res_sb)
    return result


def _load_weights(w: Any, b0: int, bw: int, k0: int, kw: int, k_tiles: int) -> Any:
    """One DMA of ``kw`` K tiles × ``bw`` columns; partition p takes rows p·KT + k0 .. + kw − 1."""
    pmax = nl.tile_size.pmax
    tiles = nl.ndarray((nl.par_dim(pmax), kw, bw), dtype=w.dtype, buffer=nl.sbuf)
    i_p = nl.arange(pmax)[:, None, None]
    i_k = nl.arange(kw)[None, :, None]
    i_n = nl.arange(bw)[None, None, :]
    tiles[i_p, i_k, i_n] = nl.load(w[i_p * k_tiles + k0 + i_k, b0 + i_n])
    return tiles


def _check_decode_attention(q: Any, k_t: Any, v: Any) -> tuple[int, int, int, int, int]:
    kernel = "decode_attention"
    require_rank(kernel, "q", q.shape, 3)
    require_rank(kernel, "kT", k_t.shape, 4)
    require_rank(kernel, "v", v.shape, 4)
    b, hq, d = (int(x) for x in q.shape)
    b2, hkv, d2, s = (int(x) for x in k_t.shape)
    require(tuple(v.shape) == (b2, hkv, s, d2), kernel,
            f"v {tuple(v.shape)} must be [B, Hkv, S, D] = {(b2, hkv, s, d2)} to match kT [B, Hkv, D, S]")
    require(b == b2 and d == d2, kernel, f"q {tuple(q.shape)} and kT {tuple(k_t.shape)} disagree on B or D")
    require(hkv > 0 and hq % hkv == 0, kernel, f"query heads ({hq}) must be a multiple of KV heads ({hkv})")
    require(q.dtype == k_t.dtype == v.dtype, kernel,
            f"q, kT, v must share a dtype; got {q.dtype}, {k_t.dtype}, {v.dtype}")
    pmax = nl.tile_size.pmax
    require_multiple(kernel, "S (cached positions)", s, pmax)
    require(0 < d <= pmax, kernel, f"head_dim is {d}; it must be between 1 and {pmax}")
    require(hq // hkv <= pmax, kernel, f"{hq // hkv} query heads per KV head; at most {pmax}")
    return b, hq, hkv, s, d


@jit
def decode_attention(q: Any, k_t: Any, v: Any, softmax_scale: float | None = None) -> Any:
    """``softmax(q k^T · scale) v`` for one query per (batch, head) over ``S`` cached positions."""
    b_size, hq, hkv, _, d = _check_decode_attention(q, k_t, v)
    scale = 1.0 / math.sqrt(d) if softmax_scale is None else float(softmax_scale)
    require(scale > 0, "decode_attention", f"softmax_scale is {scale}; it must be positive")
    out = nl.ndarray((b_size, hq, d), dtype=q.dtype, buffer=nl.shared_hbm)
    pairs = [(b, kvh) for b in range(b_size) for kvh in range(hkv)]
    for p0, pw in chunks(len(pairs), PAIRS_IN_FLIGHT):
        _kv_heads(q, k_t, v, out, pairs[p0 : p0 + pw], hq // hkv, scale)
    return out


def _load_kv_block(k_t: Any, v: Any, b: Any, kvh: Any, s0: int, sw: int) -> tuple[Any, Any]:
    """One super block of ``sw`` cached positions: ``K^T`` [D, sw] and ``V`` as [128, sw/128, D].

    ``V`` is dealt partition-major (partition p holds positions s0 + p·n .. s0 + p·n + n − 1), so
    each partition reads one contiguous run of n·D values instead of n runs of D.
    """
    pmax = nl.tile_size.pmax
    d = int(k_t.shape[2])
    n = sw // pmax
    k_block = nl.load(k_t[b, kvh, :, s0 : s0 + sw])
    v_block = nl.ndarray((nl.par_dim(pmax), n, d), dtype=v.dtype, buffer=nl.sbuf)
    i_p = nl.arange(pmax)[:, None, None]
    i_j = nl.arange(n)[None, :, None]
    i_d = nl.arange(d)[None, None, :]
    v_block[i_p, i_j, i_d] = nl.load(v[b, kvh, s0 + i_p * n + i_j, i_d])
    return k_block, v_block


def _scores_and_exp(q_t: Any, k_t: Any, v: Any, b: Any, kvh: Any, s0: int, sw: int, group: int,
                    scale: float) -> dict[str, Any]:
    """Stage 1 of one super block: load K/V, ``S = Q K^T``, its row max and ``P = exp(scale·(S − m))``."""
    k_block, v_block = _load_kv_block(k_t, v, b, kvh, s0, sw)
    parts = list(chunks(sw, KV_BLOCK))
    scores = [nisa.nc_matmul(q_t, k_block[:, c0 : c0 + cw]) for c0, cw in parts]  # [g, cw] in PSUM
    block_max = None
    for sc in scores:
        m = nisa.tensor_reduce(np.max, sc, axis=(1,), keepdims=True, dtype=nl.float32)
        block_max = m if block_max is None else nisa.tensor_tensor(block_max, m, np.maximum, dtype=nl.float32)
    neg_max = nisa.tensor_scalar(block_max, np.multiply, -scale, dtype=nl.float32)
    probs = nl.ndarray((group, sw), dtype=q_t.dtype, buffer=nl.sbuf)
    block_sum = None
    for (c0, cw), sc in zip(parts, scores, strict=True):
        part_sum = nl.ndarray((group, 1), dtype=nl.float32, buffer=nl.sbuf)
        probs[:, c0 : c0 + cw] = nisa.activation_reduce(op=nl.exp, data=sc, scale=scale, bias=neg_max,
                                                        reduce_op=np.add, reduce_res=part_sum,
                                                        dtype=q_t.dtype)
        block_sum = part_sum if block_sum is None else nisa.tensor_tensor(block_sum, part_sum, np.add,
                                                                          dtype=nl.float32)
    return {"v": v_block, "probs": probs, "neg_max": neg_max, "sum": block_sum, "n": sw // nl.tile_size.pmax}


def _pv(stage: dict[str, Any]) -> Any:
    """Stage 2 of one super block: ``P V`` accumulated in one PSUM bank ([g, D]).

    ``P^T`` tiles are transposed on TensorE into shared PSUM tiles (up to 512 columns each) and
    evacuated by one ScalarE copy per PSUM tile, not one copy per 128 positions: the copies are
    dependent small instructions, and each costs its fixed issue overhead.
    """
    n, probs, v_block = stage["n"], stage["probs"], stage["v"]
    group = int(probs.shape[0])
    pmax = nl.tile_size.pmax
    per = max(1, nl.tile_size.gemm_moving_fmax // group)
    pv = None
    for j0, jw in chunks(n, per):
        pt_psum = nl.ndarray((pmax, jw * group), dtype=probs.dtype, buffer=nl.psum)
        for j in nl.static_range(jw):
            # V tile j holds positions s0 + p·n + j: the matching probabilities are every n-th column.
            pt_psum[:, j * group : (j + 1) * group] = nisa.nc_transpose(probs[:, j0 + j :: n])
        p_t = nisa.activation(op=nl.identity, data=pt_psum, dtype=probs.dtype)  # [128, jw·g]
        for j in nl.static_range(jw):
            part = nisa.nc_matmul(p_t[:, j * group : (j + 1) * group], v_block[:, j0 + j, :])
            if pv is None:
                pv = part
            else:
                pv += part
    return nisa.tensor_copy(pv, dtype=nl.float32)


def _kv_heads(q: Any, k_t: Any, v: Any, out: Any, pairs: list[tuple[int, int]], group: int,
              scale: float) -> None:
    """Flash-decoding of several (request, KV head) pairs at once, stage by stage.

    Each super block of positions gets its own max, sum and output (no running state, so blocks
    overlap on the engines); stage 1 of block i+1 is issued before stage 2 of block i, and each
    stage is issued for all the pairs before the next (the engines' queues are in order: pairs
    interleaved give each engine independent work while another pair's operands are in flight).
    The partial results are combined at the end: with m = max m_i,
    ``O = Σ exp(m_i − m) O_i / Σ exp(m_i − m) l_i``.
    """
    s_size, d = int(k_t.shape[3]), int(q.shape[2])
    dt = q.dtype
    q_ts = [load_transposed(q[b, kvh * group : (kvh + 1) * group, :], group, d, dt) for b, kvh in pairs]
    supers = list(chunks(s_size, KV_SUPER_BLOCK))
    partial: list[list[tuple[Any, Any, Any]]] = [[] for _ in pairs]
    stages = [_scores_and_exp(q_t, k_t, v, b, kvh, *supers[0], group, scale)
              for q_t, (b, kvh) in zip(q_ts, pairs, strict=True)]
    for i in range(len(supers)):
        ahead = [_scores_and_exp(q_t, k_t, v, b, kvh, *supers[i + 1], group, scale)
                 for q_t, (b, kvh) in zip(q_ts, pairs, strict=True)] if i + 1 < len(supers) else []
        for n, stage in enumerate(stages):
            partial[n].append((stage["neg_max"], stage["sum"], _pv(stage)))
        stages = ahead
    for (b, kvh), parts in zip(pairs, partial, strict=True):
        _combine(out, b, kvh * group, group, parts, dt)


def _combine(out: Any, b: int, h0: int, group: int, partial: list[tuple[Any, Any, Any]], dt: Any) -> None:
    """Merge the super blocks' (−scale·max, sum, output) of one pair and store ``O / l``."""
    neg_all = partial[0][0]
    for neg, _, _ in partial[1:]:
        neg_all = nisa.tensor_tensor(neg_all, neg, np.minimum, dtype=nl.float32)
    acc: Any = None
    run_sum: Any = None
    for neg, block_sum, pv in partial:
        # exp(scale·m_i − scale·m) from the stored −scale·m_i and −scale·m.
        alpha = nisa.activation(op=nl.exp, data=neg, scale=-1.0, bias=neg_all, dtype=nl.float32)
        if acc is None:
            acc = nisa.tensor_scalar(pv, np.multiply, alpha, dtype=nl.float32)
            run_sum = nisa.tensor_tensor(block_sum, alpha, np.multiply, dtype=nl.float32)
        else:
            acc = nisa.scalar_tensor_tensor(data=pv, op0=np.multiply, operand0=alpha, op1=np.add,
                                            operand1=acc, dtype=nl.float32)
            run_sum = nisa.scalar_tensor_tensor(data=block_sum, op0=np.multiply, operand0=alpha, op1=np.add,
                                                operand1=run_sum, dtype=nl.float32)
    inv_sum = nisa.reciprocal(run_sum, dtype=nl.float32)
    nl.store(out[b, h0 : h0 + group, :], value=nisa.tensor_scalar(acc, np.multiply, inv_sum, dtype=dt))
