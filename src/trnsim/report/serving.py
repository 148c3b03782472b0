"""Serving results for people: the ``serve --compare`` table, CSV and HTML page; the serving validation."""

from __future__ import annotations

import csv
import html
import io

import plotly.graph_objects as go
from rich import box
from rich.console import Console
from rich.table import Table

from trnsim.serve.calibration import FILE, ServingRow
from trnsim.serve.compare import CompareOutcome
from trnsim.serve.estimate import power_note
from trnsim.serve.params import Overheads

__all__ = ["compare_html", "print_compare", "print_serving_validation", "rows_csv", "serving_validation_dict"]

_CAVEAT = ("GPU/TPU serving rests on the analytic efficiency curves, uncalibrated for serving; "
           "Trainium decode overheads are fitted on neuron_trn2_inference.csv.")
# The target is checked on a request's own prefill: say so, and where the queueing figure is.
_TTFT_NOTE = ("TTFT ms: one request's alone (what --ttft-ms is checked against); when a layout's C requests "
              "arrive together the last first token waits for their encodings (ttft_closed_loop_s in the "
              "JSON and CSV; trnsim serve --concurrency C prints it).")


def print_compare(outcome: CompareOutcome, console: Console) -> None:
    """The ranked table and its caveats."""
    limits = (("TPOT", outcome.tpot_s), ("TTFT", outcome.ttft_s))
    target = ", ".join(f"{k} <= {v * 1e3:g} ms" for k, v in limits if v is not None) or "no latency target"
    # borderless, as the training comparison's tables: the nine columns fit 100 columns unwrapped
    table = Table(title=f"best serving layout per system ({target})", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for col in ("system", "layout", "TTFT ms", "TPOT ms", "tok/s", "tok/s/chip", "$/1M tok", "J/tok",
                "break-even $/node-h"):
        text = col in ("system", "layout")
        # numbers never wrap or shorten ("176.…" on 80 columns); the text columns fold instead, and
        # the numbers' two-word headers take two lines
        table.add_column(col if text else col.replace(" ", "\n", 1), justify="left" if text else "right",
                         no_wrap=not text, overflow="fold")
    for c in outcome.choices:
        row = c.row()
        if c.result is None:
            table.add_row(c.system, f"none: {c.why_none}", *[""] * 7)
            continue
        cost, energy, be = (row["cost_per_million_output_tokens_usd"], row["energy_per_output_token_j"],
                            row["break_even_usd_per_node_hour"])
        table.add_row(c.system, f"{row['chips']:g} chips tp{row['tp']} c{row['concurrency']}",
                      f"{row['ttft_s'] * 1e3:,.0f}", f"{row['tpot_s'] * 1e3:,.1f}",
                      f"{row['output_tokens_per_s']:,.0f}", f"{row['output_tokens_per_s_per_chip']:,.0f}",
                      "n/a" if cost is None else f"{cost:,.2f}",
                      _energy_cell(energy, row["energy_confidence"]),
                      "" if be is None else f"{be:,.2f}")
    console.print(table)
    estimated = [c for c in outcome.choices if c.result is not None
                 and c.row()["energy_confidence"] not in (None, "published")]
    if estimated:
        by_note: dict[str, list[str]] = {}
        for c in estimated:
            if c.result is not None:
                by_note.setdefault(power_note(c.result.config.system), []).append(c.system)
        for note, names in by_note.items():
            console.print(f"≈ J/tok: the power per chip of {', '.join(names)} is not published ({note})",
                          markup=False, highlight=False)
    console.print(_TTFT_NOTE, markup=False, highlight=False)
    console.print(_CAVEAT, markup=False, highlight=False)


def _energy_cell(joules: float | None, confidence: str | None) -> str:
    """Energy per token; '≈' when the power behind it is not a published figure (Trn2's estimate)."""
    if joules is None:
        return "n/a"
    return f"{'' if confidence in (None, 'published') else '≈'}{joules:.2f}"



def rows_csv(outcome: CompareOutcome) -> str:
    """The comparison as CSV, one row per system."""
    rows = [c.row() for c in outcome.choices]
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def print_serving_validation(rows: list[ServingRow], fit: Overheads, console: Console) -> None:
    """Per-row TTFT/TPOT errors (mechanisms only, in-sample, leave-one-out) as a rich table."""
    table = Table(title=f"{FILE.removesuffix('.csv')}: TTFT and TPOT on trn2", title_justify="left")
    for col in ("case", "TTFT ms", "meas.", "mech.", "in-sample", "LOO", "TPOT ms", "meas.", "mech.",
                "in-sample", "LOO"):
        table.add_column(col, justify="left" if col == "case" else "right", no_wrap=col == "case")
    e = ServingRow.error
    for r in rows:
        c = r.case
        table.add_row(c.label, f"{r.in_sample[0] * 1e3:,.1f}", f"{c.ttft_s * 1e3:,.1f}",
                      f"{e(r.base_ttft_s, c.ttft_s):+.1%}", f"{e(r.in_sample[0], c.ttft_s):+.1%}",
                      f"{e(r.held_out[0], c.ttft_s):+.1%}", f"{r.in_sample[1] * 1e3:,.2f}",
                      f"{c.tpot_s * 1e3:,.2f}", f"{e(r.base_tpot_s, c.tpot_s):+.1%}",
                      f"{e(r.in_sample[1], c.tpot_s):+.1%}", f"{e(r.held_out[1], c.tpot_s):+.1%}")
    console.print(table)
    console.print(
        "TTFT is the closed-loop client's at the row's concurrency (prompts arriving together, encoded one "
        "execution each on Trainium). mech.: named mechanisms only (chip-model kernels, collectives on the "
        "topology), fixed costs zero; in-sample: the shipped costs of serve/data/serving.toml (the host step "
        "cost fitted on this file); LOO: the host step cost refitted on the other rows. "
        f"Fit on all rows: host step {fit.step_s * 1e3:.2f} ms per graph execution. "
        "GPU/TPU serving is not validated: no published serving runs for them are in the calibration data.",
        markup=False, highlight=False)


def compare_html(outcome: CompareOutcome, title: str) -> str:
    """A self-contained page: cost per million tokens and tokens/s per chip per system, and the table."""
    rows = [c.row() for c in outcome.choices if c.result is not None]
    fig = go.Figure()
    fig.add_bar(x=[r["system"] for r in rows], y=[r["output_tokens_per_s_per_chip"] for r in rows],
                name="output tokens/s per chip")
    priced = [r for r in rows if r["cost_per_million_output_tokens_usd"] is not None]
    fig.add_bar(x=[r["system"] for r in priced],
                y=[r["cost_per_million_output_tokens_usd"] for r in priced],
                name="$ per 1M output tokens", yaxis="y2")
    fig.update_layout(title=title, barmode="group", yaxis={"title": "tokens/s per chip"},
                      yaxis2={"title": "$ per 1M tokens", "overlaying": "y", "side": "right"})
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ("system", "layout", "TTFT ms", "TPOT ms",
                                                            "tok/s/chip", "$/1M tok", "break-even $/node-h"))
    body = []
    for c in outcome.choices:
        r = c.row()
        if c.result is None:
            body.append(f"<tr><td>{html.escape(c.system)}</td><td colspan=6>none: {html.escape(c.why_none)}"
                        "</td></tr>")
            continue
        cost, be = r["cost_per_million_output_tokens_usd"], r["break_even_usd_per_node_hour"]
        cells = [c.system, f"{r['chips']:g} chips tp{r['tp']} c{r['concurrency']}",
                 f"{r['ttft_s'] * 1e3:,.0f}",
                 f"{r['tpot_s'] * 1e3:,.1f}", f"{r['output_tokens_per_s_per_chip']:,.0f}",
                 "n/a" if cost is None else f"{cost:,.2f}", "" if be is None else f"{be:,.2f}"]
        body.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in cells) + "</tr>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{fig.to_html(full_html=False, include_plotlyjs=True)}"
            f"<table border=1><tr>{head}</tr>{''.join(body)}</table>"
            f"<p>{html.escape(_TTFT_NOTE)}</p><p>{html.escape(_CAVEAT)}</p></body></html>")


