"""Leave-one-model-out refit of the calibration scale, on synthetic rows derived by hand."""

from __future__ import annotations

import pytest

from trnsim.cluster.holdout import FileHoldout, RowKey, ScaleFit, fit_scale, leave_one_model_out, mape

# Synthetic rows whose prediction is all matmul time: predicted = measured * a / scale, so the
# signed error at a scale is a / scale - 1 and the error vanishes at scale = a.
A = {0: 0.8, 1: 0.9, 2: 0.7, 3: 0.85}
ROWS = {
    0: RowKey("a.csv", "x", "m1"),
    1: RowKey("b.csv", "x", "m2"),
    2: RowKey("c.csv", "y", "m1"),
    3: RowKey("a.csv", "x", "m2"),  # same model as row 1, in another file
}


def errors_at(chip: str, scale: float) -> dict[int, float]:
    return {i: A[i] / scale - 1 for i, k in ROWS.items() if k.chip == chip}


def test_fit_finds_the_zero_error_scale() -> None:
    # one row with a = 0.8: MAPE |0.8/s - 1| is zero at s = 0.80 (on the 0.01 grid)
    assert fit_scale(lambda s: abs(0.8 / s - 1)) == pytest.approx(0.80)
    # a = 0.83 is off the 0.05 grid: the coarse grid picks 0.85, the fine one 0.83
    assert fit_scale(lambda s: abs(0.83 / s - 1)) == pytest.approx(0.83)


def test_fit_of_two_rows_minimises_mape() -> None:
    # rows a = 0.8 and 0.9: for 0.8 <= s <= 0.9, MAPE = ((s - 0.8) + (0.9 - s)) / (2 s) = 0.05 / s,
    # falling with s; above 0.9 it is 1 - 0.85 / s, rising: the minimum is at s = 0.9.
    def both(s: float) -> float:
        return mape([0.8 / s - 1, 0.9 / s - 1])

    assert fit_scale(both) == pytest.approx(0.90)
    assert both(0.9) == pytest.approx(0.05 / 0.9)


def test_leave_one_model_out_by_hand() -> None:
    shipped = {0: 0.8 / 0.85 - 1, 1: 0.9 / 0.85 - 1, 2: 0.0, 3: 0.0}
    out = {h.file: h for h in leave_one_model_out(ROWS, shipped, errors_at)}
    a, b, c = out["a.csv"], out["b.csv"], out["c.csv"]
    # model m1 held out on chip x: refit on rows 1 and 3 (a = 0.9, 0.85): for 0.85 <= s <= 0.9
    # MAPE = (0.9 - s + s - 0.85) / (2 s) = 0.025 / s, falling; above 0.9 rising: s = 0.90.
    # Row 0 then errs 0.8 / 0.9 - 1.
    # model m2 held out on chip x: refit on row 0 alone gives 0.80; rows 1 and 3 err 0.9/0.8 - 1
    # and 0.85/0.8 - 1, whichever file they are in.
    assert a.row_errors[0] == pytest.approx(0.8 / 0.9 - 1)
    assert a.row_errors[3] == pytest.approx(0.85 / 0.8 - 1)
    assert a.held_out_mape == pytest.approx((1 - 0.8 / 0.9 + 0.85 / 0.8 - 1) / 2)
    assert sorted(f.scale for f in a.folds) == pytest.approx([0.8, 0.9])
    assert b.held_out_mape == pytest.approx(0.9 / 0.8 - 1)
    assert [f.held_out_model for f in b.folds] == ["m2"] and b.folds[0].train_rows == 1
    # in-sample uses the shipped errors; scale 1.0 gives |a - 1|
    assert a.in_sample_mape == pytest.approx((1 - 0.8 / 0.85 + 0.0) / 2)
    assert b.uncalibrated_mape == pytest.approx(0.1)
    # c.csv: chip y has only model m1, nothing to refit on: no held-out figure, and the text says so
    assert c.held_out_mape is None and c.folds == ()
    assert c.held_out_text == "no held-out estimate (one model only on y)"
    # the fit on all rows of chip x (a = 0.8, 0.85, 0.9): the summed |a / s - 1| is 0.95 / s - 1
    # for 0.8 <= s <= 0.85 (falling) and 1 - 0.75 / s for 0.85 <= s <= 0.9 (rising): s = 0.85, in
    # every file of the chip; chip y's one row (a = 0.7) fits 0.70
    assert a.fit_on_all_rows == pytest.approx(0.85) == b.fit_on_all_rows
    assert c.fit_on_all_rows == pytest.approx(0.70)


