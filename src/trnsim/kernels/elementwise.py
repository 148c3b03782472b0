"""Element-wise tensor addition, on one NeuronCore and SPMD over two.

Algorithm: the [rows, cols] inputs are cut into tiles of up to 128 rows (partitions) by
``MAX_FREE`` columns; each tile pair is loaded HBM→SBUF, added on VectorE (fp32 arithmetic,
result cast to the input dtype) and stored back. The SPMD variant gives each program (one per
NeuronCore with ``nl.nc(2)``) a contiguous half of the rows. Any shape works: ragged edges are
handled by one tail tile per dimension.
"""

from __future__ import annotations

from typing import Any

from trnsim.kernels.loops import tile_spans
from trnsim.kernels.tiling import require, require_rank
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

#: Columns per tile: 128 partitions × 2048 elements keeps each DMA ≥ 2 KiB per partition for
#: 1-byte dtypes (the DMA guide's threshold for near-peak bandwidth) at modest SBUF use.
MAX_FREE = 2048


def _check(kernel: str, a: Any, b: Any) -> tuple[int, int]:
    require_rank(kernel, "a", a.shape, 2)
    require(
        tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype,
        kernel,
        f"inputs must have the same shape and dtype; got a {tuple(a.shape)} {a.dtype}, "
        f"b {tuple(b.shape)} {b.dtype}",
    )
    return int(a.shape[0]), int(a.shape[1])


def _add_rows(a: Any, b: Any, out: Any, row0: Any, rows: int, cols: int) -> None:
    """Add rows ``[row0, row0 + rows)`` of ``a`` and ``b`` into ``out``, column tile by column tile."""
    p = nl.tile_size.pmax
    for r, pr in tile_spans(rows, p):
        for c, fc in tile_spans(cols, MAX_FREE):
            a_tile = nl.load(a[row0 + r : row0 + r + pr, c : c + fc])
            b_tile = nl.load(b[row0 + r : row0 + r + pr, c : c + fc])
            c_tile = nl.add(a_tile, b_tile, dtype=out.dtype)
            nl.store(out[row0 + r : row0 + r + pr, c : c + fc], value=c_tile)


@jit
def tensor_add(a: Any, b: Any) -> Any:
    """Return ``a + b`` for two [rows, cols] HBM tensors of the same dtype (any sizes)."""
    rows, cols = _check("tensor_add", a, b)
    out = nl.ndarray((rows, cols), dtype=a.dtype, buffer=nl.shared_hbm)
    _add_rows(a, b, out, 0, rows, cols)
    return out


@jit
def tensor_add_spmd(a: Any, b: Any) -> Any:
    """Return ``a + b``, each SPMD program adding its share of the rows.

    Launch with a 1-D grid, e.g. ``grid=(nl.nc(2),)`` to run one program per NeuronCore.
    ``rows`` must be divisible by the number of programs.
    """
    rows, cols = _check("tensor_add_spmd", a, b)
    programs = nl.num_programs(0)
    require(
        rows % programs == 0,
        "tensor_add_spmd",
        f"rows ({rows}) must be divisible by the number of SPMD programs ({programs})",
    )
    share = rows // programs
    out = nl.ndarray((rows, cols), dtype=a.dtype, buffer=nl.shared_hbm)
    _add_rows(a, b, out, nl.program_id(0) * share, share, cols)
    return out
