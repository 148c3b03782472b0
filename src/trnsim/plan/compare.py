"""Compare systems on one job: the best plan on each at equal chip count and at equal budget.

*Equal chips* gives every system the same number of chips. *Equal budget* gives every system the
same hourly spend as the reference system's equal-chip plan (the first system with a known price
unless one is named): as many whole nodes as that spend buys, rounded down to a count of the form
2^k or 3·2^k (then 2^k if that does not split) so the ranks still split over the usual
power-of-two batch sizes. A system without a
price has no equal-budget plan and says so. A scaling curve (best plan at several chip counts)
shows how each system holds up as the job spreads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trnsim.errors import TrnsimError
from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.economics import PlanOutcome
from trnsim.plan.problem import Problem, TrainingJob
from trnsim.plan.search import ProgressCallback, SearchResult, StepModel, search_plans
from trnsim.plan.space import SearchSpace
from trnsim.workload.config import ModelConfig


@dataclass
class SystemRow:
    """One system's answers; a missing answer carries the one-line reason instead."""

    system: SystemSpec
    equal_chips: SearchResult | None = None
    equal_chips_error: str | None = None
    equal_budget: SearchResult | None = None
    equal_budget_note: str | None = None
    scaling: list[PlanOutcome] = field(default_factory=list)
    scaling_errors: dict[int, str] = field(default_factory=dict)

    @property
    def best(self) -> PlanOutcome | None:
        """The best plan at equal chips, if any."""
        return self.equal_chips.best if self.equal_chips else None


@dataclass
class Comparison:
    """The result of :func:`compare_systems`."""

    model: ModelConfig
    job: TrainingJob
    chips: int
    rows: list[SystemRow]
    reference: str | None
    hourly_budget_usd: float | None

    def row(self, name: str) -> SystemRow | None:
        """The row of a system by name."""
        return next((r for r in self.rows if r.system.name == name), None)


