"""One self-contained HTML page with interactive plotly charts.

The page embeds plotly.js once (no network needed to view it) and draws: time-to-train and cost
per system, the step-time breakdown of each system's best plan, memory per rank against capacity,
the scaling curve over chip counts, and the Pareto front of time against cost. A small script in
the head records any JavaScript error into ``#trnsim-errors`` so a headless browser test can see
that the page ran cleanly.
"""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from trnsim.report.entries import Entry, headline, pareto_front
from trnsim.report.story import break_even_prices, headline_sentence

GIB = 2**30

ERROR_HOOK = """<script>
window.trnsimErrors = [];
function trnsimShowErrors() {
  var box = document.getElementById('trnsim-errors');
  if (box) { box.textContent = window.trnsimErrors.join('\\n'); }
}
window.addEventListener('error', function (event) {
  window.trnsimErrors.push(event.message || 'error');
  trnsimShowErrors();
});
window.addEventListener('load', trnsimShowErrors);
</script>"""

STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1.5rem;
       color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 1rem 0; }
td, th { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
.note { color: #555; font-size: 0.9rem; }
.headline { font-size: 1.15rem; line-height: 1.5; background: #f4f8ff; border-left: 4px solid #36c;
            padding: 0.8rem 1rem; }
</style>"""


def _label(e: Entry) -> str:
    return f"{e['series']} ({e['chips']:,} chips)"


def colour_map(entries: list[Entry]) -> dict[str, str]:
    """One colour per system (series), the same in every chart of the page."""
    palette = qualitative.Plotly
    names = sorted({str(e["series"]) for e in entries})
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def _colours(rows: list[Entry], colours: dict[str, str]) -> list[str]:
    return [colours.get(str(e["series"]), "#888") for e in rows]


def time_cost_figure(entries: list[Entry], colours: dict[str, str] | None = None) -> go.Figure:
    """Time-to-train (days) and cost (USD) per system; unknown cost is marked as such."""
    colours = colours or colour_map(entries)
    rows = headline(entries)
    labels = [_label(e) for e in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Time-to-train", "Cost"))
    fig.add_trace(go.Bar(x=labels, y=[e["time_to_train_days"] for e in rows], name="days",
                         marker_color=_colours(rows, colours),
                         error_y=error_bars(rows, "time_to_train_days")), 1, 1)
    costs = [e["cost_usd"] for e in rows]
    fig.add_trace(
        go.Bar(x=labels, y=[c if c is not None else 0 for c in costs], name="USD",
               marker_color=_colours(rows, colours), error_y=error_bars(rows, "cost_usd"),
               text=[f"${c:,.0f}" if c is not None else "price unknown" for c in costs],
               textposition=["auto" if c is not None else "outside" for c in costs]),
        1, 2,
    )
    fig.update_yaxes(title_text="time-to-train (days)", row=1, col=1)
    fig.update_yaxes(title_text="cost (USD)", row=1, col=2)
    fig.update_xaxes(title_text="system (chips)")
    fig.update_layout(title="Time and cost per system<br><sup>whiskers: each system's error band "
                            "(the validation error of its platform family)</sup>", showlegend=False)
    return fig


def error_bars(rows: list[Entry], key: str) -> dict[str, Any]:
    """Plotly's asymmetric ``error_y`` of ``key`` from the entries' ``<key>_low``/``<key>_high``
    (no whisker where the value or its band is unknown)."""
    up, down = [], []
    for e in rows:
        value, low, high = e.get(key), e.get(f"{key}_low"), e.get(f"{key}_high")
        if value is None or low is None or high is None:
            up.append(0.0)
            down.append(0.0)
        else:
            up.append(float(high) - float(value))
            down.append(float(value) - float(low))
    return {"type": "data", "symmetric": False, "array": up, "arrayminus": down, "visible": True}


def equal_budget_figure(entries: list[Entry], colours: dict[str, str] | None = None) -> go.Figure | None:
    """Time-to-train of each system at one hourly spend (None without equal-budget rows)."""
    rows = [e for e in entries if e["kind"] == "equal-budget"]
    if not rows:
        return None
    colours = colours or colour_map(entries)
    fig = go.Figure(go.Bar(
        x=[_label(e) for e in rows], y=[e["time_to_train_days"] for e in rows],
        marker_color=_colours(rows, colours), error_y=error_bars(rows, "time_to_train_days"),
        text=[f"{e['time_to_train_days']:.1f} d, {e['nodes']:,} nodes" for e in rows], textposition="auto",
    ))
    missing = sorted({str(e["series"]) for e in entries} - {str(e["series"]) for e in rows})
    title = "Equal budget: time-to-train at the same hourly spend (the reference's, or --hourly-budget)"
    if missing:
        title += f"<br><sup>no row, price unknown: {', '.join(missing)}</sup>"
    fig.update_layout(title=title, xaxis_title="system (chips the budget buys)",
                      yaxis_title="time-to-train (days)", showlegend=False)
    return fig


def break_even_figure(entries: list[Entry], reference: str | None,
                      colours: dict[str, str] | None = None) -> go.Figure | None:
    """Each unpriced system's job cost as a function of its hourly price, with break-even prices."""
    evens = break_even_prices(entries, reference)
    if not evens:
        return None
    colours = colours or colour_map(entries)
    top = max(max(e.prices) for e in evens) * 2.0
    prices = [top * i / 100 for i in range(101)]
    fig = go.Figure()
    for even in evens:
        colour = colours.get(even.system, "#888")
        fig.add_trace(go.Scatter(x=prices, y=[even.cost_at(p) for p in prices], mode="lines",
                                 name=f"{even.system} cost", line={"color": colour}))
        for i, (margin, price) in enumerate(zip(even.margins, even.prices, strict=True)):
            # a drop line to the price axis; labels alternate sides so neighbouring prices stay legible
            fig.add_trace(go.Scatter(
                x=[price, price], y=[0, even.cost_at(price)], mode="lines", showlegend=False,
                line={"color": colour, "dash": "dot", "width": 1}, hoverinfo="skip",
            ))
            fig.add_trace(go.Scatter(
                x=[price], y=[even.cost_at(price)], mode="markers+text", showlegend=False,
                marker={"color": colour, "size": 10, "symbol": "diamond"},
                text=[f"{even.system} {margin:.0%} better: ${price:,.2f}/h"],
                textposition="top left" if i % 2 == 0 else "bottom right",
            ))
    ref = evens[0]
    ref_colour = colours.get(ref.reference, "#444")
    fig.add_trace(go.Scatter(x=[0, top], y=[ref.reference_cost_usd] * 2, mode="lines",
                             name=f"{ref.reference} cost (its catalog price)",
                             line={"color": ref_colour, "dash": "dash"}))
    for margin in ref.margins:
        fig.add_trace(go.Scatter(x=[0, top], y=[ref.reference_cost_usd / (1 + margin)] * 2, mode="lines",
                                 name=f"{margin:.0%} better price-performance than {ref.reference}",
                                 line={"color": ref_colour, "dash": "dot", "width": 1}))
    fig.update_layout(title=f"Unpriced systems: job cost against their hourly price (vs {ref.reference})",
                      xaxis_title="price (USD per node-hour)", yaxis_title="cost of the job (USD)")
    return fig


def breakdown_figure(entries: list[Entry], colours: dict[str, str] | None = None) -> go.Figure:
    """Stacked step-time components of each system's best plan."""
    rows = headline(entries)
    labels = [_label(e) for e in rows]
    components = sorted({c for e in rows for c in e.get("breakdown_s", {})})
    fig = go.Figure()
    # components, not systems: a palette of their own so no part reads as a system's colour
    palette = qualitative.Pastel
    for i, component in enumerate(components):
        fig.add_trace(go.Bar(
            x=labels, y=[e.get("breakdown_s", {}).get(component, 0.0) * 1e3 for e in rows], name=component,
            marker_color=palette[i % len(palette)],
        ))
    fig.update_layout(barmode="stack", title="Step-time breakdown of the best plan",
                      xaxis_title="system (chips)", yaxis_title="step time (ms)")
    return fig


def memory_figure(entries: list[Entry], colours: dict[str, str] | None = None) -> go.Figure:
    """Memory per rank of each best plan, next to the rank's capacity where known."""
    colours = colours or colour_map(entries)
    rows = headline(entries)
    labels = [_label(e) for e in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[e["memory_per_rank_bytes"] / GIB for e in rows], name="used",
                         marker_color=_colours(rows, colours)))
    caps = [e.get("memory_capacity_bytes") for e in rows]
    if any(c is not None for c in caps):
        fig.add_trace(go.Scatter(
            x=labels, y=[c / GIB if c is not None else None for c in caps], name="capacity", mode="markers",
            marker={"symbol": "line-ew-open", "size": 30, "color": "black"},
        ))
    fig.update_layout(title="Memory per rank", xaxis_title="system (chips)",
                      yaxis_title="memory per rank (GiB)")
    return fig


def scaling_figure(entries: list[Entry], colours: dict[str, str] | None = None) -> go.Figure:
    """Time-to-train and per-chip throughput over chip counts, one curve per system."""
    colours = colours or colour_map(entries)
    series: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        if e["kind"] in ("scaling", "sweep", "equal-chips"):
            series[e["series"]].append(e)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Time-to-train", "Throughput per chip"))
    for name, points in sorted(series.items()):
        style = {"color": colours.get(name, "#888")}
        unique = {p["chips"]: p for p in sorted(points, key=lambda p: p["time_to_train_s"], reverse=True)}
        ordered = [unique[c] for c in sorted(unique)]
        xs = [p["chips"] for p in ordered]
        fig.add_trace(go.Scatter(x=xs, y=[p["time_to_train_days"] for p in ordered], name=name,
                                 mode="lines+markers", legendgroup=name, line=style), 1, 1)
        fig.add_trace(go.Scatter(x=xs, y=[p["tokens_per_s"] / p["chips"] for p in ordered], name=name,
                                 mode="lines+markers", legendgroup=name, showlegend=False, line=style), 1, 2)
    # chip counts span decades: log x; the values are read linearly (flat = perfect scaling on the right)
    ticks = sorted({p["chips"] for points in series.values() for p in points})
    fig.update_xaxes(type="log", title_text="chips", tickvals=ticks, ticktext=[f"{c:,}" for c in ticks])
    fig.update_yaxes(type="log", title_text="time-to-train (days, log)", row=1, col=1)
    fig.update_yaxes(title_text="tokens/s per chip", rangemode="tozero", row=1, col=2)
    fig.update_layout(title="Scaling over chip counts")
    return fig


def pareto_figure(entries: list[Entry], colours: dict[str, str] | None = None) -> go.Figure:
    """Every priced plan as time against cost, with the Pareto front drawn through."""
    colours = colours or colour_map(entries)
    priced = [e for e in entries if e.get("cost_usd") is not None]
    fig = go.Figure()
    by_series: dict[str, list[Entry]] = defaultdict(list)
    for e in priced:
        by_series[e["series"]].append(e)
    for name, points in sorted(by_series.items()):
        fig.add_trace(go.Scatter(
            x=[p["time_to_train_days"] for p in points], y=[p["cost_usd"] for p in points], mode="markers",
            name=name, text=[f"{p['chips']:,} chips, {p['plan']}" for p in points],
            marker={"color": colours.get(name, "#888"), "size": 9},
        ))
    front = pareto_front(entries)
    if front:
        fig.add_trace(go.Scatter(
            x=[p["time_to_train_days"] for p in front], y=[p["cost_usd"] for p in front],
            mode="lines", name="Pareto front", line={"dash": "dash", "color": "black"},
        ))
    unpriced = sorted({e["series"] for e in entries if e.get("cost_usd") is None})
    title = "Time vs cost (Pareto front)"
    if unpriced:
        title += f"<br><sup>not shown, price unknown: {', '.join(unpriced)} (see the break-even chart)</sup>"
    fig.update_layout(title=title, xaxis_title="time-to-train (days)", yaxis_title="cost (USD)")
    return fig


def _fmt(value: object, spec: str) -> str:
    return "unknown" if value is None else format(value, spec)


def _energy_cell(entry: Entry) -> str:
    """Energy in MWh, with the confidence of the power figure when it is not a published one."""
    text = _fmt(entry.get("energy_mwh"), ",.1f")
    confidence = entry.get("energy_confidence")
    return text if entry.get("energy_mwh") is None or confidence in (None, "published") else \
        f"{text} ({confidence})"


def _unique_rows(entries: list[Entry]) -> list[tuple[str, Entry]]:
    """Entries with the same system, chips and plan shown once, their kinds joined (a scaling point
    at the compared chip count is the equal-chips row)."""
    rows: dict[tuple[object, ...], tuple[list[str], Entry]] = {}
    for e in entries:
        key = (e["series"], e["chips"], e["plan"], e["time_to_train_s"])
        if key in rows:
            rows[key][0].append(str(e["kind"]))
        else:
            rows[key] = ([str(e["kind"])], e)
    return [(", ".join(kinds), e) for kinds, e in rows.values()]


def results_table(entries: list[Entry]) -> str:
    """An HTML table of the entries (rows that repeat another row are shown once)."""
    compared = any(e.get("error_bar_verdict") for e in entries)  # a comparison: each row's verdict
    head = ("kind", "system", "chips", "plan", "time (days)", "± (error band)", "tokens/s", "MFU",
            "memory GiB", "cost USD", "energy MWh", *(["vs the fastest (error bars)"] if compared else []))
    numbers = range(4, 11)  # the right-aligned columns; the verdict is text
    lines = ["<table><tr>" + "".join(f"<th class='text'>{h}</th>" for h in head) + "</tr>"]
    for kind, e in _unique_rows(entries):
        cells = [
            kind, e["series"], f"{e['chips']:,}", e["plan"], _fmt(e["time_to_train_days"], ".2f"),
            _fmt(e.get("error_band"), ".0%"),
            _fmt(e["tokens_per_s"], ",.0f"), _fmt(e["mfu"], ".1%"),
            _fmt(e["memory_per_rank_bytes"] / GIB, ".1f"), _fmt(e.get("cost_usd"), ",.0f"),
            _energy_cell(e), *([e.get("error_bar_verdict") or ""] if compared else []),
        ]
        lines.append("<tr>" + "".join(
            f"<td>{html.escape(str(c))}</td>" if i in numbers
            else f"<td class='text'>{html.escape(str(c))}</td>"
            for i, c in enumerate(cells)
        ) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def sources_table(systems: dict[str, dict[str, Any]]) -> str:
    """Where each system's price and power come from (``compare --json``'s ``meta.systems``)."""
    head = ("system", "USD per node-hour", "price source", "price date", "W per chip", "power source")
    lines = ["<table><tr>" + "".join(f"<th class='text'>{h}</th>" for h in head) + "</tr>"]
    for name, info in systems.items():
        price = info.get("price_usd_per_node_hour")
        power = info.get("power_w_per_chip")
        cells = [name, "unknown (no public price)" if price is None else f"{price:,.2f}",
                 info.get("price_source") or "—", info.get("price_date") or "—",
                 "unknown" if power is None else f"{power:,.0f}", info.get("power_source") or "—"]
        lines.append("<tr>" + "".join(f"<td class='text'>{html.escape(str(c))}</td>" for c in cells)
                     + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def render_html(title: str, entries: list[Entry], notes: list[str] | None = None,
                meta: dict[str, Any] | None = None) -> str:
    """The whole page as a string (the caller writes it).

    With equal-chip entries (a comparison) the page opens with the headline sentence and adds the
    equal-budget and break-even charts; ``meta["systems"]`` adds the price/power source table.
    """
    meta = meta or {}
    colours = colour_map(entries)
    compared = any(e["kind"] == "equal-chips" for e in entries)
    # the equal-budget reference: as compare chose it, else the first priced system compared
    priced = [e["system"] for e in entries if e["kind"] == "equal-chips" and e.get("cost_usd") is not None]
    reference = meta.get("reference") or (priced[0] if priced else None)
    figures: list[go.Figure | None] = [
        time_cost_figure(entries, colours),
        equal_budget_figure(entries, colours) if compared else None,
        break_even_figure(entries, reference, colours) if compared else None,
        scaling_figure(entries, colours), pareto_figure(entries, colours),
        breakdown_figure(entries, colours), memory_figure(entries, colours),
    ]
    drawn = [f for f in figures if f is not None]
    charts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"responsive": True})
        for i, fig in enumerate(drawn)
    ]
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in (notes or []))
    lead = f"<p class='headline'>{html.escape(headline_sentence(entries, reference))}</p>" if compared else ""
    systems = meta.get("systems")
    return "\n".join([
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title>",
        ERROR_HOOK, STYLE, "</head><body>", f"<h1>{html.escape(title)}</h1>", lead,
        f"<ul class='note'>{note_html}</ul>" if note_html else "",
        *[f"<div class='chart'>{c}</div>" for c in charts],
        "<h2>Results</h2>", results_table(entries),
        *(["<h2>Prices and power: sources</h2>", sources_table(systems)] if systems else []),
        "<pre id='trnsim-errors'></pre>", "</body></html>",
    ])
