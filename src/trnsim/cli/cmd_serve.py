"""``trnsim serve``: serve a model on a system: TTFT, TPOT, throughput, memory, cost; or compare systems.

The serving modules are imported inside the command so that ``import trnsim.cli`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trnsim.cli.apps import app
from trnsim.cli.checks import check_output_path, check_rank_count
from trnsim.errors import ConfigError
from trnsim.workload.options import Precision

_GIB = 2.0**30


def _ranks(system: Any, chips: int | None, nodes: int | None, ranks: int | None) -> int:
    given = [v for v in (chips, nodes, ranks) if v is not None]
    if len(given) != 1:
        raise ConfigError("give exactly one of --chips, --nodes or --ranks")
    if given[0] < 1:
        raise ConfigError(f"--chips/--nodes/--ranks must be at least 1, got {given[0]}")
    if chips is not None:
        return chips * system.ranks_per_chip
    if nodes is not None:
        return nodes * system.ranks_per_node
    return int(ranks or 0)


def _bytes(option: str, value: str) -> int:
    table = {"bf16": 2, "fp8": 1}
    if value not in table:
        raise ConfigError(f"{option} '{value}' is not known; valid: bf16, fp8")
    return table[value]


def _money(value: float | None) -> str:
    return "n/a (no price)" if value is None else f"${value:,.2f}"


def _print(result: Any) -> None:
    c = result.config
    head = Table(title=f"{c.model.name} served on {c.chips:g} chips ({c.ranks} ranks) of {c.system.name}",
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


def _write_json(target: Path | None, payload: Any) -> None:
    if target is None:
        return
    text = json.dumps(payload, indent=2)
    if str(target) == "-":
        sys.stdout.write(text + "\n")
        return
    try:
        target.write_text(text)
    except OSError as error:
        raise ConfigError(f"cannot write --json file '{target}': {error.strerror}") from None


@app.command("serve")
def serve(
    model: Annotated[str, typer.Option(help="model preset name or path to a config.json")],
    system: Annotated[str | None, typer.Option(help="system (node) name, e.g. trn2, p5")] = None,
    chips: Annotated[int | None, typer.Option(help="chips (or --nodes / --ranks)")] = None,
    nodes: Annotated[int | None, typer.Option(help="nodes")] = None,
    ranks: Annotated[int | None, typer.Option(help="ranks (logical NeuronCores / GPUs)")] = None,
    tp: Annotated[int, typer.Option(help="tensor-parallel size (ranks)")] = 1,
    pp: Annotated[int, typer.Option(help="pipeline stages")] = 1,
    ep: Annotated[int, typer.Option(help="expert-parallel size (across replicas)")] = 1,
    concurrency: Annotated[int, typer.Option(help="requests in flight per replica")] = 1,
    input_tokens: Annotated[int, typer.Option(help="prompt tokens per request")] = 1024,
    output_tokens: Annotated[int, typer.Option(help="generated tokens per request")] = 256,
    precision: Annotated[Precision, typer.Option(help="weights: bf16 or fp8")] = Precision.BF16,
    kv_dtype: Annotated[str, typer.Option(help="KV cache: bf16 or fp8")] = "bf16",
    draft_model: Annotated[str | None, typer.Option(help="speculative decoding: draft model preset")] = None,
    speculation_length: Annotated[int | None, typer.Option(help="draft tokens per round")] = None,
    acceptance_rate: Annotated[float | None, typer.Option(help="draft acceptance rate")] = None,
    prefill_chunk: Annotated[int | None, typer.Option(help="chunked prefill: tokens per pass")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="rank systems at a target")] = False,
    systems: Annotated[str | None, typer.Option(help="--compare: systems, comma-separated")] = None,
    tpot_ms: Annotated[float | None, typer.Option(help="--compare: TPOT target in ms")] = None,
    ttft_ms: Annotated[float | None, typer.Option(help="--compare: TTFT target in ms")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="--compare: write the table as CSV")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="--compare: write an HTML report")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="JSON here ('-': stdout)")] = None,
) -> None:
    """Serve a model: TTFT, TPOT, tokens/s, memory per rank, max concurrency, cost and energy."""
    from trnsim.hardware.catalog import load_system
    from trnsim.serve import ServeConfig, Speculation, estimate_serving, load_serving_params
    from trnsim.workload.models import load_model

    if str(json_out) != "-":
        check_output_path(json_out, "--json")
    check_output_path(csv_out, "--csv")
    check_output_path(html_out, "--html")
    for name, value in (("--input-tokens", input_tokens), ("--output-tokens", output_tokens),
                        ("--concurrency", concurrency), ("--tp", tp), ("--pp", pp), ("--ep", ep)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    weight_bytes, kv_bytes = _bytes("--precision", precision.value), _bytes("--kv-dtype", kv_dtype)
    config = load_model(model)
    if input_tokens + output_tokens > config.max_seq_len:
        raise ConfigError(f"--input-tokens + --output-tokens = {input_tokens + output_tokens} exceeds "
                          f"{config.name}'s max_seq_len={config.max_seq_len}")
    params = load_serving_params()
    speculation = None
    if draft_model is not None or speculation_length is not None or acceptance_rate is not None:
        if draft_model is None:
            raise ConfigError("--speculation-length/--acceptance-rate need --draft-model")
        from trnsim.workload.models import list_models
        if draft_model not in list_models() and not Path(draft_model).exists():
            raise ConfigError(f"unknown draft model '{draft_model}'; valid: {', '.join(list_models())}")
        speculation = Speculation(
            load_model(draft_model),
            speculation_length if speculation_length is not None else params.speculation_length,
            acceptance_rate if acceptance_rate is not None else params.acceptance_rate)
    if compare:
        from trnsim.report.serving import compare_html, print_compare, rows_csv
        from trnsim.serve.compare import DEFAULT_SYSTEMS, compare_serving

        names = [s.strip() for s in (systems or ",".join(DEFAULT_SYSTEMS)).split(",") if s.strip()]
        outcome = compare_serving(config, names, concurrency_max=concurrency if concurrency > 1 else None,
                                  input_tokens=input_tokens, output_tokens=output_tokens,
                                  weight_bytes=weight_bytes, kv_bytes=kv_bytes, tpot_s=None if tpot_ms is None
                                  else tpot_ms / 1e3, ttft_s=None if ttft_ms is None else ttft_ms / 1e3)
        if str(json_out) != "-":
            print_compare(outcome, Console() if Console().is_terminal else Console(width=140))
        if csv_out is not None:
            try:
                csv_out.write_text(rows_csv(outcome))
            except OSError as error:
                raise ConfigError(f"cannot write --csv file '{csv_out}': {error.strerror}") from None
        if html_out is not None:
            try:
                html_out.write_text(compare_html(outcome, f"serving {config.name}: best layout per system"))
            except OSError as error:
                raise ConfigError(f"cannot write --html file '{html_out}': {error.strerror}") from None
        _write_json(json_out, outcome.to_dict())
        if not outcome.any_meets:
            raise typer.Exit(3)
        return
    if system is None:
        raise ConfigError("give --system (or --compare to rank systems)")
    spec = load_system(system)
    total = _ranks(spec, chips, nodes, ranks)
    check_rank_count(total, system, spec.ranks_per_node, "--chips/--nodes/--ranks (in ranks)")
    result = estimate_serving(ServeConfig(config, spec, total, tp, concurrency, input_tokens, output_tokens,
                                          pp=pp, ep=ep, weight_bytes=weight_bytes, kv_bytes=kv_bytes,
                                          speculation=speculation, prefill_chunk=prefill_chunk))
    if str(json_out) != "-":
        _print(result)
    _write_json(json_out, result.to_dict())
