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

import heapq
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, TypeGuard

import trnsim.cluster.step as cluster_step
from trnsim.cluster.plan import InfeasiblePlanError, InfeasibleReason, ParallelPlan
from trnsim.cluster.step import StepResult
from trnsim.cluster.topology import TopologySpec, topology_for_system
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.candidate import RECOMPUTE_ORDER, Candidate
from trnsim.plan.collector import collector_paused
from trnsim.plan.economics import PlanOutcome, plan_outcome, time_to_train_lower_bound
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

#: Ranking key of a plan (see :func:`ranking_key`).
RankKey = tuple[bool, float, float]
#: A plan's place in the full search's order of evaluations: (ladder, rung) (see :func:`_search_pruned`).
Order = tuple[int, int]


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


class BoundedStepModel(StepModel, Protocol):
    """A step model that also bounds its answers cheaply (the cluster model does), so that a search
    can skip plans that cannot make its top K (branch and bound, ``search_plans(prune=True)``)."""

    def step_time_lower_bound(self, model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan,
                              seq_len: int, precision: Precision = Precision.BF16,
                              topology: TopologySpec | None = None) -> float:
        """No more than ``estimate_step(...).step_time_s``, whether the plan fits in memory or not,
        and never less for more recomputation with the other knobs equal (so the bound of a plan
        bounds its heavier-recomputing siblings before their memory is checked)."""
        ...

    def step_goodput_upper_bound(self, model: ModelConfig, system: SystemSpec, ranks: int,
                                 topology: TopologySpec | None = None) -> float:
        """No less than the ``goodput`` of any plan on ``ranks`` ranks."""
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
    #: Plans neither checked nor timed because a lower bound of their time-to-train could not make
    #: the top K (``search_plans(prune=True)``).
    bounded: int = 0
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
        # Keys carry the plan's place in the full search's order: ties go to the earlier plan even
        # when a pruned search times plans in another order.
        self._top_keys: list[tuple[tuple[RankKey, Order], PlanOutcome]] = []
        self._knob_keys: dict[tuple[str, object], tuple[RankKey, Order]] = {}
        self._knobs_keys: dict[tuple[object, ...], tuple[RankKey, Order]] = {}

        self._arrivals = 0

    def key(self, outcome: PlanOutcome) -> RankKey:
        return ranking_key(outcome, self.objective)

    def arrival(self) -> int:
        """The next place in the full search's order of evaluations."""
        self._arrivals += 1
        return self._arrivals

    def can_enter(self, key: RankKey, order: Order) -> bool:
        """Whether a plan of this key (or a lower bound of it), at this place, could join the top K."""
        ranked = self._top_keys
        return len(ranked) < self.top_k or (key, order) < ranked[-1][0]

    def add(self, outcome: PlanOutcome, order: Order) -> None:
        key = (self.key(outcome), order)
        ranked = self._top_keys
        if len(ranked) < self.top_k or key < ranked[-1][0]:
            ranked.append((key, outcome))
            ranked.sort(key=lambda pair: pair[0])
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
           plans: dict[Candidate, ParallelPlan] | None = None,
           plan: ParallelPlan | None = None) -> InfeasibleReason | None:
    """Why the cluster's cheap check rejects the candidate (None: it may run); the plan it built (or
    was given) is kept in ``plans`` for the estimate (a validated plan costs as much to build as to
    check)."""
    try:
        if plan is None:
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
    for ladder in group.ladders:
        for index, candidate in enumerate(ladder):
            if candidate in verdicts:
                verdict = verdicts[candidate]
            else:
                verdict = _check(problem, candidate, steps, plans)
                stats.checked += 1
            if verdict is not None:
                acc.reject(verdict)
                continue
            _evaluate(problem, candidate, steps, acc, plans[candidate], (acc.arrival(), 0))
            if dominance:
                # More recomputation only adds work: the rest of the ladder cannot be faster.
                stats.dominated += len(ladder) - index - 1
                break


