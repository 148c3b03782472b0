"""What a masked, out-of-bounds-guarded or index-array DMA really moves.

nki-semantics.md §9: a legacy ``mask=`` is compiled into a smaller access pattern, OOB-skipped
and masked-off elements are neither read nor written, and exactly the selected elements are
moved. A DMA moves them as descriptors of consecutive bytes; a new descriptor starts wherever
either side's next selected element is not the next address (or, on chip, is in another
partition). This module counts the selected elements and those runs, so that the trace holds
the bytes moved and the descriptor count instead of one element-sized descriptor per element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trnsim.nki.tensor import Tensor, fit_mask
from trnsim.nki.trace import Instruction, Operand

__all__ = ["DmaSelection", "apply_selection", "dma_selection"]


@dataclass(frozen=True, slots=True)
class DmaSelection:
    """The elements a DMA moves and the contiguous descriptors they form."""

    elements: int
    descriptors: int


def _addresses(t: Tensor) -> np.ndarray:
    """Element addresses of a view, in C order over its shape (flat index into the allocation)."""
    if t.flat is not None:
        return np.asarray(t.flat, dtype=np.int64).ravel()
    addr = np.full(t.shape, t.offset, dtype=np.int64)
    for d, (n, s) in enumerate(zip(t.shape, t.strides, strict=True)):
        shape = [1] * len(t.shape)
        shape[d] = n
        addr = addr + (np.arange(n, dtype=np.int64) * s).reshape(shape)
    return addr.ravel()


def _breaks(t: Tensor, addr: np.ndarray) -> np.ndarray:
    """True where element i+1 cannot continue the descriptor of element i on this side."""
    step = np.diff(addr) != 1
    if t.on_chip:
        free = max(1, t.alloc.free_elems)
        step |= np.diff(addr // free) != 0
    return step


def dma_selection(src: Tensor, dst: Tensor, mask: np.ndarray | None) -> DmaSelection | None:
    """Selected elements and descriptors of ``dst <- src``; None when every element moves as laid out.

    Applies only to element-wise copies (src element i in C order goes to dst element i); a
    transposing DMA keeps the plain rule.
    """
    if mask is None and src.flat is None and dst.flat is None and src.oob is None and dst.oob is None:
        return None
    n = dst.size
    if src.size != n or n == 0:
        return None
    keep = np.ones(n, dtype=bool)
    if mask is not None:
        for shape in (dst.shape, src.shape):
            try:
                keep &= np.asarray(fit_mask(mask, shape)).ravel()
                break
            except ValueError:
                continue
        else:
            return None
    for t in (src, dst):
        if t.oob is not None:
            keep &= ~np.asarray(t.oob).ravel()
    elements = int(keep.sum())
    if elements == 0:
        return DmaSelection(0, 0)
    a_src, a_dst = _addresses(src)[keep], _addresses(dst)[keep]
    breaks = _breaks(src, a_src) | _breaks(dst, a_dst)
    return DmaSelection(elements, 1 + int(breaks.sum()))


def apply_selection(instruction: Instruction, selection: DmaSelection) -> None:
    """Rewrite a DMA's first input and output operand to the selected bytes and runs.

    ``attrs["descriptors"]`` receives the descriptor count (read by the chip's DMA model).
    """
    instruction.attrs["descriptors"] = selection.descriptors
    runs = max(1, selection.descriptors)

    def fix(ops: tuple[Operand, ...], index: int) -> tuple[Operand, ...]:
        if not ops:
            return ops
        op = ops[index]
        isz = op.nbytes // max(1, int(np.prod(op.shape))) if op.shape else op.nbytes
        nbytes = selection.elements * isz
        run = max(isz, nbytes // runs) if nbytes else 0
        return (*ops[:index], op._replace(nbytes=nbytes, contiguous_bytes=run), *ops[index + 1 :])

    instruction.inputs = fix(instruction.inputs, 0)
    instruction.outputs = fix(instruction.outputs, 0)
