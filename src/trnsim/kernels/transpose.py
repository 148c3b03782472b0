"""2-D transpose through TensorE.

Algorithm: rows are taken 128 at a time (one partition tile) with up to ``MAX_FREE`` columns per
load; every [≤128, ≤128] piece is transposed by ``nisa.nc_transpose`` (an identity matmul on
TensorE, SBUF→PSUM), copied back to SBUF in the output dtype and stored at the mirrored
position. Any shape works; ragged edges become smaller pieces.
"""

from __future__ import annotations

from typing import Any

from trnsim.kernels.loops import tile_spans
from trnsim.kernels.tiling import require_rank
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

#: Columns loaded per DMA: four 128-column pieces per load keeps the transfers wide.
MAX_FREE = 512


@jit
def transpose(x: Any) -> Any:
    """Return ``x.T`` for a [rows, cols] HBM tensor."""
    require_rank("transpose", "x", x.shape, 2)
    rows, cols = (int(d) for d in x.shape)
    out = nl.ndarray((cols, rows), dtype=x.dtype, buffer=nl.shared_hbm)
    p = nl.tile_size.pmax
    for r, pr in tile_spans(rows, p):
        for c, fc in tile_spans(cols, MAX_FREE):
            strip = nl.load(x[r : r + pr, c : c + fc])
            for cc, pc in tile_spans(fc, p):
                flipped = nisa.nc_transpose(strip[:, cc : cc + pc])
                piece = nl.copy(flipped, dtype=x.dtype)
                nl.store(out[c + cc : c + cc + pc, r : r + pr], value=piece)
    return out
