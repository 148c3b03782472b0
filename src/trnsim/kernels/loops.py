"""Loop helpers that cover an extent with full tiles plus one static tail tile.

A shape that is not a multiple of the tile size is handled the way NKI kernels for the real SDK
handle it without masks: an ``nl.affine_range`` loop over the full tiles, then one more tile at a
trace-time constant offset for the remainder. Callers write the loop body once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trnsim.nki.legacy import language as nl


def tile_spans(extent: int, tile: int, sequential: bool = False) -> Iterator[tuple[Any, int]]:
    """Yield ``(offset, size)`` for each tile of ``[0, extent)``: full tiles first, then the tail.

    The offsets of full tiles are affine in an ``nl.affine_range`` index (iterations are
    independent); the tail, if any, has a constant offset and ``size < tile``. Pass
    ``sequential=True`` when the body carries state from one tile to the next (a running
    reduction): the loop is then an ``nl.sequential_range``.
    """
    full, tail = divmod(extent, tile)
    loop = nl.sequential_range if sequential else nl.affine_range
    for i in loop(full):
        yield i * tile, tile
    if tail:
        yield full * tile, tail
