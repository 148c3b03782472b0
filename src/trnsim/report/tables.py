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
    table = Table(title=f"Top {len(result.top)} plans (ranked by {result.objective.value}; ✗ misses "
                        "deadline or budget)")
    for column in ("#", "ranks", "plan", "step s", "MFU", "GiB/rank", "goodput", "days", "cost", "MWh"):
        table.add_column(column, justify="left" if column == "plan" else "right")
    for i, o in enumerate(result.top, 1):
        est = o.estimate
        flag = "" if o.meets_constraints else " ✗"
        table.add_row(
            str(i), f"{o.ranks:,}", o.candidate.short() + flag, f"{est.step_time_s:.2f}", f"{est.mfu:.0%}",
            f"{est.memory_per_rank_bytes / GIB:.1f}", f"{est.goodput:.0%}", f"{o.time_to_train_days:.1f}",
            _money(o.cost_usd), _energy(o.energy_mwh),
        )
    return table


def breakdown_table(result: SearchResult) -> Table:
    """Where each top plan's step time goes (milliseconds per component)."""
    components = sorted({k for o in result.top for k, v in o.estimate.breakdown_s.items() if v > 0})
    table = Table(title="Step-time breakdown (ms)")
    table.add_column("#", justify="right")
    for component in components:
        table.add_column(component.replace("_", " "), justify="right")
    for i, o in enumerate(result.top, 1):
        table.add_row(str(i), *(f"{o.estimate.breakdown_s.get(c, 0.0) * 1e3:,.0f}" for c in components))
    return table


def _row_cells(o: PlanOutcome | None, note: str | None) -> list[str]:
    if o is None:
        return [note or "no feasible plan", "", "", "", "", "", "", ""]
    return [
        f"{o.chips:,}", o.candidate.short(), f"{o.time_to_train_days:.1f}",
        f"{o.tokens_per_s / o.chips:,.0f}", f"{o.estimate.mfu:.0%}", f"{o.estimate.goodput:.0%}",
        _money(o.cost_usd), _energy(o.energy_mwh),
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
    for column in ("system", "chips", "best plan", "days", "tok/s/chip", "MFU", "goodput", "cost", "MWh"):
        table.add_column(column, justify="left" if column in ("system", "best plan") else "right")
    for row in comparison.rows:
        if equal_budget:
            result, note = row.equal_budget, row.equal_budget_note
        else:
            result, note = row.equal_chips, row.equal_chips_error
        table.add_row(row.system.name, *_row_cells(result.best if result else None, note))
    return table


def prices_table(comparison: Comparison) -> Table:
    """The catalog price behind each cost, with its date and source (or that it is unknown)."""
    table = Table(title="Prices and power used (catalog; override with --catalog DIR)")
    for column in ("system", "USD/node-h", "date", "price source", "W/chip", "power source"):
        table.add_column(column)
    for row in comparison.rows:
        s = row.system
        power = ("unknown", "no power in the catalog: energy not reported") if s.power_w_per_chip is None \
            else (f"{s.power_w_per_chip:,.0f}", s.power_note or "")
        if s.price_usd_per_node_hour is None:
            table.add_row(s.name, "unknown", "", "no price in the catalog: cost not reported", *power)
        else:
            table.add_row(s.name, f"{s.price_usd_per_node_hour:,.2f}", s.price_date or "undated",
                          s.price_source or "", *power)
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
