"""``trnsim validate``: predicted vs measured for every published run in the calibration data."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from trnsim.cli.apps import app
from trnsim.cli.checks import check_output_path
from trnsim.cli.output import check_one_stdout, is_stdout, write_output
from trnsim.errors import ConfigError

# The model layers load inside the commands that use them, so that start-up stays light.
if TYPE_CHECKING:
    from rich.table import Table

    from trnsim.cluster.calibration import CalibrationCase, Metric, ValidationRow
    from trnsim.cluster.holdout import FileHoldout
    from trnsim.cluster.plan import ParallelPlan

#: Width for output that is not a terminal (a file, a pipe): every table fits in it.
PIPE_WIDTH = 120

_EXPLANATION = (
    "in-sample: the per-chip calibration_scale in effect (GPU efficiency curves, Trainium simulated-kernel "
    "times; the shipped one was fitted on these very files; a $TRNSIM_CATALOG override replaces it); "
    "held-out (leave one model out): for each model shape, the chip's scale refitted (least MAPE) on every "
    "row of that chip whose model is another shape, then used on this model's rows; scale 1.0: the "
    "uncalibrated efficiency curves and kernel times."
)


def _fmt(metric: Metric, value: float) -> str:
    from trnsim.cluster.calibration import Metric

    if metric is Metric.MFU:
        return f"{value:.1%}"
    return f"{value:.4g}"


def short_plan(plan: ParallelPlan) -> str:
    """The plan in trnsim's one notation (see :mod:`trnsim.cluster.notation`)."""
    return plan.describe()


