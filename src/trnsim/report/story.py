"""The answer of a comparison in words and numbers: the headline sentence and Trn2's break-even prices.

Both read report entries (the dicts of ``compare --json``), so the terminal, the HTML page and a
script reading the JSON tell the same story.

Price-performance is work per dollar; for one job it is 1 / cost. A system with ``x`` better
price-performance than a reference (the seed claim: Trn2 30-40 % better than P5e) costs
``reference cost / (1 + x)``. A system without a public price bills ``instance_hours × price``, so
its break-even price for ``x`` is ``reference cost / (1 + x) / instance_hours``.
"""

from __future__ import annotations

from dataclasses import dataclass

from trnsim.report.entries import Entry

__all__ = ["CLAIM_MARGINS", "BreakEven", "break_even_prices", "headline_sentence"]

#: The price-performance margins of the seed claim ("30-40 % better than P5e").
CLAIM_MARGINS = (0.30, 0.40)


def _equal_chips(entries: list[Entry]) -> dict[str, Entry]:
    return {str(e["system"]): e for e in entries if e.get("kind") == "equal-chips"}


def _band(e: Entry) -> str:
    band = e.get("error_band")
    return f" (±{band:.0%})" if isinstance(band, float) else ""


def _ratio(slow: Entry, fast: Entry) -> str:
    return f"{slow['time_to_train_days'] / fast['time_to_train_days']:.2f}×"


def _money(usd: float) -> str:
    for limit, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if usd >= limit:
            return f"${usd / limit:,.3g}{unit}"
    return f"${usd:,.0f}"


def _versus(name: str, other: str, rows: dict[str, Entry]) -> str | None:
    """``"2.10× faster than trn1"`` (time-to-train at equal chips), or None if either is missing."""
    a, b = rows.get(name), rows.get(other)
    if a is None or b is None or name == other:
        return None
    if a["time_to_train_days"] <= b["time_to_train_days"]:
        return f"{_ratio(b, a)} faster than {other}"
    return f"{_ratio(a, b)} slower than {other}"


def headline_sentence(entries: list[Entry], reference: str | None = "p5e") -> str:
    """One or two sentences: fastest and cheapest system at equal chips, by how much, Trn2 vs Trn1/P5e."""
    rows = _equal_chips(entries)
    if not rows:
        return "No system has a feasible plan at the compared chip count."
    ordered = sorted(rows.values(), key=lambda e: e["time_to_train_days"])
    fastest = ordered[0]
    chips = f"{fastest['chips']:,} chips each"
    text = (f"At {chips}, {fastest['system']} trains fastest: {fastest['time_to_train_days']:.1f} days"
            f"{_band(fastest)}")
    if len(ordered) > 1:
        runner = ordered[1]
        text += f", {_ratio(runner, fastest)} faster than the next, {runner['system']}"
    priced = sorted((e for e in ordered if e.get("cost_usd") is not None), key=lambda e: e["cost_usd"])
    if priced:
        cheapest = priced[0]
        text += f"; the cheapest priced is {cheapest['system']} at {_money(cheapest['cost_usd'])}"
        if len(priced) > 1:
            ratio = priced[1]["cost_usd"] / cheapest["cost_usd"]
            text += f" (the next, {priced[1]['system']}, costs {ratio:.2f}× as much)"
    text += "."
    trn2 = next((n for n in ("trn2", "trn2-ultraserver") if n in rows), None)
    if trn2 is not None:
        parts = [p for p in (_versus(trn2, "trn1", rows), _versus(trn2, reference or "", rows)) if p]
        if parts:
            text += f" {trn2} is {' and '.join(parts)}{_band(rows[trn2])}."
        for even in break_even_prices(entries, reference):
            if even.system == trn2:
                prices = " and ".join(f"${p:,.2f}" for p in even.prices)
                margins = " / ".join(f"{m:.0%}" for m in even.margins)
                text += (f" {trn2} has no public price: it is {margins} better in price-performance than "
                         f"{even.reference} (this job's cost, goodput included) at {prices} per node-hour "
                         "or less.")
    return text


@dataclass(frozen=True)
class BreakEven:
    """What an unpriced system must cost per node-hour to beat the reference by each margin."""

    system: str
    reference: str
    reference_cost_usd: float
    instance_hours: float
    margins: tuple[float, ...]
    prices: tuple[float, ...]  # USD per node-hour, one per margin

    def cost_at(self, price: float) -> float:
        """The job's cost on ``system`` at ``price`` USD per node-hour."""
        return self.instance_hours * price


def break_even_prices(entries: list[Entry], reference: str | None = "p5e",
                      margins: tuple[float, ...] = CLAIM_MARGINS) -> list[BreakEven]:
    """Break-even prices of every unpriced system at equal chips against the priced reference."""
    rows = _equal_chips(entries)
    ref = rows.get(reference or "")
    if ref is None or ref.get("cost_usd") is None:
        return []
    out = []
    for name, e in rows.items():
        if e.get("cost_usd") is None and e.get("instance_hours"):
            hours = float(e["instance_hours"])
            prices = tuple(ref["cost_usd"] / (1 + m) / hours for m in margins)
            out.append(BreakEven(name, str(ref["system"]), float(ref["cost_usd"]), hours, margins, prices))
    return out
