"""Search parallel plans for the one that trains fastest (or cheapest).

The search enumerates the valid candidates of each problem (:mod:`trnsim.plan.space`) group by
group and times them with the cluster model (:mod:`trnsim.cluster.step`; tests pass an analytic
:class:`StepModel` with the same two functions). For each group it first asks the cheap
``check_plan`` about the group's most frugal member; if even that one does not fit in memory the
whole group is dropped unevaluated. This is exact whenever memory never grows with a higher ZeRO
stage, a smaller micro-batch or more recomputation, which holds for every memory model the planner
has been given. The remaining members are checked and then evaluated in full, except that among
plans differing only in recomputation just the lightest one that fits is evaluated (recomputation
adds work and never saves time, so the heavier ones are dominated). The result keeps the top K
plans, counts every infeasible plan by its :class:`~trnsim.cluster.plan.InfeasibleReason`, and
keeps for each knob value the best plan having it, so that it can explain why the winner wins.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import trnsim.cluster.step as cluster_step
from trnsim.cluster.plan import InfeasiblePlanError, InfeasibleReason, ParallelPlan
from trnsim.cluster.step import StepResult
from trnsim.cluster.topology import TopologySpec
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.candidate import RECOMPUTE_ORDER, Candidate
from trnsim.plan.economics import PlanOutcome, plan_outcome
from trnsim.plan.errors import NoFeasiblePlanError
from trnsim.plan.problem import Objective, Problem
from trnsim.plan.space import (
    CandidateGroup,
    SearchSpace,
    candidate_groups,
    max_usable_ranks,
    nearest_splittable_ranks,
)
from trnsim.workload.config import ModelConfig
from trnsim.workload.options import Precision

#: Knobs whose alternatives the explanation compares against the winner.
EXPLAINED_KNOBS = ("ranks", "tp", "pp", "interleave", "cp", "ep", "zero_stage", "micro_batch", "recompute")

ProgressCallback = Callable[[int], None]


class StepModel(Protocol):
    """What times a plan: the cluster layer's two functions (the module :mod:`trnsim.cluster.step`
    is one); tests pass small analytic models with the same signatures."""

    def check_plan(self, model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan,
                   seq_len: int, precision: Precision = Precision.BF16) -> None:
        """Raise :class:`InfeasiblePlanError` when the plan cannot run (cheap: used to prune)."""
        ...

    def estimate_step(self, model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan,
                      seq_len: int, precision: Precision = Precision.BF16,
                      topology: TopologySpec | None = None) -> StepResult:
        """The step estimate (``fits`` False when it does not fit in memory)."""
        ...


def ranking_key(outcome: PlanOutcome, objective: Objective) -> tuple[bool, float, float]:
    """Sort key: plans meeting the deadline and budget first, then the objective, then time."""
    if objective is Objective.COST:
        primary = outcome.cost_usd if outcome.cost_usd is not None else float("inf")
    else:
        primary = outcome.time_to_train_s
    return (not outcome.meets_constraints, primary, outcome.time_to_train_s)


def knob_value(outcome: PlanOutcome, knob: str) -> object:
    """The value of one knob (or the rank count) in an outcome."""
    if knob == "ranks":
        return outcome.ranks
    value = getattr(outcome.candidate, knob)  # EXPLAINED_KNOBS name Candidate fields
    return value.value if isinstance(value, Enum) else value


def knob_values(outcome: PlanOutcome) -> tuple[object, ...]:
    """The values of all :data:`EXPLAINED_KNOBS` in an outcome, in that order."""
    c = outcome.candidate  # knob_value of each knob, spelled out: the search calls this per plan
    return (outcome.ranks, c.tp, c.pp, c.interleave, c.cp, c.ep, c.zero_stage, c.micro_batch,
            c.recompute.value)


@dataclass
class SearchStats:
    """How much of the space the search looked at, and why the rest was rejected."""

    candidates: int = 0
    checked: int = 0
    evaluated: int = 0
    feasible: int = 0
    groups: int = 0
    groups_pruned: int = 0
    dominated: int = 0
    infeasible_by_reason: Counter[InfeasibleReason] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    @property
    def skipped(self) -> int:
        """Candidates never checked: dropped with their group or dominated by a lighter recompute."""
        return self.candidates - self.checked

    @property
    def infeasible(self) -> int:
        """Candidates rejected, for any reason (including whole pruned groups)."""
        return sum(self.infeasible_by_reason.values())

    @property
    def candidates_per_s(self) -> float:
        """Candidates disposed of (evaluated or pruned) per second."""
        return self.candidates / self.elapsed_s if self.elapsed_s > 0 else float("inf")


@dataclass
class SearchResult:
    """The ranked plans of a search with its statistics and the best plan per knob value."""

    objective: Objective
    top: list[PlanOutcome]
    stats: SearchStats
    best_by_knob: dict[tuple[str, object], PlanOutcome]
    #: The best plan per combination of all :data:`EXPLAINED_KNOBS` values (in that order), so an
    #: alternative can change one knob and keep the others (``best_by_knob`` may change several).
    best_by_knobs: dict[tuple[object, ...], PlanOutcome] = field(default_factory=dict)

    @property
    def best(self) -> PlanOutcome:
        """The winning plan."""
        return self.top[0]

    def alternatives(self) -> list[tuple[str, PlanOutcome | None]]:
        """For each knob the search saw with another value, the best plan that changes that knob alone.

        ``None`` where every feasible plan evaluated with another value of the knob also changes
        another knob (for example PP 1 to 2 only with interleaving), so no one-knob comparison exists.
        """
        best = self.best
        mine = knob_values(best)
        out: list[tuple[str, PlanOutcome | None]] = []
        for index, knob in enumerate(EXPLAINED_KNOBS):
            if not any(k == knob and v != mine[index] for k, v in self.best_by_knob):
                continue  # the search never varied this knob
            rivals = [
                outcome
                for values, outcome in self.best_by_knobs.items()
                if values[index] != mine[index]
                and all(v == m for i, (v, m) in enumerate(zip(values, mine, strict=True)) if i != index)
            ]
            out.append((knob, min(rivals, key=self._key) if rivals else None))
        return out

    def _key(self, outcome: PlanOutcome) -> tuple[bool, float, float]:
        return ranking_key(outcome, self.objective)


class _Accumulator:
    """Collects outcomes: the top K and the best per knob value (each outcome's key computed once)."""

    def __init__(self, objective: Objective, top_k: int) -> None:
        self.objective = objective
        self.top_k = top_k
        self.top: list[PlanOutcome] = []
        self.best_by_knob: dict[tuple[str, object], PlanOutcome] = {}
        self.best_by_knobs: dict[tuple[object, ...], PlanOutcome] = {}
        self.stats = SearchStats()
        self._top_keys: list[tuple[tuple[bool, float, float], PlanOutcome]] = []
        self._knob_keys: dict[tuple[str, object], tuple[bool, float, float]] = {}
        self._knobs_keys: dict[tuple[object, ...], tuple[bool, float, float]] = {}

    def key(self, outcome: PlanOutcome) -> tuple[bool, float, float]:
        return ranking_key(outcome, self.objective)

    def add(self, outcome: PlanOutcome) -> None:
        key = self.key(outcome)
        ranked = self._top_keys
        if len(ranked) < self.top_k or key < ranked[-1][0]:
            ranked.append((key, outcome))
            ranked.sort(key=lambda pair: pair[0])  # stable: ties keep their arrival order
            del ranked[self.top_k :]
            self.top[:] = [o for _, o in ranked]
        values = knob_values(outcome)
        for knob, value in zip(EXPLAINED_KNOBS, values, strict=True):
            slot = (knob, value)
            held = self._knob_keys.get(slot)
            if held is None or key < held:
                self.best_by_knob[slot] = outcome
                self._knob_keys[slot] = key
        held = self._knobs_keys.get(values)
        if held is None or key < held:
            self.best_by_knobs[values] = outcome
            self._knobs_keys[values] = key

    def reject(self, reason: InfeasibleReason, count: int = 1) -> None:
        self.stats.infeasible_by_reason[reason] += count


def _check(problem: Problem, candidate: Candidate, steps: StepModel,
           plans: dict[Candidate, ParallelPlan] | None = None) -> InfeasibleReason | None:
    """Why the cluster's cheap check rejects the candidate (None: it may run); the plan it built is
    kept in ``plans`` for the estimate (a validated plan costs as much to build as to check)."""
    try:
        plan = problem.parallel_plan(candidate)
        if plans is not None:
            plans[candidate] = plan
        steps.check_plan(problem.model, problem.system, problem.ranks, plan, problem.job.seq_len,
                         problem.job.precision)
    except InfeasiblePlanError as error:
        return error.reason
    except ConfigError:
        return InfeasibleReason.INVALID
    return None


def _search_group(
    problem: Problem, group: CandidateGroup, steps: StepModel, acc: _Accumulator, dominance: bool,
) -> None:
    stats = acc.stats
    stats.groups += 1
    frugal = group.members[0]
    plans: dict[Candidate, ParallelPlan] = {}
    verdict = _check(problem, frugal, steps, plans)
    stats.checked += 1
    if verdict is InfeasibleReason.MEMORY:
        stats.groups_pruned += 1
        acc.reject(verdict, len(group.members))
        return
    verdicts = {frugal: verdict}
    # Members sharing everything but recomputation, least recomputation first.
    ladders: dict[tuple[int, int], list[Candidate]] = {}
    for candidate in group.members:
        ladders.setdefault((candidate.micro_batch, candidate.zero_stage), []).append(candidate)
    for ladder in ladders.values():
        ladder.sort(key=lambda c: RECOMPUTE_ORDER.index(c.recompute))
        for index, candidate in enumerate(ladder):
            if candidate in verdicts:
                verdict = verdicts[candidate]
            else:
                verdict = _check(problem, candidate, steps, plans)
                stats.checked += 1
            if verdict is not None:
                acc.reject(verdict)
                continue
            _evaluate(problem, candidate, steps, acc, plans[candidate])
            if dominance:
                # More recomputation only adds work: the rest of the ladder cannot be faster.
                stats.dominated += len(ladder) - index - 1
                break


def _evaluate(problem: Problem, candidate: Candidate, steps: StepModel, acc: _Accumulator,
              plan: ParallelPlan) -> None:
    acc.stats.evaluated += 1
    try:
        result = steps.estimate_step(problem.model, problem.system, problem.ranks, plan, problem.job.seq_len,
                                     problem.job.precision, topology=problem.topology)
    except InfeasiblePlanError as error:
        acc.reject(error.reason)
        return
    if not result.fits:
        acc.reject(InfeasibleReason.MEMORY)
        return
    acc.stats.feasible += 1
    acc.add(plan_outcome(problem, candidate, result))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector during a search (or several: ``trnsim compare``).

    An evaluation makes no reference cycles (reference counting frees its objects), but it fills
    caches with many long-lived objects, and each full collection walks all of them: measured on
    ``trnsim compare``, about half its time went to collections that found nothing to free.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def count_candidates(problems: Sequence[Problem], space: SearchSpace) -> int:
    """How many candidates a search over ``problems`` will dispose of (for a progress bar)."""
    return sum(len(g.members) for p in problems for g in candidate_groups(p, space))


def search_plans(
    problems: Problem | Sequence[Problem],
    space: SearchSpace | None = None,
    top_k: int = 5,
    progress: ProgressCallback | None = None,
    recompute_dominance: bool = True,
    steps: StepModel | None = None,
) -> SearchResult:
    """Search every problem's plans (typically one model and system at several rank counts).

    ``steps`` times the plans: the cluster model (:mod:`trnsim.cluster.step`) unless given.
    With ``recompute_dominance`` (the default), only the least recomputation that fits is
    evaluated for each otherwise-equal plan: recomputation only adds work, so more of it is never
    faster. Turn it off for a step model where that does not hold.

    Raises :class:`NoFeasiblePlanError` with the rejection counts when no plan is feasible.
    """
    problem_list = [problems] if isinstance(problems, Problem) else list(problems)
    if not problem_list:
        raise NoFeasiblePlanError("nothing to search: no rank count was given")
    space = space or SearchSpace()
    step_model: StepModel = cluster_step if steps is None else steps
    objective = problem_list[0].job.objective
    acc = _Accumulator(objective, max(1, top_k))
    started = time.perf_counter()
    with collector_paused():
        for problem in problem_list:
            for group in candidate_groups(problem, space):
                _search_group(problem, group, step_model, acc, recompute_dominance)
                acc.stats.candidates += len(group.members)
                if progress is not None:
                    progress(len(group.members))
    acc.stats.elapsed_s = time.perf_counter() - started
    if not acc.top:
        raise NoFeasiblePlanError(_no_plan_message(problem_list, acc.stats, space))
    return SearchResult(objective, acc.top, acc.stats, acc.best_by_knob, acc.best_by_knobs)


def require_candidates(problem: Problem, space: SearchSpace | None = None) -> None:
    """Raise :class:`NoFeasiblePlanError`, naming the binding constraint, if no split of the ranks
    exists (cheap: no candidate is evaluated)."""
    space = space or SearchSpace()
    if not candidate_groups(problem, space):
        raise NoFeasiblePlanError(_no_plan_message([problem], SearchStats(), space))


def _no_plan_message(problems: list[Problem], stats: SearchStats, space: SearchSpace) -> str:
    first = problems[0]
    ranks = ", ".join(f"{p.ranks:,}" for p in problems)
    if stats.candidates == 0:
        return (f"no valid parallel plan for {first.model.name} on {first.system.name} with {ranks} ranks: "
                + _no_split_reason(first, space))
    reasons = ", ".join(f"{reason} {count}" for reason, count in stats.infeasible_by_reason.most_common())
    return (
        f"no feasible plan for {first.model.name} on {first.system.name} with {ranks} ranks: "
        f"all {stats.candidates} candidates rejected ({reasons}); try more ranks or a smaller global batch"
    )


def _no_split_reason(problem: Problem, space: SearchSpace) -> str:
    """The binding constraint when no split of the ranks exists, and a rank count that has one."""
    bound, tp, pp, cp = max_usable_ranks(problem, space)
    gb = problem.job.global_batch
    nearest = nearest_splittable_ranks(problem, space)
    per_chip = problem.system.ranks_per_chip
    hint = "try another rank count" if nearest is None else f"try {nearest:,} ranks" + (
        f" ({-(-nearest // per_chip):,} chips)" if per_chip > 1 else "")
    if problem.ranks > bound:
        return (f"more ranks than any split can use (data parallelism divides the global batch {gb}: "
                f"at most {gb} x TP {tp} x PP {pp} x CP {cp} = {bound:,} ranks); "
                f"{hint} or a larger global batch")
    return (f"no split of the ranks into TP x PP x CP x DP divides the heads, layers and global batch {gb}; "
            f"{hint} or another global batch")
