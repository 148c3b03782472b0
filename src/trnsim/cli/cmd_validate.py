"""``trnsim validate``: predicted vs measured for every published run in the calibration data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from trnsim.cli.apps import app
from trnsim.cluster.calibration import Metric, ValidationRow, load_cases, mape_by_file, validate_case
from trnsim.errors import ConfigError


def _fmt(metric: Metric, value: float) -> str:
    if metric is Metric.MFU:
        return f"{value:.1%}"
    return f"{value:.4g}"


def rows_table(rows: list[ValidationRow]) -> Table:
    """One line per published measurement: predicted, measured, error."""
    table = Table(title="calibration: predicted vs measured")
    numeric = ("predicted", "measured", "error", "compute ratio")
    for name in ("file", "case", "system", "plan", "metric", *numeric):
        table.add_column(name, justify="right" if name in numeric else "left")
    for row in rows:
        case = row.case
        table.add_row(
            case.file.removesuffix(".csv"),
            case.label,
            case.system,
            case.plan.describe(),
            str(case.metric),
            _fmt(case.metric, row.predicted),
            _fmt(case.metric, case.measured),
            f"{row.error:+.1%}",
            f"{row.compute_ratio:.2f}",
        )
    return table


def mape_table(rows: list[ValidationRow]) -> Table:
    """Mean absolute percentage error per file."""
    table = Table(title="mean absolute percentage error per file")
    table.add_column("file")
    table.add_column("rows", justify="right")
    table.add_column("MAPE", justify="right")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.case.file] = counts.get(row.case.file, 0) + 1
    for file, mape in mape_by_file(rows).items():
        table.add_row(file, str(counts[file]), f"{mape:.1%}")
    return table


@app.command("validate")
def validate(
    data_dir: Annotated[
        Path | None, typer.Option("--dir", help="calibration directory (default: bundled)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the rows as JSON here")] = None,
) -> None:
    """Run every calibration file and print per-row errors and the MAPE per file."""
    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"--dir '{data_dir}' is not a directory")
    cases, skipped = load_cases(data_dir)
    rows = [validate_case(case) for case in cases]
    console = Console()
    console.print(rows_table(rows))
    console.print(mape_table(rows))
    console.print(
        "compute ratio: predicted device compute / compute the measured step leaves room for, with this "
        "layer's communication and bubble as predicted (below 1: device times optimistic for that run)."
    )
    for note in skipped:
        console.print(f"skipped: {note}")
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
        }
        try:
            json_out.write_text(json.dumps(payload, indent=2))
        except OSError as error:
            raise ConfigError(f"cannot write --json file '{json_out}': {error.strerror}") from None