def rows_tables(rows: list[ValidationRow], held: list[FileHoldout] | None = None) -> list[Table]:
    """One table per calibration file: per published measurement, predicted, measured, errors."""
    from rich.table import Table


    held_errors = {i: e for h in held or [] for i, e in h.row_errors.items()}
    by_file: dict[str, list[ValidationRow]] = {}
    for row in rows:
        by_file.setdefault(row.case.file, []).append(row)
    tables = []
    for file, file_rows in by_file.items():
        first = file_rows[0].case
        table = Table(title=f"{file.removesuffix('.csv')}: {first.metric} on {first.system}",
                      title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("case", no_wrap=True)
        table.add_column("plan")  # wraps at a space where 100 columns are short, so no header is cut
        for name in ("predicted", "measured", "error", "held-out", "compute ratio"):
            table.add_column(name, justify="right", no_wrap=name != "compute ratio")
        for row in file_rows:
            case = row.case
            index = next(i for i, r in enumerate(rows) if r is row)
            held_out = f"{held_errors[index]:+.1%}" if index in held_errors else "-"
            table.add_row(case.label, short_plan(case.plan), _fmt(case.metric, row.predicted),
                          _fmt(case.metric, case.measured), f"{row.error:+.1%}", held_out,
                          f"{row.compute_ratio:.2f}")
        tables.append(table)
    return tables


def mape_table(holdouts: list[FileHoldout]) -> Table:
    """Mean absolute percentage error per file: in-sample, held-out and uncalibrated."""
    from rich.table import Table

    table = Table(title="mean absolute percentage error per file", title_justify="left")
    table.add_column("file", no_wrap=True)
    table.add_column("in-sample", justify="right")
    table.add_column("held-out (leave one model out)", justify="right", no_wrap=True)
    table.add_column("scale 1.0", justify="right")
    for h in holdouts:
        table.add_row(h.file.removesuffix(".csv"), f"{h.in_sample_mape:.1%}", h.held_out_text,
                      f"{h.uncalibrated_mape:.1%}")
    return table


def _scale_file(case: CalibrationCase) -> tuple[str, str]:
    """The data file whose calibration_scale times this case's device ops: (kind, its ``chip`` key).
    GPUs: the efficiency curves; Trainium: the scale of its simulated-kernel times."""
    from trnsim.devicetime.calibration import calibration_file
    from trnsim.hardware.catalog import load_system

    kind, data = calibration_file(load_system(case.system).chip)
    return kind, data.chip


def model_key(case: CalibrationCase) -> str:
    """The model shape a row is held out by (the same shape in two files is one model)."""
    m = case.model
    return f"h{m.hidden_size} L{m.num_layers} f{m.ffn_hidden_size} V{m.vocab_size}"


def holdouts(cases: list[CalibrationCase], rows: list[ValidationRow]) -> list[FileHoldout]:
    """Leave-one-model-out refits of each chip's scale, evaluated by re-running the cases."""
    from trnsim.cli.scaled_catalog import scaled_calibration
    from trnsim.cluster.calibration import validate_case
    from trnsim.cluster.holdout import RowKey, leave_one_model_out

    keys: dict[int, RowKey] = {}
    kinds: dict[str, str] = {}
    for i, case in enumerate(cases):
        kind, chip = _scale_file(case)
        kinds[chip] = kind
        keys[i] = RowKey(case.file, chip, model_key(case))

    def errors_at(chip: str, scale: float) -> dict[int, float]:
        ids = [i for i, k in keys.items() if k.chip == chip]
        with scaled_calibration(f"{kinds[chip]}/{chip}", scale):
            return {i: validate_case(cases[i]).error for i in ids}

    return leave_one_model_out(keys, {i: row.error for i, row in enumerate(rows)}, errors_at)


def _write_bands(path: Path, cases: list[CalibrationCase], rows: list[ValidationRow], held: list[FileHoldout],
                 data_dir: Path | None) -> None:
    """Error bands per platform family from this validation (see trnsim.cluster.error_band)."""
    from trnsim.cluster.calibration import calibration_dir
    from trnsim.cluster.error_band import bands_toml, compute_bands, family_of
    from trnsim.hardware.catalog import load_system

    settings = tomllib.loads(((data_dir or calibration_dir()) / "settings.toml").read_text())
    try:
        widen = float(settings["error_bands"]["widen_unvalidated"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError("settings.toml: [error_bands] needs a number widen_unvalidated") from None
    held_errors = {i: e for h in held for i, e in h.row_errors.items()}
    uncalibrated = {i: e for h in held for i, e in h.uncalibrated_errors.items()}
    table = []
    for i, case in enumerate(cases):
        chip = load_system(case.system).chip
        family = family_of(chip.family, chip.name)
        if family in ("gpu", "trn1") and i in held_errors:
            table.append((case.file, family, held_errors[i], uncalibrated.get(i, rows[i].error)))
    how = ("trnsim validate --write-bands: per family, the mean absolute held-out (leave one model out) "
           f"error of its calibration rows; unvalidated families widened x {widen:g} ([error_bands] in "
           "the calibration settings.toml)")
    write_output(path, bands_toml(compute_bands(table, widen), how), "--write-bands")


def _validate_serving(data_dir: Path | None, json_out: Path | None, write_bands: Path | None) -> None:
    """``--serving``: the serving rows of ``data_dir`` (else the bundled file), as tables and JSON."""
    from trnsim.report.serving import print_serving_validation, serving_validation_dict
    from trnsim.serve.calibration import FILE, load_serving_cases, validate_serving

    if write_bands is not None:
        raise ConfigError("--write-bands writes the training error bands: leave out --serving, or "
                          "--write-bands")
    cases = None
    if data_dir is not None:
        try:
            cases = load_serving_cases((data_dir / FILE).read_text())
        except FileNotFoundError:
            raise ConfigError(f"--dir '{data_dir}' has no serving runs file {FILE}") from None
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise ConfigError(f"--dir '{data_dir}': cannot read {FILE}: {reason}") from None
    serving_rows, fit = validate_serving(cases)
    console = Console(width=PIPE_WIDTH + 40)
    console.quiet = is_stdout(json_out)  # `--json -`: the JSON alone on standard output
    print_serving_validation(serving_rows, fit, console)
    if json_out is not None:
        write_output(json_out, json.dumps(serving_validation_dict(serving_rows, fit), indent=2), "--json")


@app.command("validate")
def validate(
    data_dir: Annotated[
        Path | None, typer.Option("--dir", help="calibration directory (default: bundled)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="also write the rows as JSON to this file (- for standard output, not the tables)")
    ] = None,
    write_bands: Annotated[
        Path | None,
        typer.Option("--write-bands",
                     help="write the error bands per platform family (TOML) here (- for standard output)"),
    ] = None,
    serving: Annotated[bool, typer.Option(
        "--serving",
        help="serving TTFT/TPOT rows instead (of --dir's neuron_trn2_inference.csv when given)")] = False,
) -> None:
    """Run every calibration file: per-row errors; MAPE per file in-sample, held-out, uncalibrated."""
    from trnsim.cluster.calibration import load_cases, mape_by_file, validate_case

    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"--dir '{data_dir}' is not a directory")
    check_one_stdout(**{"json": json_out, "write-bands": write_bands})
    check_output_path(json_out, "--json")
    check_output_path(write_bands, "--write-bands")
    if serving:
        _validate_serving(data_dir, json_out, write_bands)
        return
    cases, skipped = load_cases(data_dir)
    rows = [validate_case(case) for case in cases]
    held = holdouts(cases, rows)
    probe = Console()
    console = probe if probe.is_terminal else Console(width=PIPE_WIDTH)
    console.quiet = is_stdout(json_out) or is_stdout(write_bands)  # a document alone on standard output
    for table in rows_tables(rows, held):
        console.print(table)
    console.print(mape_table(held))
    console.print(_EXPLANATION, highlight=False, markup=False)
    console.print(
        "compute ratio: predicted device compute / compute the measured step leaves room for, with this "
        "layer's communication and bubble as predicted (below 1: device times optimistic for that run)."
    )
    for note in skipped:
        console.print(f"skipped: {note}", markup=False)
    if write_bands is not None:
        _write_bands(write_bands, cases, rows, held, data_dir)
    if json_out is not None:
        held_errors = {i: e for h in held for i, e in h.row_errors.items()}
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
                    "held_out_error": held_errors.get(i),
                    "compute_ratio": r.compute_ratio,
                    "breakdown_s": r.result.breakdown,
                }
                for i, r in enumerate(rows)
            ],
            "mape_by_file": mape_by_file(rows),
            "mape_by_file_detail": {
                h.file: {
                    "in_sample": h.in_sample_mape,
                    "held_out": h.held_out_mape,
                    "held_out_method": "leave one model out",
                    "fit_on_all_rows": h.fit_on_all_rows,
                    "held_out_folds": [
                        {"model": f.held_out_model, "scale": f.scale, "train_rows": f.train_rows}
                        for f in h.folds],
                    "uncalibrated": h.uncalibrated_mape,
                    "chip": h.chip,
                }
                for h in held
            },
        }
        write_output(json_out, json.dumps(payload, indent=2), "--json")
