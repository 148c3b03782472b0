"""Flat report entries: one dict per plan outcome, labelled with where it came from.

Every report format (rich tables, JSON, CSV, HTML) reads these, whether they come from a search,
a comparison or a sweep database, so the three produce the same kind of page. An entry is
:meth:`PlanOutcome.to_dict` plus ``kind`` (``best``, ``top``, ``equal-chips``, ``equal-budget``,
``scaling``, ``sweep``) and ``series`` (the label its curve or bar is drawn under).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.compare import Comparison
from trnsim.plan.economics import PlanOutcome, chip_power
from trnsim.plan.search import SearchResult
from trnsim.report.bands import verdict_by_system

if TYPE_CHECKING:  # the sweep database (sqlite3, the sweep spec's models) only where a sweep is read
    from trnsim.plan.store import StoredResult

Entry = dict[str, Any]


def entry(outcome: PlanOutcome, kind: str, series: str, rank: int = 1) -> Entry:
    """One outcome as a report entry."""
    return {**outcome.to_dict(), "kind": kind, "series": series, "rank": rank}


def entries_from_search(result: SearchResult) -> list[Entry]:
    """The top plans of one search, best first, then the best plan at each rank count searched."""
    top = [entry(o, "top", o.system, i + 1) for i, o in enumerate(result.top)]
    per_ranks = sorted(
        (o for (knob, _), o in result.best_by_knob.items() if knob == "ranks"), key=lambda o: o.ranks
    )
    return top + [entry(o, "scaling", o.system) for o in per_ranks]


def entries_from_comparison(comparison: Comparison) -> list[Entry]:
    """Equal-chip, equal-budget and scaling entries of every system; equal-chip entries carry
    ``error_bar_verdict`` (against the fastest system, :func:`trnsim.report.bands.verdicts`)."""
    verdicts = verdict_by_system(comparison)
    out: list[Entry] = []
    for row in comparison.rows:
        name = row.system.name
        if row.equal_chips is not None:
            # the equal-chip row says whether its gap to the fastest is beyond the error bars
            out.append({**entry(row.equal_chips.best, "equal-chips", name),
                        "error_bar_verdict": verdicts.get(name)})
        if row.equal_budget is not None:
            out.append(entry(row.equal_budget.best, "equal-budget", name))
        out.extend(entry(p, "scaling", name) for p in row.scaling)
    return out


#: What-if sections whose values multiply (their column is 1.0 where a point leaves them out).
_MULTIPLIERS = ("knobs", "scale", "timing_scale")
_SECTIONS = (("knobs", "knob"), ("scale", "scale"), ("set", "set"), ("timing_scale", "timing_scale"),
             ("timing_set", "timing_set"))


def system_meta(system: SystemSpec) -> dict[str, Any]:
    """A compared system's price and power with their sources (``compare``'s ``meta.systems``)."""
    power = chip_power(system)
    return {"price_usd_per_node_hour": system.price_usd_per_node_hour, "price_date": system.price_date,
            "price_source": system.price_source, "power_w_per_chip": None if power is None else power.watts,
            "power_source": None if power is None else power.note,
            "power_confidence": None if power is None else power.confidence}


def swept_columns(whatif: dict[str, Any]) -> dict[str, Any]:
    """One column per what-if value: ``knob_hbm_bw``, ``scale_<key>``, ``set_<key>``, ..."""
    return {f"{prefix}_{key}": value for section, prefix in _SECTIONS
            for key, value in (whatif.get(section) or {}).items()}


def entries_from_sweep(results: list[StoredResult]) -> list[Entry]:
    """Feasible sweep points, each labelled ``system · what-if``, with one column per swept knob."""
    from trnsim.plan.store import PointStatus

    out: list[Entry] = []
    for stored in results:
        if stored.status is not PointStatus.OK:
            continue
        whatif = stored.point["whatif"]["name"]
        series = f"{stored.point['system']} · {stored.point['model']} · {whatif}"
        out.append({**stored.result, "kind": "sweep", "series": series, "whatif": whatif, "rank": 1,
                    **swept_columns(stored.point["whatif"])})
    # Every entry gets every swept column: 1.0 for a multiplier a point leaves alone, else None.
    columns = sorted({k for e in out for k in e if k.startswith(tuple(f"{p}_" for _, p in _SECTIONS))})
    for e in out:
        for column in columns:
            if column not in e:
                e[column] = 1.0 if column.startswith(("knob_", "scale_", "timing_scale_")) else None
    return out


def headline(entries: list[Entry]) -> list[Entry]:
    """The entries a per-system chart shows: equal-chip rows, else the best of each series."""
    preferred = [e for e in entries if e["kind"] in ("equal-chips", "top", "best") and e["rank"] == 1]
    if preferred:
        return preferred
    best: dict[str, Entry] = {}
    for e in entries:
        held = best.get(e["series"])
        if held is None or e["time_to_train_s"] < held["time_to_train_s"]:
            best[e["series"]] = e
    return list(best.values())


def pareto_front(entries: list[Entry]) -> list[Entry]:
    """Entries no other entry beats on both time-to-train and cost (cost must be known)."""
    priced = sorted(
        (e for e in entries if e.get("cost_usd") is not None),
        key=lambda e: (e["time_to_train_s"], e["cost_usd"]),
    )
    front: list[Entry] = []
    for e in priced:
        if not front or e["cost_usd"] < front[-1]["cost_usd"]:
            front.append(e)
    return front
