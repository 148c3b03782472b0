"""The contract between the planner and whatever times a plan.

An :class:`Evaluator` answers two questions about a candidate on a problem: a cheap ``check``
(divisibility and memory only, used to prune) and a full ``evaluate`` (step time and its
breakdown). Both return :class:`Infeasible` with a reason instead of raising, because an
infeasible plan is an ordinary answer the planner counts and reports. The real evaluator wraps the
cluster model (:mod:`trnsim.plan.cluster_evaluator`); tests use small analytic ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from trnsim.plan.candidate import Candidate
from trnsim.plan.problem import Problem

#: The reason name an evaluator uses for "does not fit in device memory"; the search drops a
#: whole group of candidates when the group's most frugal member fails for this reason.
MEMORY_REASON = "memory"


@dataclass(frozen=True)
class Infeasible:
    """A candidate that cannot run, with a machine-readable reason and a human detail."""

    reason: str
    detail: str = ""

    @property
    def is_memory(self) -> bool:
        """Whether the plan failed only because it does not fit in memory."""
        return self.reason == MEMORY_REASON


@dataclass(frozen=True)
class StepEstimate:
    """The time of one training step under a candidate plan."""

    step_time_s: float
    tokens_per_s: float
    mfu: float
    memory_per_rank_bytes: float
    breakdown_s: dict[str, float] = field(default_factory=dict)
    goodput: float = 1.0
    memory_capacity_bytes: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Evaluator(Protocol):
    """Times candidate plans; see the module docstring."""

    def check(self, problem: Problem, candidate: Candidate) -> Infeasible | None:
        """Cheap feasibility (memory, divisibility): ``None`` when the plan may run."""
        ...

    def evaluate(self, problem: Problem, candidate: Candidate) -> StepEstimate | Infeasible:
        """The full step-time estimate, or why the plan cannot run."""
        ...
