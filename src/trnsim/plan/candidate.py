"""A candidate parallel plan as the planner enumerates it.

The cluster layer has its own ``ParallelPlan`` with more knobs (schedule, overlap flags); the
planner searches over the knobs below and :meth:`~trnsim.plan.problem.Problem.parallel_plan` turns
a :class:`Candidate` into the cluster's plan. ``dp`` is implied: ranks / (tp × pp × cp).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from trnsim.cluster.notation import plan_notation
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
    #: The embedding and the loss each take a layer's slot in the pipeline split (interleaved only;
    #: ParallelPlan.account_for_embedding_loss, Llama 3 405B's 126 + 2 = 16 x 8 one-layer chunks).
    account_for_embedding_loss: bool = False

    @property
    def ranks(self) -> int:
        """Ranks this plan occupies (EP reuses DP ranks, so it does not multiply)."""
        return self.tp * self.pp * self.dp * self.cp

    def structure(self) -> tuple[int, int, int, int, int, int, bool]:
        """The model-partitioning part (tp, pp, dp, cp, ep, interleave, embedding/loss slots),
        shared by a prune group."""
        return (self.tp, self.pp, self.dp, self.cp, self.ep, self.interleave, self.account_for_embedding_loss)

    def describe(self) -> str:
        """trnsim's plan notation, e.g. ``tp8 pp4 vpp2 dp16 zero1 mb1 recompute=selective``."""
        return plan_notation(tp=self.tp, pp=self.pp, dp=self.dp, cp=self.cp, ep=self.ep,
                             interleave=self.interleave, zero=self.zero_stage, micro_batch=self.micro_batch,
                             recompute=self.recompute.value,
                             account_for_embedding_loss=self.account_for_embedding_loss)

    def short(self) -> str:
        """The same notation (narrow tables wrap it rather than use another)."""
        return self.describe()

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON/CSV."""
        out = asdict(self)
        out["recompute"] = self.recompute.value
        if not self.account_for_embedding_loss:  # off: the keys plans always had
            del out["account_for_embedding_loss"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["recompute"] = Recompute(values.get("recompute", "none"))
        return cls(**values)