def serving_validation_dict(rows: list[ServingRow], fit: Overheads) -> dict[str, object]:
    """The serving validation as JSON-ready data: per row predicted, measured and errors three ways."""
    e = ServingRow.error
    out = []
    for r in rows:
        c = r.case
        out.append({
            "file": FILE, "case": c.label, "measured_ttft_s": c.ttft_s, "measured_tpot_s": c.tpot_s,
            "mechanisms_ttft_s": r.base_ttft_s, "mechanisms_tpot_s": r.base_tpot_s,
            "in_sample_ttft_s": r.in_sample[0], "in_sample_tpot_s": r.in_sample[1],
            "held_out_ttft_s": r.held_out[0], "held_out_tpot_s": r.held_out[1],
            "errors": {
                "ttft": {"mechanisms": e(r.base_ttft_s, c.ttft_s), "in_sample": e(r.in_sample[0], c.ttft_s),
                         "held_out": e(r.held_out[0], c.ttft_s)},
                "tpot": {"mechanisms": e(r.base_tpot_s, c.tpot_s), "in_sample": e(r.in_sample[1], c.tpot_s),
                         "held_out": e(r.held_out[1], c.tpot_s)}},
        })
    return {"rows": out, "fit_all_rows": {"step_s": fit.step_s}}
