"""A legacy ``mask=`` on a matmul, applied per operand.

nki-api.md §1.4 / nki-semantics.md §9: a mask is a compile-time predicate over the index variables
it mentions and restricts their iteration space (the compiler emits a smaller instruction). A
matmul iterates over ``(k, m, n)``: the contraction index (the partition index of both operands),
the stationary's free index (the result's partitions) and the moving's free index (the result's
columns). A predicate on ``k`` restricts the rows summed; one on ``m`` or ``n`` the result elements
written (the rest keep their old data, as for every masked instruction).

The variables come from the operands' subscripts (:attr:`Tensor.index_ids`, set by advanced
indexing). A mask over none of them (e.g. over the destination's indices) keeps the positional
meaning every other instruction gives it: a predicate on the result's elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trnsim.nki.indexing import mask_over, mask_variables
from trnsim.nki.runtime import Simulation
from trnsim.nki.tensor import Tensor


@dataclass(frozen=True)
class MatmulMask:
    """A matmul mask over ``(k, m, n)`` and what it selects in each operand."""

    #: the predicate, broadcastable to (K, M, N)
    pred: np.ndarray
    #: (K, M) / (K, N): the operand elements read
    stationary: np.ndarray
    moving: np.ndarray
    #: (M, N): the result elements written
    out: np.ndarray
    #: (K,) the rows summed, when the predicate is ``rows[k] & out[m, n]``; else None
    rows: np.ndarray | None

    def product(self, s: np.ndarray, mv: np.ndarray) -> np.ndarray:
        """``s[K, M].T @ mv[K, N]`` in fp32 over the selected iterations (unread elements, possibly
        uninitialised NaN, never enter a sum)."""
        s = np.where(self.stationary, s, np.float32(0))
        mv = np.where(self.moving, mv, np.float32(0))
        if self.rows is not None:
            return np.matmul(s[self.rows].T, mv[self.rows])
        prod = s[:, :, None] * mv[:, None, :]
        return np.where(self.pred, prod, np.float32(0)).sum(axis=0, dtype=np.float32)


def matmul_mask(
    sim: Simulation, instr: str, mask: Any, stationary: Tensor, moving: Tensor, k: int, m: int, n: int
) -> MatmulMask | None:
    """The mask over the matmul's iteration space, or None where it mentions none of the operands'
    index variables (then it applies to the result's elements by position, as before)."""
    variables = mask_variables(mask)
    if not variables:
        return None
    axes: dict[int, int] = {}
    clash: set[int] = set()
    for t, kinds in ((stationary, (0, 1)), (moving, (0, 2))):
        ids = getattr(t, "index_ids", None)
        if ids is None or len(ids) != 2:
            continue  # a 3-D operand's free dims are flattened: only positional masks there
        for var, axis in zip(ids, kinds, strict=True):
            if var > 0 and axes.setdefault(var, axis) != axis:
                clash.add(var)
    for var in clash:
        del axes[var]
    mapped = variables & axes.keys()
    if not mapped:
        return None
    pred = mask_over(mask, axes, (k, m, n)) if mapped == variables else None
    if pred is None:
        sim.fail(
            instr,
            "the mask compares an operand index (contraction or output) with an index neither operand"
            " is subscripted with; mask the operands' own nl.arange/mgrid indices",
            "unsupported_expression_in_mask",
        )
    pred = pred.reshape((1,) * (3 - pred.ndim) + pred.shape)
    out = np.asarray(pred.any(axis=0))
    rows = np.asarray(pred.any(axis=(1, 2)))
    separable = bool((pred == (rows[:, None, None] & out[None])).all())
    return MatmulMask(
        pred=pred,
        stationary=np.broadcast_to(pred.any(axis=2), (k, m)),
        moving=np.broadcast_to(pred.any(axis=1), (k, n)),
        out=np.broadcast_to(out, (m, n)),
        rows=np.broadcast_to(rows, (k,)) if separable else None,
    )
