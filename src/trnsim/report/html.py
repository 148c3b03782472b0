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

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from trnsim.report.entries import Entry, headline, pareto_front

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
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 1rem 0; }
td, th { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
.note { color: #555; font-size: 0.9rem; }
</style>"""


def _label(e: Entry) -> str:
    return f"{e['series']} ({e['chips']:,} chips)"


def time_cost_figure(entries: list[Entry]) -> go.Figure:
    """Time-to-train (days) and cost (USD) per system; unknown cost is marked as such."""
    rows = headline(entries)
    labels = [_label(e) for e in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Time-to-train (days)", "Cost (USD)"))
    fig.add_trace(go.Bar(x=labels, y=[e["time_to_train_days"] for e in rows], name="days"), 1, 1)
    costs = [e["cost_usd"] for e in rows]
    fig.add_trace(
        go.Bar(x=labels, y=[c if c is not None else 0 for c in costs], name="USD",
               text=[f"${c:,.0f}" if c is not None else "price unknown" for c in costs],
               textposition=["auto" if c is not None else "outside" for c in costs]),
        1, 2,
    )
    fig.update_layout(title="Time and cost per system", showlegend=False)
    return fig


def breakdown_figure(entries: list[Entry]) -> go.Figure:
    """Stacked step-time components of each system's best plan."""
    rows = headline(entries)
    labels = [_label(e) for e in rows]
    components = sorted({c for e in rows for c in e.get("breakdown_s", {})})
    fig = go.Figure()
    for component in components:
        fig.add_trace(go.Bar(
            x=labels, y=[e.get("breakdown_s", {}).get(component, 0.0) * 1e3 for e in rows], name=component,
        ))
    fig.update_layout(barmode="stack", title="Step-time breakdown of the best plan", yaxis_title="ms")
    return fig


def memory_figure(entries: list[Entry]) -> go.Figure:
    """Memory per rank of each best plan, next to the rank's capacity where known."""
    rows = headline(entries)
    labels = [_label(e) for e in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=[e["memory_per_rank_bytes"] / GIB for e in rows], name="used"))
    caps = [e.get("memory_capacity_bytes") for e in rows]
    if any(c is not None for c in caps):
        fig.add_trace(go.Scatter(
            x=labels, y=[c / GIB if c is not None else None for c in caps], name="capacity", mode="markers",
            marker={"symbol": "line-ew-open", "size": 30},
        ))
    fig.update_layout(title="Memory per rank", yaxis_title="GiB")
    return fig


def scaling_figure(entries: list[Entry]) -> go.Figure:
    """Time-to-train and per-chip throughput over chip counts, one curve per system."""
    series: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        if e["kind"] in ("scaling", "sweep", "equal-chips"):
            series[e["series"]].append(e)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Time-to-train (days)", "Tokens/s per chip"))
    palette = qualitative.Plotly
    for index, (name, points) in enumerate(sorted(series.items())):
        style = {"color": palette[index % len(palette)]}
        unique = {p["chips"]: p for p in sorted(points, key=lambda p: p["time_to_train_s"], reverse=True)}
        ordered = [unique[c] for c in sorted(unique)]
        xs = [p["chips"] for p in ordered]
        fig.add_trace(go.Scatter(x=xs, y=[p["time_to_train_days"] for p in ordered], name=name,
                                 mode="lines+markers", legendgroup=name, line=style), 1, 1)
        fig.add_trace(go.Scatter(x=xs, y=[p["tokens_per_s"] / p["chips"] for p in ordered], name=name,
                                 mode="lines+markers", legendgroup=name, showlegend=False, line=style), 1, 2)
    fig.update_xaxes(type="log", title="chips")
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(title="Scaling over chip counts")
    return fig


def pareto_figure(entries: list[Entry]) -> go.Figure:
    """Every priced plan as time against cost, with the Pareto front drawn through."""
    priced = [e for e in entries if e.get("cost_usd") is not None]
    fig = go.Figure()
    by_series: dict[str, list[Entry]] = defaultdict(list)
    for e in priced:
        by_series[e["series"]].append(e)
    for name, points in sorted(by_series.items()):
        fig.add_trace(go.Scatter(
            x=[p["time_to_train_days"] for p in points], y=[p["cost_usd"] for p in points], mode="markers",
            name=name, text=[f"{p['chips']:,} chips, {p['plan']}" for p in points],
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
        title += f" — not shown, price unknown: {', '.join(unpriced)}"
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


def results_table(entries: list[Entry]) -> str:
    """An HTML table of the entries."""
    head = ("kind", "system", "chips", "plan", "time (days)", "± (error band)", "tokens/s", "MFU",
            "memory GiB", "cost USD", "energy MWh")
    lines = ["<table><tr>" + "".join(f"<th class='text'>{h}</th>" for h in head) + "</tr>"]
    for e in entries:
        cells = [
            e["kind"], e["series"], f"{e['chips']:,}", e["plan"], _fmt(e["time_to_train_days"], ".2f"),
            _fmt(e.get("error_band"), ".0%"),
            _fmt(e["tokens_per_s"], ",.0f"), _fmt(e["mfu"], ".1%"),
            _fmt(e["memory_per_rank_bytes"] / GIB, ".1f"), _fmt(e.get("cost_usd"), ",.0f"),
            _energy_cell(e),
        ]
        lines.append("<tr>" + "".join(
            f"<td class='text'>{html.escape(str(c))}</td>" if i < 4 else f"<td>{html.escape(str(c))}</td>"
            for i, c in enumerate(cells)
        ) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def render_html(title: str, entries: list[Entry], notes: list[str] | None = None) -> str:
    """The whole page as a string (the caller writes it)."""
    figures = [time_cost_figure(entries), breakdown_figure(entries), memory_figure(entries),
               scaling_figure(entries), pareto_figure(entries)]
    charts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"responsive": True})
        for i, fig in enumerate(figures)
    ]
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in (notes or []))
    return "\n".join([
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
        ERROR_HOOK, STYLE, "</head><body>", f"<h1>{html.escape(title)}</h1>",
        f"<ul class='note'>{note_html}</ul>" if note_html else "",
        *[f"<div class='chart'>{c}</div>" for c in charts],
        "<h2>Results</h2>", results_table(entries),
        "<pre id='trnsim-errors'></pre>", "</body></html>",
    ])
