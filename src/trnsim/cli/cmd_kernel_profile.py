"""``trnsim kernel profile FILE``: predicted latency, utilisation and bound of every kernel launch.

The file runs as ``__main__`` exactly as ``trnsim kernel run`` runs it, values computed (so its own
checks hold), once per target; :func:`trnsim.nki.trace.collect_traces` gathers the trace of every
launch and :mod:`trnsim.core` times each. The command's exit status is the file's (with several
targets, the first non-zero one): a script can trust it. Launches made before a failure are still
profiled, with a note on stderr.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from trnsim.cli.apps import kernel_app
from trnsim.cli.checks import check_output_path
from trnsim.cli.cmd_kernel_run import ENV_TARGET, target_from_env
from trnsim.cli.cmd_kernel_run import run as run_kernel_file
from trnsim.cli.output import check_keeps_inputs, check_one_stdout, is_stdout, write_output
from trnsim.errors import ConfigError

# The model layers load inside the commands that use them, so that start-up stays light.
if TYPE_CHECKING:
    from trnsim.core import TimelineResult
    from trnsim.hardware.neuroncore_timing import NeuronCoreTiming
    from trnsim.nki.trace import KernelTrace

__all__ = ["collect_launch_traces", "profile", "render_profiles"]


def collect_launch_traces(
    file: Path, target: str, max_instructions: int | None = None, time_limit: float | None = None,
    args: Sequence[str] = (),
) -> tuple[list[KernelTrace], int]:
    """Run ``file`` as ``__main__`` with ``args`` as its ``sys.argv[1:]`` (as ``trnsim kernel run``
    does) and collect every launch's trace.

    Returns the traces and the file's exit status.
    """
    from trnsim.nki.trace import collect_traces

    with collect_traces() as launches:
        status = run_kernel_file(
            file=file, target=target, args=list(args), max_instructions=max_instructions,
            time_limit=time_limit
        )
    return [trace for trace in launches if trace.instructions], int(status or 0)


def _fraction(value: float) -> str:
    return f"{100.0 * value:5.1f} %"


def render_profiles(results: Sequence[TimelineResult], console: Console) -> None:
    """Print one summary table of all launches, and the busy fractions of each."""
    from rich.table import Table

    table = Table(title="Predicted kernel launches (latency in µs; TensorE share of peak)",
                  title_justify="left")
    for column in ("#", "kernel", "target", "µs", "TFLOP/s", "peak", "DMA MiB", "HBM GB/s", "bound"):
        # a kernel's name too long for its column folds onto the next line, never cut to "…"
        table.add_column(column, justify="left" if column in ("kernel", "target", "bound") else "right",
                         no_wrap=column in ("target", "peak", "bound"),
                         overflow="fold" if column == "kernel" else "ellipsis")
    for index, r in enumerate(results):
        target = r.target if r.num_cores == 1 else f"{r.target} ×{r.num_cores}"
        table.add_row(
            str(index), r.kernel, target, f"{r.latency_ns / 1e3:,.2f}",
            f"{r.achieved_flops_per_s / 1e12:,.2f}", f"{100 * r.tensor_utilization:.1f}%",
            f"{r.dma_bytes / 2**20:,.2f}", f"{r.hbm_bandwidth_used_bytes_per_s / 1e9:,.1f}", str(r.bound))
    console.print(table)
    busy = Table(title="Busy time of engines and DMA queues; critical path by kind of time",
                 title_justify="left")
    busy.add_column("resource")
    for index, r in enumerate(results):
        busy.add_column(f"#{index} {r.target}", justify="right")
    rows: dict[str, list[str]] = {}
    for r in results:
        for engine, fraction in r.engine_busy_fraction().items():
            rows.setdefault(engine, []).append(_fraction(fraction))
        queues = list(r.queue_busy_fraction().values()) or [0.0]
        rows.setdefault(f"DMA queues ({r.dma_queues_per_core}/core): mean", []).append(
            _fraction(sum(queues) / len(queues)))
        rows.setdefault("DMA queues: busiest", []).append(_fraction(max(queues)))
        rows.setdefault("PSUM banks live at once (peak)", []).append(str(r.psum_banks_used))
        total = sum(r.critical_path_ns.values()) or 1.0
        for category, ns in r.critical_path_ns.items():
            rows.setdefault(f"critical path: {category}", []).append(_fraction(ns / total))
    for name, cells in rows.items():
        busy.add_row(name, *cells)
    console.print(busy)
    if len({r.target for r in results}) > 1:
        _render_comparison(results, console)


def _render_comparison(results: Sequence[TimelineResult], console: Console) -> None:
    """The same launches side by side across targets (latency, speed-up over the first)."""
    from rich.table import Table


    targets = list(dict.fromkeys(r.target for r in results))
    launches: dict[tuple[int, str], dict[str, TimelineResult]] = {}
    counters: dict[str, int] = {}
    for r in results:
        position = counters.get(r.target, 0)
        counters[r.target] = position + 1
        launches.setdefault((position, r.kernel), {})[r.target] = r
    table = Table(title="Side by side (latency µs; speed-up over " + targets[0] + ")", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("kernel")
    for target in targets:
        table.add_column(target, justify="right")
    for (position, kernel), per_target in launches.items():
        base = per_target.get(targets[0])
        cells = []
        for target in targets:
            other = per_target.get(target)
            if other is None:
                cells.append("–")
                continue
            speedup = f" ({base.latency_ns / other.latency_ns:.2f}×)" if base and other.latency_ns > 0 else ""
            cells.append(f"{other.latency_ns / 1e3:,.2f}{speedup}")
        table.add_row(str(position), kernel, *cells)
    console.print(table)


def _targets(value: str, timing_file: Path | None) -> list[NeuronCoreTiming]:
    from trnsim.hardware.neuroncore_timing import load_timing

    names = [name.strip() for name in value.split(",")]
    if not any(names):
        raise ConfigError("--target is empty; give one or more of trn1, trn2, trn3 separated by commas")
    if not all(names):  # "trn1,,trn2": a slip that dropped a target, not a list of two
        raise ConfigError(f"--target '{value}' has an empty item; give targets separated by single commas, "
                          "e.g. trn1,trn2")
    timings = [load_timing(name, timing_file) for name in names]
    seen: dict[str, str] = {}
    for name, timing in zip(names, timings, strict=True):
        if timing.target in seen:  # trn2,gen3 is one target twice: its columns would repeat
            raise ConfigError(f"--target '{value}' names {timing.target} twice ({seen[timing.target]} and "
                              f"{name}); give each target once")
        seen[timing.target] = name
    return timings


def _write_json(path: Path, document: Any, option: str) -> None:
    write_output(path, json.dumps(document, indent=1), option)


@kernel_app.command("profile")
def profile(
    file: Annotated[Path, typer.Argument(help="Python file that launches NKI kernels (run as __main__).")],
    args: Annotated[list[str] | None, typer.Argument(
        help="Arguments for the file (sys.argv[1:]); after -- when one starts with -.")] = None,
    target: Annotated[str | None, typer.Option(
        help=f"Target(s), comma-separated: trn1, trn2, trn3 (default: ${ENV_TARGET}, trn2).")] = None,
    trace: Annotated[Path | None, typer.Option(
        "--trace", help="Write a Chrome/Perfetto trace (JSON) of every launch here (- for stdout).")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the per-launch summaries as JSON here (- for stdout, instead of the tables).")
    ] = None,
    timing: Annotated[Path | None, typer.Option(
        help="TOML file overriding timing parameters (same keys as the shipped data).")] = None,
    max_instructions: Annotated[int | None, typer.Option(
        "--max-instructions", min=1, help="Stop a launch after this many instructions.")] = None,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=0.001, help="Stop a launch after this many seconds of wall time.")] = None,
) -> int:
    """Predict latency, FLOP/s, bandwidth, engine busy time and the bound of each kernel launch.

    Exits with the file's own status (the first non-zero one over several targets).
    """
    from trnsim.core import chrome_trace, simulate_trace, summarize

    if not file.is_file():
        raise ConfigError(f"kernel file '{file}' does not exist or is not a file")
    if target is None:  # as `kernel run`: the SDK's variable, else trn2 (it was always trn2)
        target = target_from_env() or "trn2"
    check_one_stdout(trace=trace, json=json_out)
    check_keeps_inputs({"the kernel file": file, "the --timing file": timing}, trace=trace, json=json_out)
    for path, option in ((trace, "--trace"), (json_out, "--json")):
        check_output_path(path, option)
    results: list[TimelineResult] = []
    quiet = is_stdout(trace) or is_stdout(json_out)  # a JSON on stdout stands alone
    console = Console(quiet=quiet)
    if not console.is_terminal:  # a file or pipe: 100 columns, as plan's, not rich's 80
        console = Console(quiet=quiet, width=100)
    first_failure = 0
    for timing_data in _targets(target, timing):
        with contextlib.redirect_stdout(sys.stderr) if console.quiet else contextlib.nullcontext():
            launches, status = collect_launch_traces(  # its prints: off a JSON
                file, timing_data.target, max_instructions, time_limit, args or ())
        first_failure = first_failure or status
        if status != 0 and launches:
            Console(stderr=True).print(
                f"note: {escape(str(file))} exited with status {status} on {timing_data.target}; "
                f"profiling the {len(launches)} launch{'es' if len(launches) > 1 else ''} it made before",
                highlight=False, soft_wrap=True)
        for launch in launches:
            results.append(simulate_trace(launch, timing_data))
            if launch.spill_save_bytes:  # automatic allocation spilled (trnsim.nki.spill)
                saved, reloaded = launch.spill_save_bytes / 2**20, launch.spill_reload_bytes / 2**20
                console.print(f"[yellow]note:[/] {launch.kernel} exceeds on-chip capacity on "
                              f"{timing_data.target}: spills {saved:,.2f} MiB to HBM and reloads "
                              f"{reloaded:,.2f} MiB (charged in the timeline)")
    if not results:
        if first_failure == 0:
            console.print(f"{file} launched no kernel.")
        return first_failure
    render_profiles(results, console)
    if trace is not None:
        _write_json(trace, chrome_trace(results), "--trace")
        console.print(f"trace: {trace} (open in https://ui.perfetto.dev)")
    if json_out is not None:
        _write_json(json_out, [summarize(r) for r in results], "--json")
        console.print(f"summary: {json_out}")
    return first_failure