class _Verdicts(dict[Candidate, "InfeasibleReason | None"]):
    """The verdicts of a group's checked plans (shared by its ladders), those that found no room, and
    whether the group was dropped (its most frugal member does not fit)."""

    def __init__(self, frugal: Candidate) -> None:
        super().__init__()
        self.frugal = frugal
        self.no_room: list[Candidate] = []
        self.dropped = False


@dataclass(frozen=True, slots=True)
class _Ladder:
    """Plans differing only in recomputation, waiting in a branch-and-bound search."""

    problem: Problem
    topology: TopologySpec | None  # the problem's, resolved once per search where the cluster model times it
    goodput: float  # an upper bound of any plan's goodput on the problem
    rungs: tuple[Candidate, ...]
    verdicts: _Verdicts  # those already checked


#: Floors by (problem, candidate's structure, micro-batch, ZeRO-3 or not): the cluster's floor reads
#: the ZeRO stage only as that (ZeRO-3 shards the weight passes) and not the recomputation
#: (tests/cluster/test_step_bounds.py), so ladders of a group differing only in ZeRO 0-2 share one.
_Floors = dict[tuple[int, int, int, int, int, int, int, int, bool, bool],
               tuple[RankKey, ParallelPlan | None] | None]


def _floor(ladder: _Ladder, rung: int, steps: BoundedStepModel,
           floors: _Floors) -> tuple[RankKey, ParallelPlan | None] | None:
    """Like :func:`_bound` from the step model's cheaper, looser ``step_time_floor`` (None where the
    model has none), and the plan it was asked of (a sibling's, where ``floors`` had it)."""
    c = ladder.rungs[rung]
    key = (id(ladder.problem), c.tp, c.pp, c.dp, c.cp, c.ep, c.interleave, c.micro_batch, c.zero_stage == 3,
           c.account_for_embedding_loss)  # the slots move the first and last stages' layers
    if key in floors:
        known = floors[key]
        return None if known is None else (known[0], None)
    floors[key] = found = _floor_of(ladder, rung, steps)
    return found


def _floor_of(ladder: _Ladder, rung: int,
              steps: BoundedStepModel) -> tuple[RankKey, ParallelPlan | None] | None:
    floor = getattr(steps, "step_time_floor", None)
    if floor is None:
        return None
    return _ranked_bound(ladder, rung, floor)


def _bound(ladder: _Ladder, rung: int, steps: BoundedStepModel,
           plan: ParallelPlan | None = None) -> tuple[RankKey, ParallelPlan | None]:
    """A lower bound of the ranking key of the ladder's plans from ``rung`` up, and that rung's plan.

    The bound of the rung's time-to-train holds for the heavier rungs too: a bounded step model's
    bound never falls with more recomputation.
    """
    return _ranked_bound(ladder, rung, steps.step_time_lower_bound, plan)


def _ranked_bound(ladder: _Ladder, rung: int, step_bound: Callable[..., float],
                  plan: ParallelPlan | None = None) -> tuple[RankKey, ParallelPlan | None]:
    """The ranking key that ``step_bound`` (a lower bound of the step time: the floor or the tight
    bound) gives the rung's plan, and that plan. A plan that cannot be built or placed gets 0: its
    check will reject it (the rungs share their structure, so the structure's verdict is theirs).
    """
    problem = ladder.problem
    try:
        if plan is None:
            plan = problem.parallel_plan(ladder.rungs[rung])
        step = step_bound(problem.model, problem.system, problem.ranks, plan, problem.job.seq_len,
                          problem.job.precision, ladder.topology)
    except ConfigError:
        return (False, 0.0, 0.0), None
    except InfeasiblePlanError:
        step = 0.0
    time_s = time_to_train_lower_bound(problem, step, ladder.goodput)
    return (False, time_s, time_s), plan


