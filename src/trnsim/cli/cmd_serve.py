"""``trnsim serve``: serve a model on a system: TTFT, TPOT, throughput, memory, cost; or compare systems.

The serving modules are imported inside the command so that ``import trnsim.cli`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trnsim.cli.apps import app
from trnsim.cli.checks import (
    check_output_path,
    split_list,
    use_catalog,
    warn_no_fp8_rate,
)
from trnsim.cli.output import check_keeps_inputs, check_one_stdout, is_stdout, model_file, write_output
from trnsim.errors import ConfigError, TrnsimError
from trnsim.workload.options import Precision

_GIB = 2.0**30


class NothingMeetsError(TrnsimError):
    """Valid input, but no system has a layout within the latency targets (exit 3, as no feasible plan)."""

    exit_status = 3


def _check_mode(compare: bool, given: dict[str, object]) -> None:
    """Refuse an option the chosen mode would ignore: --compare picks the layout itself, and its
    targets and tables mean nothing for one layout."""
    only_one = ("--system", "--chips", "--nodes", "--ranks", "--tp", "--pp", "--ep", "--prefill-chunk",
                "--draft-model", "--speculation-length", "--acceptance-rate")
    only_compare = ("--systems", "--tpot-ms", "--ttft-ms", "--csv", "--html")
    stray = [name for name in (only_one if compare else only_compare) if given.get(name) is not None]
    if stray and compare:
        raise ConfigError(f"{', '.join(stray)} cannot be used with --compare, which searches the layout "
                          "on each system itself (choose systems with --systems); leave them out, or drop "
                          "--compare")
    if stray:
        verb = "applies" if len(stray) == 1 else "apply"
        raise ConfigError(f"{', '.join(stray)} {verb} with --compare only; add --compare to rank systems, "
                          "or leave them out")


def _money(value: float | None) -> str:
    return "n/a (no price)" if value is None else f"${value:,.2f}"


def _print(result: Any) -> None:
    c = result.config
    chips = f"{c.chips:,.0f}" if float(c.chips).is_integer() else f"{c.chips:g}"  # not "1e+06"
    head = Table(title=f"{c.model.name} served on {chips} chips ({c.ranks:,} ranks) of {c.system.name}",
                 show_header=False)
    head.add_row("layout", f"tp{c.tp} pp{c.pp} ep{c.ep}, {c.replicas} replica(s), {c.concurrency} "
                 f"request(s) in flight each")
    head.add_row("load", f"{c.input_tokens} input + {c.output_tokens} output tokens per request")
    ttft = f"{result.ttft_s * 1e3:,.1f} ms"
    if c.concurrency > 1:  # what a closed-loop client measures when all C arrive together
        ttft += f" ({result.ttft_closed_loop_s * 1e3:,.1f} ms when {c.concurrency} arrive together)"
    head.add_row("TTFT", ttft)
    head.add_row("TPOT", f"{result.tpot_s * 1e3:,.2f} ms")
    head.add_row("output tokens/s", f"{result.tokens_per_s_per_user:,.1f} per user, "
                 f"{result.output_tokens_per_s:,.1f} in total")
    head.add_row("memory per rank", result.memory.verdict())
    head.add_row("cost per 1M output tokens", _money(result.cost_per_million_tokens_usd))
    energy = result.energy_per_token_j
    if energy is None:
        head.add_row("energy per output token", "n/a (no power figure)")
    else:
        from trnsim.serve.estimate import energy_confidence

        confidence = energy_confidence(result)
        head.add_row("energy per output token", f"{energy:.3f} J" if confidence in (None, "published") else
                     f"≈{energy:.3f} J (the power per chip is not published: {confidence})")
    parts = Table(title="where the time goes (ms)")
    parts.add_column("part")
    parts.add_column("ms", justify="right")
    for key, value in result.prefill_parts_s.items():
        parts.add_row(f"prefill {key}", f"{value * 1e3:,.2f}")
    d = result.decode
    for key, value in (("ops", d.ops_s), ("tp_comm", d.tp_comm_s), ("ep_comm", d.ep_comm_s),
                       ("pp_comm", d.pp_comm_s), ("overhead", d.overhead_s)):
        parts.add_row(f"decode step {key}", f"{value * 1e3:,.3f}")
    memory = Table(title="memory per rank (GiB)")
    memory.add_column("part")
    memory.add_column("GiB", justify="right")
    for key, value in result.memory.parts().items():
        memory.add_row(key, f"{value / _GIB:.2f}")
    console = Console()
    for table in (head, parts, memory):
        console.print(table)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    _print_model_notes(c.model.notes, console)


def _print_model_notes(notes: tuple[str, ...], console: Console) -> None:
    """What the model config leaves out (a sliding window, a vision tower ...), as ``estimate`` prints it."""
    if notes:
        console.print(f"model notes: {'; '.join(notes)}", markup=False, highlight=False)


@app.command("serve")
def serve(
    model: Annotated[str, typer.Option(help="model preset name or path to a config.json")],
    system: Annotated[str | None, typer.Option(help="system (node) name, e.g. trn2, p5")] = None,
    chips: Annotated[int | None, typer.Option(help="chips (or --nodes / --ranks)")] = None,
    nodes: Annotated[int | None, typer.Option(help="nodes")] = None,
    ranks: Annotated[int | None, typer.Option(help="ranks (logical NeuronCores / GPUs)")] = None,
    tp: Annotated[int | None, typer.Option(help="tensor-parallel size (ranks; default 1)")] = None,
    pp: Annotated[int | None, typer.Option(help="pipeline stages (default 1)")] = None,
    ep: Annotated[int | None, typer.Option(help="expert-parallel size (across replicas; default 1)")] = None,
    concurrency: Annotated[int | None, typer.Option(
        help="requests in flight per replica (default 1; --compare: the most it searches)")] = None,
    input_tokens: Annotated[int, typer.Option(help="prompt tokens per request")] = 1024,
    output_tokens: Annotated[int, typer.Option(help="generated tokens per request")] = 256,
    precision: Annotated[Precision, typer.Option(help="weights: bf16 or fp8")] = Precision.BF16,
    kv_dtype: Annotated[str, typer.Option(help="KV cache: bf16 or fp8")] = "bf16",
    draft_model: Annotated[str | None, typer.Option(
        help="speculative decoding: draft model (preset or config.json)")] = None,
    speculation_length: Annotated[int | None, typer.Option(help="draft tokens per round")] = None,
    acceptance_rate: Annotated[float | None, typer.Option(help="draft acceptance rate")] = None,
    prefill_chunk: Annotated[int | None, typer.Option(help="chunked prefill: tokens per pass")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="rank systems at a target")] = False,
    systems: Annotated[str | None, typer.Option(help="--compare: systems, comma-separated")] = None,
    tpot_ms: Annotated[float | None, typer.Option(help="--compare: TPOT target in ms")] = None,
    ttft_ms: Annotated[float | None, typer.Option(
        help="--compare: TTFT target in ms (a request's own prefill)")] = None,
    csv_out: Annotated[Path | None, typer.Option(
        "--csv", help="--compare: write the table as CSV ('-': stdout, instead of the tables)")] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--html", help="--compare: write an HTML report ('-': stdout)")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="JSON here ('-': stdout, instead of the tables)")] = None,
    catalog: Annotated[Path | None, typer.Option("--catalog", callback=use_catalog,
        help="user catalog directory (systems/, chips/, serving.toml, ...: as $TRNSIM_CATALOG)")] = None,
) -> None:
    """Serve a model: TTFT, TPOT, tokens/s, memory per rank, max concurrency, cost and energy."""
    from trnsim.hardware.catalog import load_system
    from trnsim.serve import estimate_serving
    from trnsim.serve.inputs import CLI, check_systems, rank_count, serve_inputs

    _check_mode(compare, {
        "--system": system, "--chips": chips, "--nodes": nodes, "--ranks": ranks, "--tp": tp, "--pp": pp,
        "--ep": ep, "--prefill-chunk": prefill_chunk, "--draft-model": draft_model,
        "--speculation-length": speculation_length, "--acceptance-rate": acceptance_rate,
        "--systems": systems, "--tpot-ms": tpot_ms, "--ttft-ms": ttft_ms, "--csv": csv_out,
        "--html": html_out})
    check_one_stdout(json=json_out, csv=csv_out, html=html_out)
    check_keeps_inputs({"the --model file": model_file(model)}, json=json_out, csv=csv_out, html=html_out)
    for option, path in (("--json", json_out), ("--csv", csv_out), ("--html", html_out)):
        check_output_path(path, option)
    quiet = any(is_stdout(p) for p in (json_out, csv_out, html_out))  # a document on stdout, alone
    inputs = serve_inputs(model, CLI, concurrency=concurrency, input_tokens=input_tokens,
                          output_tokens=output_tokens, precision=precision.value, kv_dtype=kv_dtype, tp=tp,
                          pp=pp, ep=ep, draft_model=draft_model, speculation_length=speculation_length,
                          acceptance_rate=acceptance_rate, prefill_chunk=prefill_chunk, tpot_ms=tpot_ms,
                          ttft_ms=ttft_ms)
    config = inputs.model
    if compare:
        from trnsim.report.serving import compare_html, print_compare, rows_csv
        from trnsim.serve.compare import DEFAULT_SYSTEMS

        names = split_list(",".join(DEFAULT_SYSTEMS) if systems is None else systems, "--systems", "trn2,p5e",
                           empty=f"'{systems}' names no system")
        warn_no_fp8_rate(precision, check_systems(names, CLI))
        outcome = inputs.compare(names)  # up to --concurrency when it is given (1 included), else freely
        if not quiet:
            console = Console() if Console().is_terminal else Console(width=140)
            print_compare(outcome, console)
            _print_model_notes(config.notes, console)
        if csv_out is not None:
            write_output(csv_out, rows_csv(outcome), "--csv")
        if html_out is not None:
            write_output(html_out, compare_html(outcome, f"serving {config.name}: best layout per system"),
                         "--html")
        if json_out is not None:
            write_output(json_out, json.dumps(outcome.to_dict(), indent=2), "--json")
        if not outcome.any_meets:
            targets = " and ".join(f"{name} {value:g}" for name, value in (("--tpot-ms", tpot_ms),
                                                                           ("--ttft-ms", ttft_ms))
                                   if value is not None)
            raise NothingMeetsError(f"no layout on {', '.join(names)} meets {targets or 'the load'} for "
                                    f"{config.name}; relax the target(s) or give other --systems")
        return
    if system is None:
        raise ConfigError("give --system (or --compare to rank systems)")
    spec = load_system(system)
    warn_no_fp8_rate(precision, [spec])
    result = estimate_serving(inputs.config(spec, rank_count(spec, CLI, chips, nodes, ranks)))
    if not quiet:
        _print(result)
    if json_out is not None:
        write_output(json_out, json.dumps(result.to_dict(), indent=2), "--json")
