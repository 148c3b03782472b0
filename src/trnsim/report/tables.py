"""Rich tables for the terminal: ranked plans, system comparisons, claims, sweep summaries."""

from __future__ import annotations

from rich import box
from rich.table import Table

from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.claims import ClaimCheck
from trnsim.plan.compare import Comparison
from trnsim.plan.economics import PlanOutcome, chip_power
from trnsim.plan.search import SearchResult
from trnsim.report.bands import band_legend as band_legend  # re-exported: its old home
from trnsim.report.bands import band_verdicts as band_verdicts  # re-exported: its old home
from trnsim.report.entries import Entry

GIB = 2**30


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.0f}"


def plans_table(result: SearchResult) -> Table:
    """The top plans of a search, best first, with their step-time breakdown."""
    table = _narrow_table(f"Top {len(result.top)} plans (ranked by {result.objective.value}; ✗ misses "
                          "deadline or budget)")
    for column in ("#", "ranks", "plan", "step s", "±", "MFU", "GiB/rank", "goodput", "days", "cost", "MWh"):
        _add_column(table, column, text=column == "plan")
    for i, o in enumerate(result.top, 1):
        est = o.estimate
        flag = "" if o.meets_constraints else " ✗"
        table.add_row(
            str(i), f"{o.ranks:,}", o.candidate.short() + flag, f"{est.step_time_s:.2f}", _band(o),
            f"{est.mfu:.0%}",
            f"{est.memory_per_rank_bytes / GIB:.1f}", f"{est.goodput:.0%}", f"{o.time_to_train_days:.1f}",
            _money(o.cost_usd), _energy_short(o, ",.1f", "unknown"),
        )
    return table


def breakdown_table(result: SearchResult) -> Table:
    """Where each top plan's step time goes (milliseconds per component)."""
    components = sorted({k for o in result.top for k, v in o.estimate.breakdown.items() if v > 0})
    table = Table(title="Step-time breakdown (ms)")
    table.add_column("#", justify="right")
    for component in components:
        table.add_column(component.replace("_", " "), justify="right")
    for i, o in enumerate(result.top, 1):
        table.add_row(str(i), *(f"{o.estimate.breakdown.get(c, 0.0) * 1e3:,.0f}" for c in components))
    return table


def _money_short(value: float | None) -> str:
    """Dollars in at most 7 characters: $950, $12.3k, $18.4M, $1.20B."""
    if value is None:
        return "n/a"  # no price in the catalog (the prices table says so)
    for limit, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"${scaled:.3g}{unit}" if scaled < 1000 else f"${scaled:,.0f}{unit}"
    return f"${value:,.0f}"


def _band(o: PlanOutcome) -> str:
    """The relative error band of a plan's step time, time-to-train and cost (they scale together)."""
    return "?" if o.error_band is None else f"{o.error_band.fraction:.0%}"


def _add_column(table: Table, column: str, text: bool) -> None:
    """Numbers never wrap; text (a plan, a name) wraps at spaces and folds a word longer than the
    column onto the next line rather than cut it to "…" ("recompute=selective" is what reproduces a
    plan; on a narrow terminal the text columns shrink, the numbers keep their width)."""
    table.add_column(column, justify="left" if text else "right", no_wrap=not text,
                     overflow="fold" if text else "ellipsis")


def _narrow_table(title: str) -> Table:
    """A borderless table, columns two spaces apart: the comparison tables fit 100 columns."""
    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                 title_justify="left")


def _energy_short(o: PlanOutcome, spec: str = ",.0f", missing: str = "n/a") -> str:
    """Energy in MWh; '≈' when the power behind it is not a published figure (e.g. Trn2's estimate)."""
    if o.energy_mwh is None:
        return missing
    mark = "" if o.energy_confidence in (None, "published") else "≈"
    return f"{mark}{o.energy_mwh:{spec}}"


def estimated_power_note(system: SystemSpec) -> list[str]:
    """The line that explains '≈' in a plan's MWh column: the power per chip is not a published figure."""
    power = chip_power(system)
    if power is None or power.confidence in (None, "published"):
        return []
    return [f"≈ MWh: the power per chip of {system.name} is not published: {power.watts:,.0f} W, "
            f"{power.note}"]


def _row_cells(o: PlanOutcome | None, with_chips: bool) -> list[str]:
    if o is None:  # why is printed below the table (a note in a cell would wrap into a column)
        return (["—"] if with_chips else []) + ["— (see below)"] + ["—"] * 7
    cells = [
        o.candidate.short(), f"{o.time_to_train_days:.1f}", _band(o),
        f"{o.tokens_per_s / o.chips:,.0f}", f"{o.estimate.mfu:.0%}", f"{o.estimate.goodput:.0%}",
        _money_short(o.cost_usd), _energy_short(o),
    ]
    return [f"{o.chips:,}", *cells] if with_chips else cells