@dataclass(frozen=True, slots=True)
class _Group:
    """A group waiting in a branch-and-bound search with its ladders' heap entries and the ladders it
    floors only once it is expanded."""

    problem: Problem
    group: CandidateGroup
    verdicts: _Verdicts  # shared with its ladders
    entries: list[_Entry]
    #: ZeRO 0-2 ladders whose floor is no lower than that of the ZeRO-3 ladder of their micro-batch
    #: (among ``entries``): not needed for the group's bound, floored when the group is expanded.
    later: list[tuple[_Ladder, Order]]


#: What a heap entry's bound is: a group's least floor, a ladder's floor, a ladder's tight bound.
_GROUP, _FLOOR, _TIGHT = 0, 1, 2
#: (bound, place in the full search's order, group or ladder, the rung's plan, which bound).
_Entry = tuple[RankKey, Order, "_Ladder | _Group", ParallelPlan | None, int]


def _waiting_plans(entry: _Entry) -> int:
    """The plans an entry of the heap stands for (rungs from its own up)."""
    item, rung = entry[2], entry[1][1]
    if isinstance(item, _Group):
        later = sum(len(ladder.rungs) for ladder, _ in item.later)
        return sum(_waiting_plans(e) for e in item.entries) + later
    return len(item.rungs) - rung


def _waiting(ladder: _Ladder, order: Order, steps: BoundedStepModel, floors: _Floors) -> _Entry:
    """The heap entry of a ladder from rung ``order[1]`` up: with the cheap floor where the step model
    has one (the tight bound is asked for only when it comes first), else with the tight bound."""
    floor = _floor(ladder, order[1], steps, floors)
    if floor is not None:
        return (floor[0], order, ladder, floor[1], _FLOOR)
    bound, plan = _bound(ladder, order[1], steps)
    return (bound, order, ladder, plan, _TIGHT)


def _queue_group(problem: Problem, topology: TopologySpec | None, goodput: float, group: CandidateGroup,
                 first_ladder: int, dominance: bool, steps: BoundedStepModel, floors: _Floors,
                 heap: list[_Entry]) -> int:
    """Queue a group with the least floor of its ladders (numbered from ``first_ladder``, in the full
    search's order); returns the number of the next ladder.

    A floor reads the ZeRO stage only as ZeRO-3 or not, and ZeRO-3's is no higher (it leaves out the
    weight passes ZeRO-3 shards; tests/cluster/test_step_bounds.py): where a group has a ZeRO-3 ladder
    at a micro-batch, its ZeRO 0-2 ladders there wait unfloored until the group is expanded (most
    groups never are). A step model without a floor bounds every ladder at once.
    """
    verdicts = _Verdicts(group.members[0])
    # without dominance each plan is a ladder of its own, in the full search's order
    ladders = [r for ladder in group.ladders for r in ([ladder] if dominance else [(c,) for c in ladder])]
    has_floor = getattr(steps, "step_time_floor", None) is not None
    zero3 = {rungs[0].micro_batch for rungs in ladders if rungs[0].zero_stage == 3} if has_floor else set()
    entries: list[_Entry] = []
    later: list[tuple[_Ladder, Order]] = []
    index = first_ladder
    for rungs in ladders:
        ladder = _Ladder(problem, topology, goodput, rungs, verdicts)
        order = (index, 0)
        index += 1
        if rungs[0].zero_stage < 3 and rungs[0].micro_batch in zero3:
            later.append((ladder, order))
        else:
            entries.append(_waiting(ladder, order, steps, floors))
    if entries:  # the group waits with its least bound, its frugal member not yet checked
        least = min(entries, key=lambda e: (e[0], e[1]))
        waiting = _Group(problem, group, verdicts, entries, later)
        heapq.heappush(heap, (least[0], least[1], waiting, None, _GROUP))
    return index


