"""A candidate parallel plan as the planner enumerates it.

The cluster layer has its own ``ParallelPlan`` with more knobs (schedule, overlap flags); the
planner searches over the knobs below and an evaluator turns a :class:`Candidate` into the
cluster's plan. ``dp`` is implied: ranks / (tp × pp × cp).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from trnsim.workload.options import Recompute

#: Order of memory saving: a later entry never needs more activation memory than an earlier one.
RECOMPUTE_ORDER = (Recompute.NONE, Recompute.SELECTIVE, Recompute.FULL)


@dataclass(frozen=True, order=True)
class Candidate:
    """One point of the search space."""

    tp: int
    pp: int
    dp: int
    cp: int = 1
    ep: int = 1
    interleave: int = 1
    zero_stage: int = 0
    micro_batch: int = 1
    recompute: Recompute = Recompute.NONE

    @property
    def ranks(self) -> int:
        """Ranks this plan occupies (EP reuses DP ranks, so it does not multiply)."""
        return self.tp * self.pp * self.dp * self.cp

    def structure(self) -> tuple[int, int, int, int, int, int]:
        """The model-partitioning part (tp, pp, dp, cp, ep, interleave), shared by a prune group."""
        return (self.tp, self.pp, self.dp, self.cp, self.ep, self.interleave)

    def describe(self) -> str:
        """A short human label such as ``TP8 PP4×2 DP16 ZeRO1 mb1 recompute=selective``."""
        parts = [f"TP{self.tp}", f"PP{self.pp}" + (f"×{self.interleave}" if self.interleave > 1 else "")]
        parts.append(f"DP{self.dp}")
        if self.cp > 1:
            parts.append(f"CP{self.cp}")
        if self.ep > 1:
            parts.append(f"EP{self.ep}")
        parts.append(f"ZeRO{self.zero_stage}")
        parts.append(f"mb{self.micro_batch}")
        parts.append(f"recompute={self.recompute.value}")
        return " ".join(parts)

    def short(self) -> str:
        """A compact label for narrow tables, e.g. ``t8 p4x2 d16 z1 mb1 sel``."""
        interleave = f"x{self.interleave}" if self.interleave > 1 else ""
        text = f"t{self.tp} p{self.pp}{interleave} d{self.dp}"
        if self.cp > 1:
            text += f" c{self.cp}"
        if self.ep > 1:
            text += f" e{self.ep}"
        return text + f" z{self.zero_stage} mb{self.micro_batch} {self.recompute.value[:4]}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON/CSV."""
        out = asdict(self)
        out["recompute"] = self.recompute.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["recompute"] = Recompute(values.get("recompute", "none"))
        return cls(**values)
