"""Shape checks and tile arithmetic shared by the kernels.

Everything here runs at trace time on plain Python integers (NKI shapes are static), so a
kernel can pick its tile sizes and reject shapes it cannot handle before it issues a single
instruction. Hardware limits (partition count, matmul tile limits, SBUF size) are not held here:
kernels read them from ``nl.tile_size`` and pass them in.
"""

from __future__ import annotations

from collections.abc import Iterator

from trnsim.errors import TrnsimError


class KernelShapeError(TrnsimError):
    """A kernel of the library was called with a shape or dtype it does not support."""


def require(condition: bool, kernel: str, message: str) -> None:
    """Raise :class:`KernelShapeError` with ``kernel: message`` unless ``condition`` holds."""
    if not condition:
        raise KernelShapeError(f"{kernel}: {message}")


def require_rank(kernel: str, name: str, shape: tuple[int, ...], rank: int) -> None:
    """Check that the input ``name`` has ``rank`` dimensions."""
    require(
        len(shape) == rank,
        kernel,
        f"input '{name}' has shape {tuple(shape)} ({len(shape)}-D); expected a {rank}-D tensor",
    )


def require_multiple(kernel: str, what: str, value: int, quantum: int) -> None:
    """Check that ``value`` (described by ``what``) is a positive multiple of ``quantum``."""
    require(
        value > 0 and value % quantum == 0,
        kernel,
        f"{what} is {value}; it must be a positive multiple of {quantum}",
    )


def tile_size(extent: int, max_tile: int, quantum: int) -> int:
    """The largest tile that divides ``extent``, is at most ``max_tile`` and a multiple of ``quantum``.

    ``extent`` itself is returned when it fits in one tile. Callers have checked that ``extent``
    is a multiple of ``quantum`` when it is larger than ``max_tile``, so a divisor always exists.
    """
    if extent <= max_tile:
        return extent
    best = quantum
    for candidate in range(quantum, max_tile + 1, quantum):
        if extent % candidate == 0:
            best = candidate
    return best


def spans(extent: int, tile: int) -> tuple[int, int]:
    """Split ``extent`` into ``(full_tiles, tail)``: ``full_tiles`` tiles of ``tile`` and a remainder."""
    return extent // tile, extent % tile


def chunks(extent: int, tile: int) -> Iterator[tuple[int, int]]:
    """Yield ``(offset, size)`` pairs covering ``[0, extent)`` in pieces of at most ``tile``."""
    for offset in range(0, extent, tile):
        yield offset, min(tile, extent - offset)