def nodes_for_budget(hourly_budget_usd: float, price_usd_per_node_hour: float) -> int:
    """Whole nodes an hourly budget buys, rounded down to 2^k or 3·2^k (0 if not even one)."""
    affordable = int(hourly_budget_usd // price_usd_per_node_hour)
    best, power = 0, 1
    while power <= affordable:
        best = max(best, power, 3 * power if 3 * power <= affordable else 0)
        power *= 2
    return best


SearchKey = tuple[str, int]

#: Modules a worker process needs to run a search (besides this one), imported once by the fork server.
_WORKER_MODULES = ["trnsim.cluster.step"]

#: At most this many processes by default: a comparison has a few dozen searches of uneven size.
COMPARE_MAX_WORKERS = 4


def compare_parallelism(workers: int | None) -> tuple[int, bool]:
    """:func:`compare_systems`' ``workers`` and ``split`` for a user's worker count (None: the
    default): a pool of up to :data:`COMPARE_MAX_WORKERS` on more than two cores, and on two cores
    one process with the other chip families' searches in a forked child; a given count as given."""
    from trnsim.plan.pool import cpu_count, default_workers

    if workers is not None:
        return workers, False
    return default_workers(COMPARE_MAX_WORKERS), cpu_count() >= 2


def _search_task(
    model: ModelConfig, system: SystemSpec, chips: int, job: TrainingJob, steps: StepModel | None,
    space: SearchSpace | None, top_k: int,
) -> SearchResult | str:
    """One search, its user error returned as text (module-level so a process pool can run it).

    Branch and bound (``prune``): a comparison reports each search's top plans, not the
    alternatives a pruned search leaves out, and times about a quarter of the plans.
    """
    try:
        return search_plans(Problem(model, system, chips * system.ranks_per_chip, job), space, top_k=top_k,
                            steps=steps, prune=True)
    except TrnsimError as error:
        return str(error)


class _Searches:
    """Runs and remembers searches by (system, chips): a repeated one is not run twice.

    With ``workers`` > 1, :meth:`prefetch` runs a batch of searches in a process pool (each
    search is independent; models, systems and a test's step model are picklable). Workers come from a fork
    server that has imported the planner once (spawned processes where there is none).
    """

    def __init__(self, model: ModelConfig, job: TrainingJob, steps: StepModel | None,
                 space: SearchSpace | None, top_k: int, workers: int, progress: ProgressCallback | None,
                 on_stage: Callable[[str], None] | None, split: bool = False) -> None:
        self.model, self.job, self.steps, self.space = model, job, steps, space
        self.top_k, self.workers, self.progress, self.on_stage = top_k, workers, progress, on_stage
        self.split = split
        self.done: dict[SearchKey, SearchResult | str] = {}

    def _record(self, key: SearchKey, result: SearchResult | str) -> None:
        self.done[key] = result
        if self.progress is not None and isinstance(result, SearchResult):
            self.progress(result.stats.candidates)
        if self.on_stage:
            self.on_stage(f"done: {key[0]} at {key[1]:,} chips")

    def prefetch(self, wanted: list[tuple[SystemSpec, int]]) -> None:
        todo = list({(s.name, c): (s, c) for s, c in wanted if (s.name, c) not in self.done}.values())
        if self.split and self.workers <= 1 and len(todo) > 1:
            self._split(todo)
            return
        if self.workers <= 1 or len(todo) <= 1:
            return
        from trnsim.plan.pool import run_in_pool

        tasks = [((s.name, c), (self.model, s, c, self.job, self.steps, self.space, self.top_k))
                 for s, c in todo]
        for key, result in run_in_pool(_search_task, tasks, self.workers, preload=_WORKER_MODULES):
            self._record(key, result)

    def _split(self, todo: list[tuple[SystemSpec, int]]) -> None:
        """The searches of the first system's chip family here, the others' in one forked process
        at the same time (:func:`trnsim.plan.fork.run_forked`); where it cannot fork, or no core is
        spare (:func:`trnsim.plan.fork.spare_core`), they are left to :meth:`get`, one by one with
        their progress."""
        from trnsim.plan.fork import can_fork, run_forked, spare_core
        from trnsim.plan.pool import cpu_count

        family = todo[0][0].chip.family
        mine = [(s, c) for s, c in todo if s.chip.family is family]
        theirs = [(s, c) for s, c in todo if s.chip.family is not family]
        if not theirs or not can_fork() or not spare_core(cpu_count()):
            return
        tasks = [((s.name, c), (self.model, s, c, self.job, self.steps, self.space, self.top_k))
                 for s, c in theirs]
        with run_forked(_search_task, tasks) as collect:
            for system, chips in mine:
                self.get(system, chips)
            results = collect()
        for key, result in results:
            self._record(key, result)

    def get(self, system: SystemSpec, chips: int) -> SearchResult | str:
        key = (system.name, chips)
        if key not in self.done:
            if self.on_stage:
                self.on_stage(f"{system.name}: {chips:,} chips")
            self._record(key, _search_task(self.model, system, chips, self.job, self.steps, self.space,
                                           self.top_k))
        return self.done[key]


def compare_systems(
    model: ModelConfig,
    systems: Sequence[SystemSpec],
    job: TrainingJob,
    chips: int,
    *,
    space: SearchSpace | None = None,
    scaling_chips: Sequence[int] = (),
    reference: str | None = None,
    hourly_budget_usd: float | None = None,
    top_k: int = 3,
    progress: ProgressCallback | None = None,
    on_stage: Callable[[str], None] | None = None,
    workers: int = 1,
    steps: StepModel | None = None,
    split: bool = False,
) -> Comparison:
    """Best plan per system at equal chips, at equal hourly budget, and over ``scaling_chips``.

    ``workers`` > 1 runs independent searches in that many processes; ``steps`` times the plans
    (the cluster model unless given). ``split`` (with one worker) runs the searches of the systems
    whose chip family differs from the first system's in one forked process meanwhile (where it can
    fork: :mod:`trnsim.plan.fork`), each process sharing its caches among its own searches: the
    same answers, in about the time of the larger half on two cores.
    """
    searches = _Searches(model, job, steps, space, top_k, workers, progress, on_stage, split)
    rows = [SystemRow(s) for s in systems]
    searches.prefetch([(s, chips) for s in systems] + [(s, c) for s in systems for c in scaling_chips])
    for row in rows:
        found = searches.get(row.system, chips)
        if isinstance(found, SearchResult):
            row.equal_chips = found
        else:
            row.equal_chips_error = found
    ref_row = _reference_row(rows, reference)
    budget = hourly_budget_usd
    if budget is None and ref_row is not None and ref_row.best is not None:
        price = ref_row.system.price_usd_per_node_hour
        budget = None if price is None else ref_row.best.nodes * price
    searches.prefetch([(r.system, c) for r in rows for c in _budget_chips(r.system, budget)[:1]])
    for row in rows:
        _equal_budget(row, budget, searches)
        for count in scaling_chips:
            found = searches.get(row.system, count)
            if isinstance(found, SearchResult):
                row.scaling.append(found.best)
            else:
                row.scaling_errors[count] = found
    return Comparison(model, job, chips, rows, ref_row.system.name if ref_row else None, budget)


def _reference_row(rows: list[SystemRow], reference: str | None) -> SystemRow | None:
    if reference is not None:
        return next((r for r in rows if r.system.name == reference), None)
    priced = [r for r in rows if r.system.price_usd_per_node_hour is not None and r.best is not None]
    return priced[0] if priced else None


def _budget_chips(system: SystemSpec, budget: float | None) -> list[int]:
    """Chip counts to try at an hourly budget: 2^k or 3·2^k nodes, then 2^k (empty: none)."""
    price = system.price_usd_per_node_hour
    if budget is None or price is None:
        return []
    nodes = nodes_for_budget(budget, price)
    if nodes == 0:
        return []
    # 3·2^k nodes may not split over a power-of-two batch; fall back to the largest 2^k.
    tries = [nodes] + ([1 << (nodes.bit_length() - 1)] if nodes & (nodes - 1) else [])
    return [n * system.chips_per_node for n in tries]


def _equal_budget(row: SystemRow, budget: float | None, searches: _Searches) -> None:
    price = row.system.price_usd_per_node_hour
    if budget is None:
        row.equal_budget_note = "no reference price: no system with a known price has a feasible plan"
        return
    if price is None:
        row.equal_budget_note = f"price of {row.system.name} unknown in the catalog (supply one)"
        return
    tries = _budget_chips(row.system, budget)
    if not tries:
        row.equal_budget_note = f"${budget:,.0f}/h does not buy one {row.system.name} node (${price:,.2f}/h)"
        return
    for chips in tries:
        found = searches.get(row.system, chips)
        if isinstance(found, str):
            row.equal_budget_note = found
            continue
        row.equal_budget = found
        nodes = chips // row.system.chips_per_node
        row.equal_budget_note = f"{nodes} nodes × ${price:,.2f}/h = ${nodes * price:,.0f}/h"
        return