def _no_room(failed: list[Candidate], candidate: Candidate) -> bool:
    """Whether ``candidate`` needs at least the memory of a plan of its group that did not fit: as
    much micro-batch or more, no higher ZeRO stage, no more recomputation (what the group prune rests
    on: memory never grows with a higher ZeRO stage, a smaller micro-batch or more recomputation)."""
    rank = RECOMPUTE_ORDER.index(candidate.recompute)
    return any(candidate.micro_batch >= f.micro_batch and candidate.zero_stage <= f.zero_stage
               and rank <= RECOMPUTE_ORDER.index(f.recompute) for f in failed)


def _frugal_lacks_room(ladder: _Ladder, steps: StepModel, stats: SearchStats) -> bool:
    """Whether the most frugal member of the ladder's group does not fit (checked once per group, when
    one of its plans first does not fit): then the group is dropped, as the full search drops it."""
    verdicts = ladder.verdicts
    frugal = verdicts.frugal
    if frugal not in verdicts:
        verdicts[frugal] = _check(ladder.problem, frugal, steps)
        stats.checked += 1
        if verdicts[frugal] is InfeasibleReason.MEMORY:
            verdicts.no_room.append(frugal)
    if not verdicts.dropped and verdicts[frugal] is InfeasibleReason.MEMORY:
        verdicts.dropped = True
        stats.groups_pruned += 1
    return verdicts.dropped


def _search_pruned(problems: list[Problem], space: SearchSpace, steps: BoundedStepModel, acc: _Accumulator,
                   dominance: bool, progress: ProgressCallback | None) -> None:
    """Branch and bound (time objective): the plans :func:`_search_group` would evaluate, checked and
    timed in order of a lower bound of their time-to-train until no bound can enter the top K.

    A group waits with the least floor of its ladders; taken from the heap, its ladders wait in its
    place, so a group whose plans cannot enter is never checked. Each ladder (plans differing only
    in recomputation) waits with the floor of its lightest rung not yet rejected; taken from the
    heap, that rung is checked (a plan needing at least the memory of one of its group that did not
    fit is rejected unchecked): if it passes, it waits again with its tight bound and, taken again,
    is timed (as the full search would time it, the heavier rungs dominated); else the next rung
    waits with its floor. Groups whose most frugal member does not fit are dropped as in the full
    search: that member is checked when a plan of its group first finds no room (where the group
    is dropped, none of its plans fits, so none was timed), not for every group taken from the heap
    (most groups' plans fit: a check saved each). Each plan keeps its place in the full search's
    order, so ties resolve as they would there.
    """
    stats = acc.stats
    heap: list[_Entry] = []
    floors: _Floors = {}
    ladder_index = 1
    for problem in problems:
        topology = problem.topology
        if topology is None and steps is cluster_step:  # its own default, loaded once rather than per bound
            topology = topology_for_system(problem.system)
        goodput = steps.step_goodput_upper_bound(problem.model, problem.system, problem.ranks, topology)
        for group in candidate_groups(problem, space):
            stats.groups += 1
            stats.candidates += len(group.members)
            if progress is not None:
                progress(len(group.members))
            ladder_index = _queue_group(problem, topology, goodput, group, ladder_index, dominance, steps,
                                        floors, heap)
    while heap:
        bound, order, item, plan, state = heapq.heappop(heap)
        if not acc.can_enter(bound, order):
            # the heap's least bound: nothing left can enter either
            stats.bounded += sum(_waiting_plans(e) for e in heap) + _waiting_plans((bound, order, item, plan,
                                                                                    state))
            break
        if isinstance(item, _Group):
            for entry in item.entries:
                heapq.heappush(heap, entry)
            for ladder, later in item.later:
                heapq.heappush(heap, _waiting(ladder, later, steps, floors))
            continue
        ladder = item
        rung = order[1]
        candidate = ladder.rungs[rung]
        verdicts = ladder.verdicts
        if verdicts.dropped:  # its group's most frugal member does not fit: nor does any rung left
            acc.reject(InfeasibleReason.MEMORY, len(ladder.rungs) - rung)
            continue
        if candidate in verdicts:
            verdict = verdicts[candidate]
        elif verdicts.no_room and _no_room(verdicts.no_room, candidate):
            verdict = verdicts[candidate] = InfeasibleReason.MEMORY
        else:
            checked: dict[Candidate, ParallelPlan] = {}
            verdict = verdicts[candidate] = _check(ladder.problem, candidate, steps, checked, plan)
            plan = checked.get(candidate, plan)
            stats.checked += 1
            if verdict is InfeasibleReason.MEMORY:
                verdicts.no_room.append(candidate)
                if _frugal_lacks_room(ladder, steps, stats):
                    acc.reject(verdict, len(ladder.rungs) - rung)
                    continue
        if verdict is not None:
            acc.reject(verdict)
            if rung + 1 < len(ladder.rungs):
                heapq.heappush(heap, _waiting(ladder, (order[0], rung + 1), steps, floors))
            continue
        if state == _FLOOR:  # it fits but may still be skipped: wait again with the tight bound (never lower)
            refined, plan = _bound(ladder, rung, steps, plan)
            bound = max(bound, refined)
            if (heap and (heap[0][0], heap[0][1]) < (bound, order)) or not acc.can_enter(bound, order):
                heapq.heappush(heap, (bound, order, ladder, plan, _TIGHT))
                continue
            # still first: the heap would hand it straight back, so it is timed now (and the cluster
            # model's estimate reuses the check it has just made of this very plan)
        if plan is None:  # the frugal member's plan, checked with its group
            plan = ladder.problem.parallel_plan(candidate)
        _evaluate(ladder.problem, candidate, steps, acc, plan, order, ladder.topology)
        stats.dominated += len(ladder.rungs) - rung - 1


