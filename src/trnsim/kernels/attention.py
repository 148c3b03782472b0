"""Flash-attention forward: causal or not, grouped-query (several query heads per KV head).

Shapes: ``q`` [B, Hq, Sq, D], ``k`` and ``v`` [B, Hkv, Sk, D] with ``Hq % Hkv == 0``; returns
``out`` [B, Hq, Sq, D] (input dtype) and ``lse`` [B, Hq, Sq] (fp32 log-sum-exp of the scaled
scores, which the backward kernel needs).

Algorithm (FlashAttention-2 on a NeuronCore). For each (batch, KV head) the keys are transposed
once on TensorE into a resident ``K^T`` [D, Sk] and the values are kept as [128, D] tiles; both
serve every query head of the group. Query tiles are processed ``Q_TILES_IN_FLIGHT`` at a time,
each stage issued for all of them before the next, and key blocks software-pipelined (the scores,
max and exp of block n+1 are issued between the transposes and ``P V`` of block n), so the
in-order engine queues always have independent work. Per query tile and key block of up to
``KV_BLOCK`` keys (one PSUM bank):

* ``S = Q K^T`` on TensorE (``Q^T`` stationary); blocks past the diagonal are skipped (causal)
  and the diagonal 128×128 tile is masked by accumulating ``I^T·M`` (``M`` = 0 / ``MASK_SCORE``)
  into the same PSUM bank on TensorE, so the scores never leave PSUM unmasked;
* VectorE takes the row max straight from PSUM and forms ``−scale·m_new`` in one instruction;
  ScalarE computes ``P = exp(scale·S − scale·m_new)`` with its row sum (``activation_reduce``,
  the softmax scale folded in) and ``α = exp(scale·(m_old − m_new))``;
* ``P`` is transposed per 128 keys on TensorE into one PSUM tile, copied out by one ScalarE
  instruction, and ``P V`` accumulates in PSUM over the block;
* ``O ← α·O + P V`` on VectorE, ``l ← α·l + rowsum(P)`` on GpSimdE (the first block initialises
  both); at the end ``O / l`` is stored, and ``lse = m + log(l)``.

Limits: Sq and Sk multiples of 128, D ≤ 128; causal attention requires Sq == Sk; softmax_scale
must be positive (the max is taken on the unscaled scores). Masked scores are ``S + MASK_SCORE``
(not replaced), which gives exactly 0 after the exp unless ``|S|`` reaches about 3·10⁴. SBUF
holds ``K^T`` and ``V`` of one KV head (about ``4·Sk·D/128`` bytes per partition in bf16), so Sk
up to about 16k at D = 128 fits on trn1.
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
#: Query tiles processed stage by stage together, so their independent work overlaps on the
#: engines (each holds a score bank, a P^T bank and an output accumulator in PSUM).
Q_TILES_IN_FLIGHT = 4


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
    require(scale > 0, "flash_attention_fwd", f"softmax_scale is {scale}; it must be positive")
    group = hq // hkv
    out = nl.ndarray((b_size, hq, sq, d), dtype=q.dtype, buffer=nl.shared_hbm)
    lse = nl.ndarray((b_size, hq, sq), dtype=nl.float32, buffer=nl.shared_hbm)
    lse_col = lse.reshape((b_size, hq, sq, 1))

    for b in nl.affine_range(b_size):
        for kvh in nl.affine_range(hkv):
            _kv_head_fwd(q, k, v, out, lse_col, b, kvh, group, causal, scale)

    return out, lse


def diagonal_mask_tiles(dtype: Any) -> tuple[Any, Any]:
    """Return ``(identity, mask)`` [128, 128] tiles: ``identity.T @ mask`` adds ``mask`` in PSUM.

    ``mask`` is 0 where query ≥ key and ``MASK_SCORE`` above the diagonal; accumulating it onto the
    diagonal 128×128 score tile on TensorE masks the scores in PSUM, so no engine has to copy
    them to SBUF first (GpSimdE, which owns ``affine_select``, cannot read PSUM).
    """
    p = nl.tile_size.pmax
    # Built on GpSimdE: keep i ≥ j, then keep j ≥ i (two predicates of one affine_select each).
    i_row = nl.arange(p)[:, None]
    i_col = nl.arange(p)[None, :]
    lower = nisa.affine_select(
        pred=i_row - i_col >= 0, on_true_tile=nl.ones((p, p), dtype=dtype), on_false_value=0.0, dtype=dtype
    )
    ident = nisa.affine_select(pred=i_col - i_row >= 0, on_true_tile=lower, on_false_value=0.0, dtype=dtype)
    zeros = nl.zeros((p, p), dtype=dtype, buffer=nl.sbuf)
    mask = nisa.affine_select(
        pred=causal_keep(0, 0, p, p), on_true_tile=zeros, on_false_value=MASK_SCORE, dtype=dtype
    )
    return ident, mask


class _QueryTile:
    """Running state of one 128-row query tile: ``Q^T``, ``−scale·max``, row sum and output."""

    def __init__(self, q: Any, b: Any, h: Any, q0: int, key_end: int) -> None:
        p = nl.tile_size.pmax
        d = int(q.shape[3])
        self.h, self.q0 = h, q0
        self.blocks = list(chunks(key_end, KV_BLOCK))
        self.q_t = load_transposed(q[b, h, q0 : q0 + p, :], p, d, q.dtype)
        # Per-block tiles; the first block initialises the running statistics (no memsets).
        self.neg_max: Any = None
        self.run_sum: Any = None
        self.acc: Any = None
        # Tiles of the blocks in flight, by block index (two blocks overlap in the pipeline).
        self.scores: dict[int, Any] = {}
        self.neg_new: dict[int, Any] = {}
        self.block_sum: dict[int, Any] = {}
        self.probs: dict[int, Any] = {}
        self.alpha: dict[int, Any] = {}
        self.pt_psum: dict[int, Any] = {}
        self.probs_t: dict[int, Any] = {}
        self.pv: dict[int, Any] = {}


def _kv_head_fwd(
    q: Any, k: Any, v: Any, out: Any, lse_col: Any, b: Any, kvh: Any, group: int, causal: bool, scale: float
) -> None:
    """Attention of the query heads of one (batch, KV head); a function so its tiles die on return."""
    p = nl.tile_size.pmax
    sq, sk, d = int(q.shape[2]), int(k.shape[2]), int(q.shape[3])
    k_t, v_tiles = load_kv(k, v, b, kvh, sk, d)
    ident, mask = diagonal_mask_tiles(q.dtype) if causal else (None, None)
    for g in nl.affine_range(group):
        h = kvh * group + g
        # Trace-time loop: with a causal mask the number of key blocks depends on the query tile.
        for first in nl.static_range(0, sq // p, Q_TILES_IN_FLIGHT):
            tiles = [
                _QueryTile(q, b, h, qi * p, qi * p + p if causal else sk)
                for qi in range(first, min(first + Q_TILES_IN_FLIGHT, sq // p))
            ]
            _query_tiles_fwd(tiles, k_t, v_tiles, ident, mask, causal, scale, q.dtype)
            for t in tiles:
                _finish_tile(t, out, lse_col, b, scale, q.dtype)


def _query_tiles_fwd(
    tiles: list[_QueryTile],
    k_t: Any,
    v_tiles: Any,
    ident: Any,
    mask: Any,
    causal: bool,
    scale: float,
    dt: Any,
) -> None:
    """Online softmax over the key blocks of several query tiles, stage by stage.

    The tiles are independent, so issuing each stage for all of them before the next keeps the
    in-order engine queues busy on one tile while another tile's operands are in flight: no
    engine meets an instruction waiting on another engine while it still has ready work.
    """
    steps = max(len(t.blocks) for t in tiles)
    # Software pipeline: the scores, row max and exp of block n+1 are issued between the
    # transposes, copies and P V of block n, so TensorE and VectorE have the next block's work
    # queued while ScalarE and the copies finish the current one.
    for t in tiles:
        _scores(t, 0, k_t, ident, mask, causal)
    for t in tiles:
        _row_max(t, 0, scale)
    for t in tiles:
        _exp(t, 0, scale, dt)
    for step in range(steps):
        live = [t for t in tiles if step < len(t.blocks)]
        ahead = [t for t in tiles if step + 1 < len(t.blocks)]
        for t in ahead:
            _scores(t, step + 1, k_t, ident, mask, causal)
        for t in live:
            _transpose_probs(t, step, dt)
        for t in ahead:
            _row_max(t, step + 1, scale)
        for t in live:
            _copy_probs_t(t, step, dt)
        for t in ahead:
            _exp(t, step + 1, scale, dt)
        for t in live:
            _pv(t, step, v_tiles)
        for t in live:
            _update(t, step)


def _scores(t: _QueryTile, step: int, k_t: Any, ident: Any, mask: Any, causal: bool) -> None:
    """S = Q K^T of one key block in one PSUM bank; the causal mask is accumulated on TensorE."""
    p = nl.tile_size.pmax
    k0, kw = t.blocks[step]
    scores = nisa.nc_matmul(t.q_t, k_t[:, k0 : k0 + kw])
    if causal and k0 + kw > t.q0:
        scores[:, kw - p : kw] += nisa.nc_matmul(ident, mask)
    t.scores[step] = scores


def _row_max(t: _QueryTile, step: int, scale: float) -> None:
    """``−scale·m_new = min(−scale·m_old, −scale·rowmax(S))`` on VectorE, read from PSUM."""
    block_max = nisa.tensor_reduce(np.max, t.scores[step], axis=(1,), keepdims=True, dtype=nl.float32)
    if step == 0:
        t.neg_new[step] = nisa.tensor_scalar(block_max, np.multiply, -scale, dtype=nl.float32)
    else:
        t.neg_new[step] = nisa.tensor_scalar(
            block_max, np.multiply, -scale, op1=np.minimum, operand1=t.neg_max, dtype=nl.float32
        )


def _exp(t: _QueryTile, step: int, scale: float, dt: Any) -> None:
    """``P = exp(scale·S − scale·m_new)`` with its row sum, and the correction α, on ScalarE."""
    p = nl.tile_size.pmax
    neg_new = t.neg_new.pop(step)
    block_sum = nl.ndarray((p, 1), dtype=nl.float32, buffer=nl.sbuf)
    t.probs[step] = nisa.activation_reduce(
        op=nl.exp, data=t.scores.pop(step), scale=scale, bias=neg_new, reduce_op=np.add,
        reduce_res=block_sum, dtype=dt,
    )
    t.block_sum[step] = block_sum
    if step > 0:
        # α = exp(scale·m_old − scale·m_new) rescales the running sum and output.
        t.alpha[step] = nisa.activation(op=nl.exp, data=t.neg_max, scale=-1.0, bias=neg_new, dtype=nl.float32)
    t.neg_max = neg_new


def _transpose_probs(t: _QueryTile, step: int, dt: Any) -> None:
    """P^T per 128 keys on TensorE into one PSUM tile."""
    p = nl.tile_size.pmax
    _, kw = t.blocks[step]
    probs = t.probs.pop(step)
    pt_psum = nl.ndarray((p, kw), dtype=dt, buffer=nl.psum)
    for j in nl.static_range(kw // p):
        pt_psum[:, j * p : (j + 1) * p] = nisa.nc_transpose(probs[:, j * p : (j + 1) * p])
    t.pt_psum[step] = pt_psum


def _copy_probs_t(t: _QueryTile, step: int, dt: Any) -> None:
    """Evacuate P^T to SBUF in one ScalarE instruction.

    ScalarE rather than VectorE: VectorE already carries the row max and the output update, and
    the chip model put the copies' best split at all on ScalarE (trn1 and trn2, seq 2048).
    """
    t.probs_t[step] = nisa.activation(op=nl.identity, data=t.pt_psum.pop(step), dtype=dt)


def _pv(t: _QueryTile, step: int, v_tiles: Any) -> None:
    """P V of one key block, accumulated in one PSUM bank (the first matmul writes, no memset)."""
    p = nl.tile_size.pmax
    k0, kw = t.blocks[step]
    probs_t = t.probs_t.pop(step)
    pv = nisa.nc_matmul(probs_t[:, 0:p], v_tiles[k0 // p])
    for j in nl.static_range(1, kw // p):
        pv += nisa.nc_matmul(probs_t[:, j * p : (j + 1) * p], v_tiles[k0 // p + j])
    t.pv[step] = pv


def _update(t: _QueryTile, step: int) -> None:
    """``O ← α·O + P V`` and ``l ← α·l + rowsum(P)`` on VectorE (plain copies at the first block)."""
    pv = t.pv.pop(step)
    block_sum = t.block_sum.pop(step)
    if step == 0:
        t.acc = nisa.tensor_copy(pv, dtype=nl.float32)
        t.run_sum = block_sum
        return
    alpha = t.alpha.pop(step)
    t.acc = nisa.scalar_tensor_tensor(
        data=t.acc, op0=np.multiply, operand0=alpha, op1=np.add, operand1=pv, dtype=nl.float32
    )
    # A [P, 1] update: on the otherwise idle GpSimdE, off VectorE's queue.
    t.run_sum = nisa.tensor_scalar(
        t.run_sum,
        np.multiply,
        alpha,
        op1=np.add,
        operand1=block_sum,
        dtype=nl.float32,
        engine=nisa.gpsimd_engine,
    )


def _finish_tile(t: _QueryTile, out: Any, lse_col: Any, b: Any, scale: float, dt: Any) -> None:
    """Store ``O / l`` and ``lse = m + log l`` of one query tile."""
    p = nl.tile_size.pmax
    inv_sum = nisa.reciprocal(t.run_sum, dtype=nl.float32)
    o_tile = nisa.tensor_scalar(t.acc, np.multiply, inv_sum, dtype=dt)
    nl.store(out[b, t.h, t.q0 : t.q0 + p, :], value=o_tile)
    log_sum = nisa.activation(op=nl.log, data=t.run_sum, dtype=nl.float32)
    # The statistics are of the scaled scores: lse = −(−scale·m) + log l.
    lse_tile = nisa.scalar_tensor_tensor(
        data=t.neg_max, op0=np.multiply, operand0=-1.0, op1=np.add, operand1=log_sum, dtype=nl.float32
    )
    nl.store(lse_col[b, t.h, t.q0 : t.q0 + p, :], value=lse_tile)