def budget_origin(comparison: Comparison) -> str:
    """Where the equal budget comes from: the reference's spend at equal chips, or the user's figure."""
    ref = next((r for r in comparison.rows if r.system.name == comparison.reference), None)
    price = ref.system.price_usd_per_node_hour if ref is not None else None
    if ref is not None and ref.best is not None and price is not None \
            and comparison.hourly_budget_usd == ref.best.nodes * price:
        return f"the reference {comparison.reference}'s spend"
    return "given with --hourly-budget"


def comparison_table(comparison: Comparison, equal_budget: bool = False) -> Table:
    """Best plan per system at equal chips (or at equal hourly budget); notes in :func:`comparison_notes`."""
    if equal_budget:
        budget = comparison.hourly_budget_usd
        title = (f"Equal budget: ${budget:,.0f}/h ({budget_origin(comparison)})"
                 if budget is not None else "Equal budget: no reference price")
    else:
        title = f"Equal chips: {comparison.chips:,} chips per system"
    table = _narrow_table(title)
    columns = ["system", *(["chips"] if equal_budget else []), "best plan", "days", "±", "tok/s\nper chip",
               "MFU", "goodput", "cost", "MWh"]
    for column in columns:
        text = column in ("system", "best plan")
        # numbers never wrap or shorten; a plan too long for its share wraps at a space instead
        table.add_column(column, justify="left" if text else "right", no_wrap=column != "best plan")
    for row in comparison.rows:
        result = row.equal_budget if equal_budget else row.equal_chips
        table.add_row(row.system.name, *_row_cells(result.best if result else None, equal_budget))
    return table


def comparison_notes(comparison: Comparison, equal_budget: bool = False) -> list[str]:
    """One line per system with a note: why it has no plan, or what the budget buys."""
    notes = []
    for row in comparison.rows:
        note = row.equal_budget_note if equal_budget else row.equal_chips_error
        if note:
            notes.append(f"{row.system.name}: {note}")
    estimated = [row.system.name for row in comparison.rows
                 if (power := chip_power(row.system)) is not None
                 and power.confidence not in (None, "published")]
    if estimated:
        notes.append(f"≈ MWh: the power per chip of {', '.join(estimated)} is not published "
                     "(confidence in the prices and power table)")
    return notes


def prices_table(comparison: Comparison) -> Table:
    """The catalog price and power behind each cost and energy, with date and source (or unknown)."""
    table = _narrow_table("Prices and power used (catalog; override with --catalog DIR)")
    table.add_column("system", no_wrap=True)
    table.add_column("USD/node-h", justify="right")
    table.add_column("date")
    table.add_column("W/chip", justify="right")
    table.add_column("sources (price; power)")
    for row in comparison.rows:
        s = row.system
        if s.price_usd_per_node_hour is None:
            price, date, price_source = "unknown", "", "no price in the catalog: cost not reported"
        else:
            price = f"{s.price_usd_per_node_hour:,.2f}"
            date, price_source = s.price_date or "undated", s.price_source or "no source"
        chip = chip_power(s)
        if chip is None:
            power, power_source = "unknown", "no power in the catalog: energy not reported"
        else:
            power, power_source = f"{chip.watts:,.0f}", chip.note or "no source"
        table.add_row(s.name, price, date, power, f"{price_source}; {power_source}")
    return table


def claims_table(claims: list[ClaimCheck]) -> Table:
    """The seed claims next to what trnsim predicts."""
    table = _narrow_table("Published claims vs trnsim's prediction for this job")
    table.add_column("claim", ratio=1)
    table.add_column("trnsim predicts", ratio=2)
    for claim in claims:
        table.add_row(claim.claim, claim.prediction)
    return table


def sweep_table(entries: list[Entry]) -> Table:
    """One row per feasible sweep point."""
    table = _narrow_table(f"Sweep: {len(entries)} feasible points")
    for column in ("model", "system", "what-if", "chips", "plan", "days", "±", "tokens/s", "MFU", "cost"):
        _add_column(table, column, text=column in ("model", "system", "what-if", "plan"))
    for e in entries:
        table.add_row(
            e["model"], e["system"], e.get("whatif", ""), f"{e['chips']:,}", e["plan"],
            f"{e['time_to_train_days']:.2f}",
            "?" if e.get("error_band") is None else f"{e['error_band']:.0%}",
            f"{e['tokens_per_s']:,.0f}", f"{e['mfu']:.1%}",
            _money(e.get("cost_usd")),
        )
    return table
