"""Rich tables for the terminal: ranked plans, system comparisons, claims, sweep summaries."""

from __future__ import annotations

from rich.table import Table

from trnsim.plan.claims import ClaimCheck
from trnsim.plan.compare import Comparison
from trnsim.plan.economics import PlanOutcome
from trnsim.plan.search import SearchResult
from trnsim.report.entries import Entry

GIB = 2**30


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.0f}"


def _energy(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.1f}"


def plans_table(result: SearchResult) -> Table:
    """The top plans of a search, best first, with their step-time breakdown."""
    table = Table(title=f"Top {len(result.top)} plans (ranked by {result.objective.value})")
    for column in ("#", "ranks", "plan", "step (s)", "tokens/s", "MFU", "mem/rank GiB", "days", "cost",
                   "MWh", "breakdown (ms)"):
        table.add_column(column, justify="left" if column in ("plan", "breakdown (ms)") else "right")
    for i, o in enumerate(result.top, 1):
        est = o.estimate
        breakdown = ", ".join(
            f"{k} {v * 1e3:.0f}" for k, v in sorted(est.breakdown_s.items(), key=lambda kv: -kv[1]) if v > 0
        )
        flag = "" if o.meets_constraints else " ✗"
        table.add_row(
            str(i), f"{o.ranks:,}", o.candidate.describe() + flag, f"{est.step_time_s:.3f}",
            f"{est.tokens_per_s:,.0f}", f"{est.mfu:.1%}", f"{est.memory_per_rank_bytes / GIB:.1f}",
            f"{o.time_to_train_days:.2f}", _money(o.cost_usd), _energy(o.energy_mwh), breakdown,
        )
    return table


def _row_cells(o: PlanOutcome | None, note: str | None) -> list[str]:
    if o is None:
        return [note or "no feasible plan", "", "", "", "", "", "", ""]
    return [
        f"{o.chips:,}", o.candidate.describe(), f"{o.time_to_train_days:.2f}", f"{o.tokens_per_s:,.0f}",
        f"{o.estimate.mfu:.1%}", f"{o.instance_hours:,.0f}", _money(o.cost_usd), _energy(o.energy_mwh),
    ]


def comparison_table(comparison: Comparison, equal_budget: bool = False) -> Table:
    """Best plan per system at equal chips (or at equal hourly budget)."""
    if equal_budget:
        budget = comparison.hourly_budget_usd
        title = (f"Equal budget: ${budget:,.0f}/h (the reference {comparison.reference}'s spend)"
                 if budget is not None else "Equal budget: no reference price")
    else:
        title = f"Equal chips: {comparison.chips:,} chips per system"
    table = Table(title=title)
    for column in ("system", "chips", "best plan", "days", "tokens/s", "MFU", "inst-hours", "cost", "MWh",
                   "goodput", "price"):
        table.add_column(column, justify="left" if column in ("system", "best plan", "price") else "right")
    for row in comparison.rows:
        s = row.system
        price = (f"${s.price_usd_per_node_hour:,.2f}/node-h ({s.price_date or 'undated'})"
                 if s.price_usd_per_node_hour is not None else "unknown")
        if equal_budget:
            result, note = row.equal_budget, row.equal_budget_note
        else:
            result, note = row.equal_chips, row.equal_chips_error
        outcome = result.best if result else None
        goodput = f"{outcome.estimate.goodput:.1%}" if outcome else ""
        table.add_row(s.name, *_row_cells(outcome, note), goodput, price)
    return table


def claims_table(claims: list[ClaimCheck]) -> Table:
    """The seed claims next to what trnsim predicts."""
    table = Table(title="Published claims vs trnsim's prediction for this job")
    table.add_column("claim")
    table.add_column("trnsim predicts")
    for claim in claims:
        table.add_row(claim.claim, claim.prediction)
    return table


def sweep_table(entries: list[Entry]) -> Table:
    """One row per feasible sweep point."""
    table = Table(title=f"Sweep: {len(entries)} feasible points")
    for column in ("model", "system", "what-if", "chips", "plan", "days", "tokens/s", "MFU", "cost"):
        text = column in ("model", "system", "what-if", "plan")
        table.add_column(column, justify="left" if text else "right")
    for e in entries:
        table.add_row(
            e["model"], e["system"], e.get("whatif", ""), f"{e['chips']:,}", e["plan"],
            f"{e['time_to_train_days']:.2f}", f"{e['tokens_per_s']:,.0f}", f"{e['mfu']:.1%}",
            _money(e.get("cost_usd")),
        )
    return table
