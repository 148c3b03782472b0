"""Branch and bound (``search_plans(prune=True)``) keeps the full search's top K, with fewer timings."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

import trnsim.cluster.step as cluster_step
from tests.plan.toy_steps import ToyStepModel, toy_problem
from trnsim.cluster.plan import InfeasibleReason, ParallelPlan
from trnsim.cluster.step import StepResult, step_time_floor
from trnsim.cluster.topology import TopologySpec
from trnsim.hardware.catalog import SystemSpec, load_system
from trnsim.plan.problem import Objective, Problem, TrainingJob
from trnsim.plan.search import SearchResult, _check, _no_room, search_plans
from trnsim.plan.space import SearchSpace, candidate_groups, quick_space
from trnsim.workload.config import ModelConfig
from trnsim.workload.models import load_model
from trnsim.workload.options import Precision


def _top(result: SearchResult) -> list[tuple[object, ...]]:
    return [(o.ranks, o.candidate, o.time_to_train_s, o.estimate.step_time_s) for o in result.top]


@pytest.mark.parametrize("top_k", [1, 3, 5])
@pytest.mark.parametrize(("model_name", "system_name", "ranks"), [
    ("llama3-70b", "trn2", (256, 1024)),
    ("llama3-8b", "p5", (64,)),
])
def test_pruned_search_keeps_the_full_search_top_k(top_k: int, model_name: str, system_name: str,
                                                   ranks: tuple[int, ...]) -> None:
    model, system = load_model(model_name), load_system(system_name)
    job = TrainingJob(tokens=1e12, seq_len=4096, global_batch=512)
    problems = [Problem(model, system, r, job) for r in ranks]
    full = search_plans(problems, quick_space(), top_k=top_k)
    pruned = search_plans(problems, quick_space(), top_k=top_k, prune=True)
    assert _top(pruned) == _top(full)
    # the same plans were enumerated; fewer were checked and timed, the rest skipped by their bound
    assert pruned.stats.candidates == full.stats.candidates
    assert pruned.stats.evaluated < full.stats.evaluated / 2
    assert pruned.stats.bounded > 0 and pruned.stats.checked < full.stats.checked


def test_cost_objective_is_not_pruned() -> None:
    model, system = load_model("llama3-8b"), load_system("p5")
    job = TrainingJob(tokens=1e12, seq_len=4096, global_batch=512, objective=Objective.COST)
    problem = Problem(model, system, 64, job)
    full = search_plans(problem, quick_space(), top_k=3)
    pruned = search_plans(problem, quick_space(), top_k=3, prune=True)
    assert _top(pruned) == _top(full) and pruned.stats.evaluated == full.stats.evaluated
    assert pruned.stats.bounded == 0


@dataclass(frozen=True)
class FlatToy(ToyStepModel):
    """The toy step time rounded to a coarse grid, so that many plans tie, with exact bounds
    (the bound is the step itself): the pruned search must break ties as the full search does."""

    grid_s: float = 0.5

    def estimate_step(self, model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan,
                      seq_len: int, precision: Precision = Precision.BF16,
                      topology: TopologySpec | None = None) -> StepResult:
        exact = super().estimate_step(model, system, ranks, plan, seq_len, precision, topology)
        step = max(self.grid_s, round(exact.step_time_s / self.grid_s) * self.grid_s)
        tokens = plan.global_batch * seq_len
        return replace(exact, step_time_s=step, tokens_per_s=tokens / step)

    def step_time_lower_bound(self, model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan,
                              seq_len: int, precision: Precision = Precision.BF16,
                              topology: TopologySpec | None = None) -> float:
        return self.estimate_step(model, system, ranks, plan, seq_len, precision, topology).step_time_s

    def step_goodput_upper_bound(self, model: ModelConfig, system: SystemSpec, ranks: int,
                                 topology: TopologySpec | None = None) -> float:
        return 1.0


@pytest.mark.parametrize("dominance", [True, False])
def test_ties_go_to_the_plan_the_full_search_meets_first(dominance: bool) -> None:
    steps = FlatToy(capacity_bytes=6e9)
    problem = toy_problem(ranks=32, global_batch=64)
    space = SearchSpace(tp=(1, 2, 4, 8), pp=(1, 2, 4), cp=(1, 2), interleave=(1, 2), zero_stages=(0, 1, 3),
                        micro_batches=(1, 2, 4))
    full = search_plans(problem, space, top_k=6, steps=steps, recompute_dominance=dominance)
    pruned = search_plans(problem, space, top_k=6, steps=steps, recompute_dominance=dominance, prune=True)
    times = [o.time_to_train_s for o in full.top]
    assert len(set(times)) < len(times)  # ties inside the top 6, so the order among them matters
    assert _top(pruned) == _top(full)
    assert pruned.stats.evaluated < full.stats.evaluated


def test_a_step_model_without_bounds_is_searched_in_full() -> None:
    steps = ToyStepModel(capacity_bytes=6e9)
    problem = toy_problem(ranks=32, global_batch=64)
    full = search_plans(problem, top_k=3, steps=steps)
    pruned = search_plans(problem, top_k=3, steps=steps, prune=True)
    assert _top(pruned) == _top(full) and pruned.stats.evaluated == full.stats.evaluated




#: Real problems where memory binds (many plans do not fit) and where ZeRO-3 changes the floor (Trainium).
TIGHT = [("llama3-70b", "trn1", 128), ("llama3-70b", "p5", 32), ("llama3-8b", "trn2", 16)]
ALL_ZERO = SearchSpace(cp=(1, 2), interleave=(1, 2), micro_batches=(1, 2, 4), zero_stages=(0, 1, 2, 3))


def _problem(model_name: str, system_name: str, ranks: int) -> Problem:
    job = TrainingJob(tokens=1e12, seq_len=4096, global_batch=256)
    return Problem(load_model(model_name), load_system(system_name), ranks, job)


@pytest.mark.parametrize(("model_name", "system_name", "ranks"), TIGHT)
def test_pruned_search_keeps_the_top_k_where_memory_binds(model_name: str, system_name: str,
                                                          ranks: int) -> None:
    """Where many checks fail (the pruned search infers some failures from a lighter plan's), the
    pruned search's best plans are still the full search's."""
    problem = _problem(model_name, system_name, ranks)
    full = search_plans(problem, ALL_ZERO, top_k=3)
    pruned = search_plans(problem, ALL_ZERO, top_k=3, prune=True)
    assert full.stats.infeasible_by_reason[InfeasibleReason.MEMORY] > 0
    assert _top(pruned) == _top(full)


@pytest.mark.parametrize(("model_name", "system_name", "ranks"), TIGHT)
def test_a_plan_needing_more_memory_than_one_that_does_not_fit_does_not_fit(
        model_name: str, system_name: str, ranks: int) -> None:
    """What a pruned search rejects unchecked: in a group, a plan with at least the micro-batch, at
    most the ZeRO stage and at most the recomputation of a plan the cluster's check finds no room for."""
    problem = _problem(model_name, system_name, ranks)
    compared = 0
    for group in candidate_groups(problem, ALL_ZERO):
        verdicts = {c: _check(problem, c, cluster_step) for c in group.members}
        failed = [c for c, v in verdicts.items() if v is InfeasibleReason.MEMORY]
        for candidate in group.members:
            if _no_room(failed, candidate):
                compared += 1
                assert verdicts[candidate] is InfeasibleReason.MEMORY, candidate
    assert compared > 0


@pytest.mark.parametrize(("model_name", "system_name", "ranks"), [*TIGHT, ("mixtral-8x7b", "tpu-v5p", 128)])
def test_a_zero_3_floor_is_no_higher_than_the_other_stages(model_name: str, system_name: str,
                                                          ranks: int) -> None:
    """What a pruned search queues a group on (its ZeRO-3 ladders' floors, the others floored only when
    the group is expanded): with the other knobs equal, ZeRO-3's floor is no higher than ZeRO 0-2's."""
    problem = _problem(model_name, system_name, ranks)
    lower = 0
    for group in candidate_groups(problem, ALL_ZERO):
        floors = {(c.micro_batch, c.zero_stage, c.recompute): step_time_floor(
            problem.model, problem.system, ranks, problem.parallel_plan(c), problem.job.seq_len)
            for c in group.members}
        for (mb, zero, recompute), floor in floors.items():
            if zero < 3 and (mb, 3, recompute) in floors:
                assert floors[mb, 3, recompute] <= floor
                lower += floors[mb, 3, recompute] < floor
    assert lower > 0 or system_name in ("p5", "tpu-v5p")  # a GPU or TPU makes no weight passes: equal


class _Recording:
    """The cluster model, recording the plans it checks and finds room for, and those it bounds or times."""

    def __init__(self) -> None:
        self.fit: list[ParallelPlan] = []
        self.used: list[ParallelPlan] = []

    def check_plan(self, *args: object, **kwargs: object) -> None:
        cluster_step.check_plan(*args, **kwargs)  # type: ignore[arg-type]
        self.fit.append(args[3])  # type: ignore[arg-type]

    def estimate_step(self, *args: object, **kwargs: object) -> StepResult:
        self.used.append(args[3])  # type: ignore[arg-type]
        return cluster_step.estimate_step(*args, **kwargs)  # type: ignore[arg-type]

    def step_time_lower_bound(self, *args: object, **kwargs: object) -> float:
        self.used.append(args[3])  # type: ignore[arg-type]
        return cluster_step.step_time_lower_bound(*args, **kwargs)  # type: ignore[arg-type]

    def step_time_floor(self, *args: object, **kwargs: object) -> float:
        return cluster_step.step_time_floor(*args, **kwargs)  # type: ignore[arg-type]

    def step_goodput_upper_bound(self, *args: object, **kwargs: object) -> float:
        return cluster_step.step_goodput_upper_bound(*args, **kwargs)  # type: ignore[arg-type]


def test_a_group_is_checked_by_its_frugal_member_only_where_a_plan_of_it_does_not_fit() -> None:
    """Where the plans fit, a pruned search checks only plans it goes on to bound or time: the most
    frugal member of a group taken from the heap is checked only once a plan of the group finds no
    room (then the group may be dropped whole, as the full search drops it)."""
    model, system = load_model("llama3-8b"), load_system("p5")
    problem = Problem(model, system, 64, TrainingJob(tokens=1e12, seq_len=4096, global_batch=512))
    space = SearchSpace(cp=(1, 2), interleave=(1, 2), micro_batches=(1, 2), zero_stages=(2, 3))
    steps = _Recording()
    pruned = search_plans(problem, space, top_k=1, prune=True, steps=steps)
    assert _top(pruned) == _top(search_plans(problem, space, top_k=1))
    assert steps.fit and pruned.stats.infeasible == 0  # every plan checked fits
    used = {id(plan) for plan in steps.used}
    assert all(id(plan) in used for plan in steps.fit)
