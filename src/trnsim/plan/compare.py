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
from trnsim.plan.economics import PlanOutcome
from trnsim.plan.evaluator import Evaluator
from trnsim.plan.problem import ModelShape, Problem, SystemShape, TrainingJob
from trnsim.plan.search import ProgressCallback, SearchResult, search_plans
from trnsim.plan.space import SearchSpace


@dataclass
class SystemRow:
    """One system's answers; a missing answer carries the one-line reason instead."""

    system: SystemShape
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

    model: ModelShape
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


def _search(
    model: ModelShape, system: SystemShape, chips: int, job: TrainingJob, evaluator: Evaluator,
    space: SearchSpace | None, top_k: int, progress: ProgressCallback | None,
) -> SearchResult:
    problem = Problem(model, system, chips * system.ranks_per_chip, job)
    return search_plans(problem, evaluator, space, top_k=top_k, progress=progress)


def compare_systems(
    model: ModelShape,
    systems: Sequence[SystemShape],
    job: TrainingJob,
    chips: int,
    evaluator: Evaluator,
    *,
    space: SearchSpace | None = None,
    scaling_chips: Sequence[int] = (),
    reference: str | None = None,
    hourly_budget_usd: float | None = None,
    top_k: int = 3,
    progress: ProgressCallback | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Comparison:
    """Best plan per system at equal chips, at equal hourly budget, and over ``scaling_chips``."""
    rows = [SystemRow(s) for s in systems]
    for row in rows:
        if on_stage:
            on_stage(f"{row.system.name}: {chips} chips")
        try:
            row.equal_chips = _search(model, row.system, chips, job, evaluator, space, top_k, progress)
        except TrnsimError as error:
            row.equal_chips_error = str(error)
    ref_row = _reference_row(rows, reference)
    budget = hourly_budget_usd
    if budget is None and ref_row is not None and ref_row.best is not None:
        price = ref_row.system.price_usd_per_node_hour
        budget = None if price is None else ref_row.best.nodes * price
    for row in rows:
        _equal_budget(row, model, job, evaluator, space, top_k, budget, progress, on_stage)
        for count in scaling_chips:
            if on_stage:
                on_stage(f"{row.system.name}: scaling at {count} chips")
            try:
                found = _search(model, row.system, count, job, evaluator, space, 1, progress)
                row.scaling.append(found.best)
            except TrnsimError as error:
                row.scaling_errors[count] = str(error)
    return Comparison(model, job, chips, rows, ref_row.system.name if ref_row else None, budget)


def _reference_row(rows: list[SystemRow], reference: str | None) -> SystemRow | None:
    if reference is not None:
        return next((r for r in rows if r.system.name == reference), None)
    priced = [r for r in rows if r.system.price_usd_per_node_hour is not None and r.best is not None]
    return priced[0] if priced else None


def _equal_budget(
    row: SystemRow, model: ModelShape, job: TrainingJob, evaluator: Evaluator, space: SearchSpace | None,
    top_k: int, budget: float | None, progress: ProgressCallback | None,
    on_stage: Callable[[str], None] | None,
) -> None:
    price = row.system.price_usd_per_node_hour
    if budget is None:
        row.equal_budget_note = "no reference price: no system with a known price has a feasible plan"
        return
    if price is None:
        row.equal_budget_note = f"price of {row.system.name} unknown in the catalog (supply one)"
        return
    nodes = nodes_for_budget(budget, price)
    if nodes == 0:
        row.equal_budget_note = f"${budget:,.0f}/h does not buy one {row.system.name} node (${price:,.2f}/h)"
        return
    # 3·2^k nodes may not split over a power-of-two batch; fall back to the largest 2^k.
    tries = [nodes] + ([1 << (nodes.bit_length() - 1)] if nodes & (nodes - 1) else [])
    for count in tries:
        chips = count * row.system.chips_per_node
        if on_stage:
            on_stage(f"{row.system.name}: {chips} chips at equal budget")
        try:
            row.equal_budget = _search(model, row.system, chips, job, evaluator, space, top_k, progress)
        except TrnsimError as error:
            row.equal_budget_note = str(error)
            continue
        row.equal_budget_note = f"{count} nodes × ${price:,.2f}/h = ${count * price:,.0f}/h"
        return