def test_scaled_calibration_replaces_only_the_scale_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from trnsim.cli.scaled_catalog import scaled_calibration
    from trnsim.devicetime.efficiency import load_efficiency
    from trnsim.hardware.catalog import CATALOG_ENV, load_chip

    monkeypatch.delenv(CATALOG_ENV, raising=False)
    chip = load_chip("a100")
    shipped = load_efficiency(chip)
    with scaled_calibration("efficiency/a100", 0.5):
        scaled = load_efficiency(chip)
    assert scaled.calibration_scale == 0.5
    rest = {"calibration_scale"}
    assert scaled.model_dump(exclude=rest) == shipped.model_dump(exclude=rest)
    assert load_efficiency(chip) == shipped  # outside the block: the file's own scale again
    # tpu.toml gives no calibration_scale (the default 1.0): the override adds it
    with scaled_calibration("efficiency/tpu", 0.25):
        assert load_efficiency(load_chip("tpu-v5p")).calibration_scale == 0.25


def test_scaled_calibration_changes_only_inside_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from trnsim.cli.scaled_catalog import scaled_calibration
    from trnsim.cluster.calibration import load_cases, validate_case
    from trnsim.hardware.catalog import CATALOG_ENV

    monkeypatch.delenv(CATALOG_ENV, raising=False)
    case = next(c for c in load_cases()[0] if c.file.startswith("megatron_h100"))
    before = validate_case(case).predicted  # MFU at the shipped H100 scale (0.80)
    with scaled_calibration("efficiency/h100", 1.0):
        unscaled = validate_case(case).predicted
    # scale 1.0 makes GEMMs and attention faster than at 0.80: higher predicted MFU
    assert unscaled > before
    assert CATALOG_ENV not in os.environ
    assert validate_case(case).predicted == pytest.approx(before)  # caches cleared on the way out


def test_trainium_held_out_refit_leaves_the_predicted_model_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from trnsim.cli.cmd_validate import holdouts
    from trnsim.cli.scaled_catalog import scaled_calibration
    from trnsim.cluster.calibration import CalibrationCase, load_cases, validate_case
    from trnsim.hardware.catalog import CATALOG_ENV

    monkeypatch.delenv(CATALOG_ENV, raising=False)
    # The Trn1 file's 7B row and its two 13B rows: holding 13B out fits the Trainium scale on the
    # 7B row alone, and the reverse; a 13B row's held-out error is its error at its fold's scale.
    cases = [c for c in load_cases()[0]
             if c.file.startswith("neuron_trn1") and c.label.startswith(("7B", "13B"))]
    assert sorted(c.label.split()[0] for c in cases) == ["13B", "13B", "7B"]

    def run(cases: list[CalibrationCase]) -> tuple[FileHoldout, dict[str, ScaleFit]]:
        rows = [validate_case(c) for c in cases]
        (held,) = holdouts(cases, rows)
        return held, {f.held_out_model.split()[0]: f for f in held.folds}

    held, folds = run(cases)
    assert held.chip == "trn1" and held.held_out_mape is not None
    assert folds["h5120"].train_rows == 1 and folds["h4096"].train_rows == 2
    for i, case in enumerate(cases):
        if case.label.startswith("13B"):
            with scaled_calibration("trainium_scale/trn1", folds["h5120"].scale):
                assert held.row_errors[i] == pytest.approx(validate_case(case).error, rel=1e-12)
    # Another measurement of 13B (twice the throughput) moves the fit on all rows and the 7B fold,
    # never the scale 13B is predicted with.
    _, moved = run([dataclasses.replace(c, measured=2 * c.measured) if c.label.startswith("13B") else c
                    for c in cases])
    assert moved["h5120"].scale == folds["h5120"].scale
    assert moved["h4096"].scale != folds["h4096"].scale