def _evaluate(problem: Problem, candidate: Candidate, steps: StepModel, acc: _Accumulator,
              plan: ParallelPlan, order: Order, topology: TopologySpec | None = None) -> None:
    acc.stats.evaluated += 1
    try:
        result = steps.estimate_step(problem.model, problem.system, problem.ranks, plan, problem.job.seq_len,
                                     problem.job.precision,
                                     topology=problem.topology if topology is None else topology)
    except InfeasiblePlanError as error:
        acc.reject(error.reason)
        return
    if not result.fits:
        acc.reject(InfeasibleReason.MEMORY)
        return
    acc.stats.feasible += 1
    acc.add(plan_outcome(problem, candidate, result), order)


def _bounded(steps: StepModel) -> TypeGuard[BoundedStepModel]:
    return hasattr(steps, "step_time_lower_bound") and hasattr(steps, "step_goodput_upper_bound")


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
    prune: bool = False,
) -> SearchResult:
    """Search every problem's plans (typically one model and system at several rank counts).

    ``steps`` times the plans: the cluster model (:mod:`trnsim.cluster.step`) unless given.
    With ``recompute_dominance`` (the default), only the least recomputation that fits is
    evaluated for each otherwise-equal plan: recomputation only adds work, so more of it is never
    faster. Turn it off for a step model where that does not hold.

    With ``prune`` (branch and bound; for the time objective and a :class:`BoundedStepModel` such as
    the cluster model, else ignored), the checked plans are timed in order of a lower bound of their
    time-to-train, and the rest skipped once no bound can enter the top K. The top K is the one the
    full search finds (the bounds are true bounds, ties go to the plan the full search meets
    first); ``best_by_knob``, ``best_by_knobs`` and the evaluation counts then cover only the plans
    timed, so an explanation of alternatives needs the full search.

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
        if prune and objective is Objective.TIME and _bounded(step_model):
            _search_pruned(problem_list, space, step_model, acc, recompute_dominance, progress)
        else:
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
