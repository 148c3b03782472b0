"""``trnsim estimate``: one training step of a parallel plan on a cluster, as tables or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from trnsim.cli.apps import app
from trnsim.cli.checks import (
    check_catalog_dir,
    check_output_path,
    check_rank_count,
    check_seq_len,
    parse_count,
    use_catalog,
    warn_if_huge,
    warn_no_fp8_rate,
)
from trnsim.cli.output import check_keeps_inputs, is_stdout, model_file, write_output
from trnsim.cluster.options import CPExchange, GradReduceDtype
from trnsim.cluster.pipeline import Schedule
from trnsim.errors import ConfigError
from trnsim.workload.options import Precision, Recompute

# The model layers load inside the commands that use them, so that start-up stays light.
if TYPE_CHECKING:
    from rich.table import Table

    from trnsim.cluster import StepResult
    from trnsim.cluster.goodput import GoodputResult
    from trnsim.hardware.catalog import ChipFamily

_GIB = 2**30
#: Runs at least this long get a goodput estimate (failures and checkpoints matter at this length).
_LONG_RUN_S = 3600.0


def _parse_overrides(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values parsed as numbers where they are numbers."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"--topology-set expects KEY=VALUE (e.g. scale_out.hop_latency_us=20), got '{item}'"
            )
        value: Any = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        out[key] = value
    return out


def _chip_of(system: str) -> tuple[ChipFamily, str]:
    from trnsim.hardware.catalog import load_system

    chip = load_system(system).chip
    return chip.family, chip.name


def _device_calibration(system: str) -> dict[str, Any]:
    from trnsim.devicetime.calibration import device_calibration
    from trnsim.hardware.catalog import load_system

    return device_calibration(load_system(system).chip)


def _calibration_text(calibration: dict[str, Any]) -> str:
    text = f"{calibration['applied_as']} {calibration['scale']:g}"
    return text + (f": {calibration['source']}" if calibration["source"] else "")


def _compute_table(result: StepResult) -> Table:
    """Compute of the slowest stage by op class: timed alone, fused away, hidden under TensorE."""
    from rich.table import Table

    from trnsim.cluster.step import COMPUTE_DETAIL_KEYS
    from trnsim.workload.durations import format_duration

    table = Table(title="compute by op class (compiler fusion and engine overlap)")
    table.add_column("class")
    for name in ("alone", "fused away", "hidden", "in step"):
        table.add_column(name, justify="right")
    rows = sorted(result.compute_by_class.items(), key=lambda kv: -kv[1]["alone"])
    for cls, row in rows:
        cells = [row[k] for k in COMPUTE_DETAIL_KEYS]
        table.add_row(cls, *(format_duration(v) if v else "-" for v in cells))
    return table


def _table(result: StepResult, goodput: GoodputResult | None, run_s: float | None,
           params: str = "", tflops: tuple[float, float] | None = None) -> list[Table]:
    from rich.table import Table

    from trnsim.cluster.error_band import load_band
    from trnsim.workload.durations import format_duration

    head = Table(
        title=f"{result.model} on {result.ranks} ranks ({result.chips} chips) of {result.system}",
        show_header=False,
    )
    if params:
        head.add_row("model", params)
    head.add_row("plan", result.plan.describe())
    band = load_band(*_chip_of(result.system))
    low, high = band.interval(result.step_time_s)
    head.add_row("step time", f"{format_duration(result.step_time_s)} ({format_duration(low)} to "
                 f"{format_duration(high)})")
    head.add_row("error band", f"±{band.fraction:.0%}: {band.label}")
    head.add_row("device calibration", _calibration_text(_device_calibration(result.system)))
    head.add_row("tokens/s", f"{result.tokens_per_s:,.0f}")
    # Attention counted over the full sequence (Megatron/PaLM) and, for comparison with publishers
    # who halve it for the causal mask (FlashAttention-2), causal-counted.
    head.add_row("MFU / HFU", f"{result.mfu:.1%} / {result.hfu:.1%} full attention (causal: MFU "
                 f"{result.mfu_causal:.1%})")
    if tflops is not None:
        head.add_row("model TFLOP/s per chip", f"{tflops[0]:,.1f} full attention (causal: {tflops[1]:,.1f})")
    head.add_row("micro-batches", f"{result.microbatches} (bubble {result.bubble_fraction:.1%} of ideal)")
    fits = "yes" if result.fits else "NO"
    head.add_row(
        "memory per rank",
        f"{result.memory_per_rank_bytes / _GIB:.1f} GiB of {result.memory_capacity_bytes / _GIB:.1f} GiB"
        f" — fits: {fits}",
    )
    head.add_row("goodput (long run)", f"{result.goodput:.1%} of wall time training (failures, checkpoints)")
    for name, where in result.groups.items():
        algorithm = result.algorithms.get(name, "")
        head.add_row(f"{name} group", f"{where} ({algorithm})" if algorithm else where)
    if result.plan.cp > 1:  # what the breakdown's cp_comm counts (a ring that hides shows 0 s)
        head.add_row("cp exchange", "all-gather K/V, reduce-scatter gradients: exposed (cp_comm)"
                     if result.plan.cp_exchange is CPExchange.ALL_GATHER else
                     "ring: each K/V send hides behind one step of attention; cp_comm = the rest "
                     f"({format_duration(result.cp_comm_hidden_s)} hidden, "
                     f"{format_duration(result.breakdown['cp_comm'])} exposed)")
    parts = Table(title="step breakdown")
    parts.add_column("part")
    parts.add_column("time", justify="right")
    parts.add_column("share", justify="right")
    for key, seconds in result.breakdown.items():
        parts.add_row(key, format_duration(seconds), f"{seconds / result.step_time_s:.1%}")
    memory = Table(title="memory per rank")
    memory.add_column("part")
    memory.add_column("GiB", justify="right")
    for key, value in result.memory.parts().items():
        memory.add_row(key, f"{value / _GIB:.2f}")
    tables = [head, parts, memory]
    if any(row["fused"] or row["hidden"] for row in result.compute_by_class.values()):
        tables.insert(2, _compute_table(result))
    if goodput is not None and run_s is not None:
        good = Table(title="goodput of the run", show_header=False)
        run_low, run_high = band.interval(run_s / 86400)
        good.add_row("run length (failure-free)",
                     f"{run_s / 86400:.2f} days ({run_low:.2f} to {run_high:.2f})")
        good.add_row(
            "job MTBF", f"{goodput.mtbf_s / 3600:.2f} h ({goodput.failures_per_day:.2f} failures/day)"
        )
        good.add_row(
            "checkpoint write", f"{goodput.checkpoint_write_s:.1f} s every {goodput.interval_s / 60:.1f} min"
        )
        good.add_row("goodput", f"{goodput.goodput:.1%}")
        if goodput.goodput > 0:
            wall = run_s / goodput.goodput / 86400
            low, high = band.interval(wall)
            good.add_row("expected wall time", f"{wall:.2f} days ({low:.2f} to {high:.2f})")
        else:
            good.add_row("expected wall time", "unbounded (a step outlasts many job MTBFs)")
        tables.append(good)
    return tables


def _tokens(tokens: str | None, train_tokens: str | None) -> float | None:
    """``--tokens``, or its deprecated spelling ``--train-tokens`` (with a warning), as a number."""
    if train_tokens is None:
        return None if tokens is None else parse_count(tokens, "--tokens")
    if tokens is not None:
        raise ConfigError("give --tokens only (--train-tokens is its deprecated spelling)")
    Console(stderr=True).print("[yellow]warning:[/] --train-tokens is deprecated; use --tokens (e.g. 15T)",
                               highlight=False, soft_wrap=True)
    return parse_count(train_tokens, "--train-tokens")


@app.command("estimate")
def estimate(
    model: Annotated[str, typer.Option(help="model preset name or path to a config.json")],
    system: Annotated[str, typer.Option(help="system (node) name from the catalog, e.g. trn2, p5")],
    nodes: Annotated[int | None, typer.Option(help="number of nodes (or give --ranks)")] = None,
    ranks: Annotated[int | None, typer.Option(help="number of ranks (devices / logical cores)")] = None,
    # Megatron-LM's long flag names are accepted as aliases (a plan copied from a launch script).
    tp: Annotated[int, typer.Option("--tp", "--tensor-model-parallel-size", min=1,
                                    help="tensor-parallel size")] = 1,
    pp: Annotated[int, typer.Option("--pp", "--pipeline-model-parallel-size", min=1,
                                    help="pipeline stages")] = 1,
    dp: Annotated[
        int | None, typer.Option(min=1, help="data-parallel size (default: ranks / (tp*pp*cp))")
    ] = None,
    cp: Annotated[int, typer.Option("--cp", "--context-parallel-size", min=1,
                                    help="context-parallel size")] = 1,
    cp_exchange: Annotated[CPExchange, typer.Option(help="how CP ranks exchange K/V")] = CPExchange.RING,
    ep: Annotated[int, typer.Option("--ep", "--expert-model-parallel-size", min=1,
                                    help="expert-parallel size (taken from the DP ranks)")] = 1,
    zero: Annotated[int, typer.Option(min=0, max=3, help="ZeRO stage 0-3")] = 0,
    fsdp: Annotated[bool, typer.Option(help="fully sharded data parallel (= ZeRO-3)")] = False,
    recompute: Annotated[Recompute, typer.Option("--recompute", "--recompute-granularity",
                                                 help="activation recomputation")] = Recompute.NONE,
    micro_batch: Annotated[int, typer.Option("--micro-batch", "--micro-batch-size", min=1,
                                             help="sequences per micro-batch")] = 1,
    global_batch: Annotated[
        int | None, typer.Option("--global-batch", "--global-batch-size", min=1,
                                 help="sequences per step (default: dp*micro-batch)")
    ] = None,
    seq_len: Annotated[int, typer.Option("--seq-len", "--seq-length", min=1,
                                         help="sequence length in tokens")] = 4096,
    interleave: Annotated[
        int, typer.Option("--interleave", "--virtual-pipeline-model-parallel-size", min=1,
                          help="virtual pipeline stages per rank (interleaved 1F1B)")
    ] = 1,
    first_stage_layers: Annotated[int | None, typer.Option(
        "--decoder-first-pipeline-num-layers", min=1, help="layers on the first pipeline stage")] = None,
    last_stage_layers: Annotated[int | None, typer.Option(
        "--decoder-last-pipeline-num-layers", min=1, help="layers on the last pipeline stage")] = None,
    reshard_after_forward: Annotated[bool, typer.Option(
        help="ZeRO-3/FSDP: free gathered weights after each forward (--no-reshard-after-forward keeps them "
        "for the backward: one all-gather per micro-batch, as Llama 3)")] = True,
    account_for_embedding_loss: Annotated[bool, typer.Option(
        "--account-for-embedding-loss", help="the embedding and the loss each take a layer's place in the "
        "split over pp x interleave chunks (Megatron-core's --account-for-embedding/loss-in-pipeline-split; "
        "Llama 3's layout)")] = False,
    microbatch_group: Annotated[int | None, typer.Option(
        "--microbatch-group", "--microbatch-group-size-per-virtual-pipeline-stage", min=1,
        help="interleaved schedule: micro-batches run back to back per model chunk (default: pp)")] = None,
    schedule: Annotated[
        Schedule | None,
        typer.Option(help="pipeline schedule (default: 1f1b, interleaved when --interleave > 1)"),
    ] = None,
    sequence_parallel: Annotated[
        bool, typer.Option(help="sequence parallelism with TP (the frameworks' default; applies when tp > 1)")
    ] = True,
    overlap_dp: Annotated[bool, typer.Option(help="overlap DP communication with backward")] = True,
    overlap_tp: Annotated[bool, typer.Option(help="overlap TP communication with GEMMs")] = False,
    overlap_p2p: Annotated[bool, typer.Option(
        help="asynchronous pipeline sends beside compute (Megatron's --overlap-p2p-communication)")] = False,
    precision: Annotated[Precision, typer.Option(help="training precision")] = Precision.BF16,
    flash_attention: Annotated[bool, typer.Option(help="fused attention that keeps no score matrix")] = True,
    grad_reduce_dtype: Annotated[
        GradReduceDtype, typer.Option(help="gradient type in the data-parallel reduction")
    ] = GradReduceDtype.FP32,
    tokens: Annotated[
        str | None,
        typer.Option("--tokens", help="tokens to train, e.g. 15T or 500B (adds run time, goodput)"),
    ] = None,
    train_tokens: Annotated[
        str | None, typer.Option("--train-tokens", hidden=True, help="deprecated spelling of --tokens")
    ] = None,
    topology: Annotated[
        str | None,
        typer.Option(
            help="topology instead of the system's: a bundled name (e.g. gb200-nvl72 with --system b200) "
            "or the path of your own .toml in the same format"
        ),
    ] = None,
    topology_set: Annotated[
        list[str] | None, typer.Option(help="override a topology value, KEY=VALUE in file units (repeatable)")
    ] = None,
    catalog: Annotated[Path | None, typer.Option("--catalog", callback=use_catalog,
        help="user catalog directory (chips/, systems/, efficiency/, ...: as $TRNSIM_CATALOG)")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the result as JSON to this file (- for standard "
                                  "output, instead of the tables)")
    ] = None,
    lnc: Annotated[int | None, typer.Option(help="Trainium logical NeuronCore size")] = None,
) -> None:
    """Estimate one training step: time and breakdown, tokens/s, MFU, memory per rank, fit."""
    from trnsim.cluster import (
        check_plan,
        estimate_run_goodput,
        estimate_step,
        load_topology,
        load_topology_file,
        make_plan,
        topology_for_system,
    )
    from trnsim.cluster.achieved import flops_fields, model_tflops_per_chip
    from trnsim.cluster.error_band import load_band, step_band_fields
    from trnsim.cluster.plan import InfeasiblePlanError, InfeasibleReason
    from trnsim.hardware.catalog import load_system
    from trnsim.workload.estimate import estimate_device_step
    from trnsim.workload.models import describe_params, load_model, param_counts

    check_catalog_dir(catalog)
    spec = load_system(system, catalog, lnc=lnc)
    if (nodes is None) == (ranks is None):
        raise ConfigError("give exactly one of --nodes or --ranks")
    for name, value in (("nodes", nodes), ("ranks", ranks)):
        if value is not None and value < 1:
            raise ConfigError(f"--{name} must be at least 1, got {value}")
    total = ranks if ranks is not None else int(nodes or 0) * spec.ranks_per_node
    check_rank_count(total, system, spec.ranks_per_node)
    warn_if_huge(-(-total * spec.chips_per_node // spec.ranks_per_node), f"{total:,} ranks of {system}")
    run_tokens = _tokens(tokens, train_tokens)
    check_output_path(json_out, "--json")
    check_keeps_inputs({"the --model file": model_file(model),
                        "the --topology file": Path(topology) if topology else None}, json=json_out)
    if dp is None:
        if total % (tp * pp * cp):
            raise InfeasiblePlanError(
                InfeasibleReason.RANK_COUNT,
                f"tp*pp*cp = {tp * pp * cp} does not divide the {total} ranks; "
                "pick degrees that do or give --dp",
            )
        dp = total // (tp * pp * cp)
    if interleave > 1 and pp == 1:  # else accepted and without effect: one stage has nothing to interleave
        raise ConfigError(f"--interleave {interleave} needs --pp > 1: virtual stages interleave a pipeline "
                          "(Megatron's rule, and the planner's)")
    chosen = schedule or (Schedule.INTERLEAVED if interleave > 1 else Schedule.ONE_F_ONE_B)
    plan = make_plan(
        tp=tp,
        pp=pp,
        dp=dp,
        cp=cp,
        ep=ep,
        zero_stage=zero,
        fsdp=fsdp,
        recompute=recompute,
        micro_batch=micro_batch,
        global_batch=global_batch if global_batch is not None else dp * micro_batch,
        interleave=interleave,
        first_stage_layers=first_stage_layers,
        last_stage_layers=last_stage_layers,
        account_for_embedding_loss=account_for_embedding_loss,
        microbatch_group=microbatch_group,
        reshard_after_forward=reshard_after_forward,
        schedule=chosen,
        sequence_parallel=sequence_parallel and tp > 1,
        cp_exchange=cp_exchange,
        overlap_dp_comm=overlap_dp,
        overlap_tp_comm=overlap_tp,
        overlap_p2p_comm=overlap_p2p,
        flash_attention=flash_attention,
        grad_reduce_dtype=grad_reduce_dtype,
    )
    config = load_model(model)
    check_seq_len(seq_len, config, "--seq-len")  # as plan's and compare's: the option and what to give
    warn_no_fp8_rate(precision, [spec])
    overrides = _parse_overrides(topology_set or [])
    if topology is None:
        network = topology_for_system(spec, system, overrides)
    elif Path(topology).is_dir():  # read as a bundled name, it was "unknown topology '<dir>'"
        raise ConfigError(f"--topology '{topology}' is a directory; give a topology .toml file or a bundled "
                          "name (trnsim catalog data topologies/NAME shows one)")
    elif topology.endswith(".toml") or Path(topology).is_file():  # the user's own topology file
        network = load_topology_file(topology, overrides,
                                     node_scale_out_bw_bytes_per_s=spec.scale_out_bw_bytes_per_s,
                                     chips_per_node=spec.chips_per_node)
    else:
        network = load_topology(
            topology,
            overrides,
            node_scale_out_bw_bytes_per_s=spec.scale_out_bw_bytes_per_s,
            chips_per_node=spec.chips_per_node,
        )
    result = estimate_step(config, spec, total, plan, seq_len, precision, network)
    if not result.fits:
        try:
            check_plan(config, spec, total, plan, seq_len, precision)
        except InfeasiblePlanError as why:
            warning = f"[yellow]warning:[/] {escape(str(why))}"
            Console(stderr=True).print(warning, highlight=False, soft_wrap=True)
    run_s = None
    goodput = None
    if run_tokens is not None:
        run_s = run_tokens / result.tokens_per_s
    if run_s is not None and run_s >= _LONG_RUN_S:
        goodput = estimate_run_goodput(result, config, spec, network)
    console = Console(quiet=is_stdout(json_out))  # `--json -`: the JSON alone on standard output
    for table in _table(result, goodput, run_s, describe_params(config), model_tflops_per_chip(result, spec)):
        console.print(table)
    if config.notes:
        console.print(f"model notes: {'; '.join(config.notes)}", highlight=False, markup=False)
    if total == 1:  # one device: also the workload layer's per-op-class view of the same step
        console.print(
            estimate_device_step(
                config,
                spec,
                micro_batch,
                seq_len,
                precision,
                recompute,
                num_microbatches=plan.microbatches,
                zero_stage=plan.effective_zero_stage,
            )
        )
    if json_out is not None:
        band = load_band(*_chip_of(result.system))
        payload = {**result.to_dict(), **flops_fields(result, spec), **param_counts(config),
                   "model_notes": list(config.notes),
                   **step_band_fields(band, result.step_time_s),
                   "device_calibration": _device_calibration(result.system)}
        if run_s is not None:
            payload["train_time_s"] = run_s
            payload["train_time_range_s"] = list(band.interval(run_s))
        if goodput is not None:
            payload["goodput"] = goodput.to_dict()
            if run_s is not None and goodput.goodput > 0:  # the time-to-train a user waits for
                payload["expected_wall_time_s"] = run_s / goodput.goodput
                payload["expected_wall_time_range_s"] = list(band.interval(run_s / goodput.goodput))
        write_output(json_out, json.dumps(payload, indent=2), "--json")
