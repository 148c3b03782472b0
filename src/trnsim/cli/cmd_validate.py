"""``trnsim validate``: predicted vs measured for every published run in the calibration data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from trnsim.cli.apps import app
from trnsim.cli.checks import check_output_path
from trnsim.cli.output import is_stdout, write_output
from trnsim.cli.scaled_catalog import scaled_efficiency
from trnsim.cluster.calibration import (
    CalibrationCase,
    Metric,
    ValidationRow,
    load_cases,
    mape_by_file,
    validate_case,
)
from trnsim.cluster.holdout import FileHoldout, leave_one_file_out
from trnsim.cluster.plan import ParallelPlan
from trnsim.devicetime.efficiency import load_efficiency
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system

#: Width for output that is not a terminal (a file, a pipe): every table fits in it.
PIPE_WIDTH = 100

_EXPLANATION = (
    "in-sample: the per-chip calibration_scale in effect (the shipped one was fitted on these very "
    "files; a $TRNSIM_CATALOG override replaces it); held-out: the "
    "scale refitted (least MAPE) on the other files of the same chip, then used on this one; "
    "scale 1.0: the uncalibrated efficiency curves."
)


def _fmt(metric: Metric, value: float) -> str:
    if metric is Metric.MFU:
        return f"{value:.1%}"
    return f"{value:.4g}"


_RECOMPUTE_SHORT = {"selective": "sel"}


def short_plan(plan: ParallelPlan) -> str:
    """The plan in few characters: degrees above 1, ZeRO if used, batches, schedule, recompute."""
    parts = [f"tp{plan.tp}", f"pp{plan.pp}", f"dp{plan.dp}"]
    parts += [f"{name}{value}" for name, value in (("cp", plan.cp), ("ep", plan.ep)) if value > 1]
    if plan.effective_zero_stage:
        parts.append(f"z{plan.effective_zero_stage}")
    parts += [f"mb{plan.micro_batch}", f"gb{plan.global_batch}"]
    # interleaved 1F1B as Megatron names it: virtual pipeline stages per rank
    parts.append(f"vpp{plan.interleave}" if plan.interleave > 1 else str(plan.schedule))
    recompute = _RECOMPUTE_SHORT.get(str(plan.recompute), str(plan.recompute))
    parts.append(f"rc={recompute}" + ("+sp" if plan.sequence_parallel else ""))
    return " ".join(parts)


def rows_tables(rows: list[ValidationRow]) -> list[Table]:
    """One table per calibration file: per published measurement, predicted, measured, error."""
    by_file: dict[str, list[ValidationRow]] = {}
    for row in rows:
        by_file.setdefault(row.case.file, []).append(row)
    tables = []
    for file, file_rows in by_file.items():
        first = file_rows[0].case
        table = Table(title=f"{file.removesuffix('.csv')}: {first.metric} on {first.system}",
                      title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("case", no_wrap=True)
        table.add_column("plan", no_wrap=True)
        for name in ("predicted", "measured", "error", "compute ratio"):
            table.add_column(name, justify="right")
        for row in file_rows:
            case = row.case
            table.add_row(case.label, short_plan(case.plan), _fmt(case.metric, row.predicted),
                          _fmt(case.metric, case.measured), f"{row.error:+.1%}", f"{row.compute_ratio:.2f}")
        tables.append(table)
    return tables


def mape_table(holdouts: list[FileHoldout]) -> Table:
    """Mean absolute percentage error per file: in-sample, held-out and uncalibrated."""
    table = Table(title="mean absolute percentage error per file", title_justify="left")
    table.add_column("file", no_wrap=True)
    table.add_column("in-sample", justify="right")
    table.add_column("held-out", justify="right", no_wrap=True)
    table.add_column("scale 1.0", justify="right")
    for h in holdouts:
        table.add_row(h.file.removesuffix(".csv"), f"{h.in_sample_mape:.1%}", h.held_out_text,
                      f"{h.uncalibrated_mape:.1%}")
    return table


def _chip_file(case: CalibrationCase) -> str:
    """The efficiency file (its ``chip`` key) whose calibration_scale times this case's GPU ops."""
    try:
        return load_efficiency(load_system(case.system).chip).chip
    except ConfigError:  # a Trainium system: kernel-simulated times, no calibration scale
        return load_system(case.system).chip.name


def holdouts(cases: list[CalibrationCase], rows: list[ValidationRow]) -> list[FileHoldout]:
    """Leave-one-file-out refits of each chip's scale, evaluated by re-running the cases."""
    owners = {i: (case.file, _chip_file(case)) for i, case in enumerate(cases)}

    def errors_at(chip: str, scale: float) -> dict[int, float]:
        ids = [i for i, (_, c) in owners.items() if c == chip]
        with scaled_efficiency(chip, scale):
            return {i: validate_case(cases[i]).error for i in ids}

    return leave_one_file_out(owners, {i: row.error for i, row in enumerate(rows)}, errors_at)


@app.command("validate")
def validate(
    data_dir: Annotated[
        Path | None, typer.Option("--dir", help="calibration directory (default: bundled)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="also write the rows as JSON to this file (- for standard output, not the tables)")
    ] = None,
) -> None:
    """Run every calibration file: per-row errors; MAPE per file in-sample, held-out, uncalibrated."""
    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"--dir '{data_dir}' is not a directory")
    check_output_path(json_out, "--json")
    cases, skipped = load_cases(data_dir)
    rows = [validate_case(case) for case in cases]
    held = holdouts(cases, rows)
    probe = Console()
    console = probe if probe.is_terminal else Console(width=PIPE_WIDTH)
    console.quiet = is_stdout(json_out)  # `--json -`: the JSON alone on standard output
    for table in rows_tables(rows):
        console.print(table)
    console.print(mape_table(held))
    console.print(_EXPLANATION, highlight=False, markup=False)
    console.print(
        "compute ratio: predicted device compute / compute the measured step leaves room for, with this "
        "layer's communication and bubble as predicted (below 1: device times optimistic for that run)."
    )
    for note in skipped:
        console.print(f"skipped: {note}", markup=False)
    if json_out is not None:
        payload = {
            "rows": [
                {
                    "file": r.case.file,
                    "case": r.case.label,
                    "system": r.case.system,
                    "metric": str(r.case.metric),
                    "plan": r.case.plan.describe(),
                    "predicted": r.predicted,
                    "measured": r.case.measured,
                    "error": r.error,
                    "compute_ratio": r.compute_ratio,
                    "breakdown_s": r.result.breakdown,
                }
                for r in rows
            ],
            "mape_by_file": mape_by_file(rows),
            "mape_by_file_detail": {
                h.file: {
                    "in_sample": h.in_sample_mape,
                    "held_out": h.held_out_mape,
                    "held_out_scale": h.held_out.scale if h.held_out else None,
                    "held_out_train_files": list(h.held_out.train_files) if h.held_out else [],
                    "uncalibrated": h.uncalibrated_mape,
                    "chip": h.chip,
                }
                for h in held
            },
        }
        write_output(json_out, json.dumps(payload, indent=2), "--json")
