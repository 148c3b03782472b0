"""Row softmax over the last axis, in one pass or two.

Algorithm, per tile of up to 128 rows (rows on partitions):

* Rows of at most ``MAX_FREE`` columns fit one SBUF tile: VectorE finds the row maximum,
  ScalarE computes ``exp(x - max)`` and its row sum in one ``activation_reduce``, VectorE takes
  the reciprocal and scales the tile.
* Longer rows (vocabulary-sized) are processed in column chunks with the online-softmax update:
  pass 1 keeps a running maximum ``m`` and running sum ``s`` (``s ← s·exp(m_old − m) + Σ exp(x − m)``),
  pass 2 reloads each chunk and writes ``exp(x − m) / s``.

Statistics are fp32; the output has the input dtype. Any shape works.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trnsim.kernels.loops import tile_spans
from trnsim.kernels.tiling import require_rank
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

#: Columns per SBUF tile: an fp32 [128, 4096] tile is 16 KiB per partition; a few of them leave
#: most of SBUF free for the DMA double buffers.
MAX_FREE = 4096


def update_stats(run_max: Any, run_sum: Any, tile: Any, pr: int) -> None:
    """Fold one [pr, cols] chunk into the running row max and exp-sum (both [pr, 1] fp32, in place).

    ``s ← s·exp(m_old − m_new) + Σ exp(x − m_new)``; shared with the cross-entropy kernel.
    """
    chunk_max = nisa.tensor_reduce(np.max, tile, axis=(1,), keepdims=True, dtype=nl.float32)
    new_max = nl.maximum(run_max, chunk_max, dtype=nl.float32)
    neg_max = nl.multiply(new_max, -1.0, dtype=nl.float32)
    chunk_sum = nl.ndarray((pr, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.activation_reduce(
        op=nl.exp, data=tile, bias=neg_max, reduce_op=np.add, reduce_res=chunk_sum, dtype=nl.float32
    )
    correction = nisa.activation(op=nl.exp, data=run_max, bias=neg_max, dtype=nl.float32)
    run_sum[...] = nisa.scalar_tensor_tensor(
        data=run_sum,
        op0=np.multiply,
        operand0=correction,
        op1=np.add,
        operand1=chunk_sum,
        dtype=nl.float32,
    )
    run_max[...] = new_max


def row_stats(x: Any, r: Any, pr: int, cols: int, chunk: int) -> tuple[Any, Any]:
    """Online max and exp-sum of rows ``[r, r + pr)`` of ``x``: returns ``(max, sum)`` as [pr, 1] fp32."""
    run_max = nl.full((pr, 1), -np.inf, dtype=nl.float32, buffer=nl.sbuf)
    run_sum = nl.zeros((pr, 1), dtype=nl.float32, buffer=nl.sbuf)
    for c, fc in tile_spans(cols, chunk, sequential=True):
        update_stats(run_max, run_sum, nl.load(x[r : r + pr, c : c + fc]), pr)
    return run_max, run_sum


@jit
def softmax(x: Any) -> Any:
    """Return ``softmax(x, axis=-1)`` for a [rows, cols] HBM tensor."""
    require_rank("softmax", "x", x.shape, 2)
    rows, cols = (int(d) for d in x.shape)
    out = nl.ndarray((rows, cols), dtype=x.dtype, buffer=nl.shared_hbm)
    for r, pr in tile_spans(rows, nl.tile_size.pmax):
        if cols <= MAX_FREE:
            tile = nl.load(x[r : r + pr, :])
            neg_max = nisa.tensor_reduce(
                np.max, tile, axis=(1,), negate=True, keepdims=True, dtype=nl.float32
            )
            total = nl.ndarray((pr, 1), dtype=nl.float32, buffer=nl.sbuf)
            exps = nisa.activation_reduce(
                op=nl.exp, data=tile, bias=neg_max, reduce_op=np.add, reduce_res=total, dtype=nl.float32
            )
            inv = nisa.reciprocal(total, dtype=nl.float32)
            probs = nisa.tensor_scalar(exps, np.multiply, inv, dtype=x.dtype)
            nl.store(out[r : r + pr, :], value=probs)
            continue
        run_max, run_sum = row_stats(x, r, pr, cols, MAX_FREE)
        neg_max = nl.multiply(run_max, -1.0, dtype=nl.float32)
        inv = nisa.reciprocal(run_sum, dtype=nl.float32)
        for c, fc in tile_spans(cols, MAX_FREE):
            tile = nl.load(x[r : r + pr, c : c + fc])
            exps = nisa.activation(op=nl.exp, data=tile, bias=neg_max, dtype=nl.float32)
            probs = nisa.tensor_scalar(exps, np.multiply, inv, dtype=x.dtype)
            nl.store(out[r : r + pr, c : c + fc], value=probs)
    return out
