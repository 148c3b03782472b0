"""Leave-one-file-out refit of the calibration scale, on synthetic rows derived by hand."""

from __future__ import annotations

import pytest

from trnsim.cli.scaled_catalog import with_scale
from trnsim.cluster.holdout import fit_scale, leave_one_file_out, mape

# Synthetic rows whose prediction is all matmul time: predicted = measured * a / scale, so the
# signed error at a scale is a / scale - 1 and the error vanishes at scale = a.
A = {0: 0.8, 1: 0.9, 2: 0.7}
ROWS = {0: ("a.csv", "x"), 1: ("b.csv", "x"), 2: ("c.csv", "y")}


def errors_at(chip: str, scale: float) -> dict[int, float]:
    return {i: A[i] / scale - 1 for i, (_, c) in ROWS.items() if c == chip}


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


def test_leave_one_file_out_by_hand() -> None:
    shipped = {0: 0.8 / 0.85 - 1, 1: 0.9 / 0.85 - 1, 2: 0.7 / 0.7 - 1}  # shipped scales x 0.85, y 0.7
    out = {h.file: h for h in leave_one_file_out(ROWS, shipped, errors_at)}
    a, b, c = out["a.csv"], out["b.csv"], out["c.csv"]
    # a.csv held out: refit on b.csv alone gives 0.9; a's error 0.8 / 0.9 - 1 = -11.1 %
    assert a.held_out is not None and a.held_out.scale == pytest.approx(0.9)
    assert a.held_out.train_files == ("b.csv",)
    assert a.held_out_mape == pytest.approx(1 - 0.8 / 0.9)
    # b.csv held out: refit on a.csv gives 0.8; b's error 0.9 / 0.8 - 1 = +12.5 %
    assert b.held_out is not None and b.held_out.scale == pytest.approx(0.8)
    assert b.held_out_mape == pytest.approx(0.125)
    # in-sample uses the shipped errors; scale 1.0 gives |a - 1|
    assert a.in_sample_mape == pytest.approx(1 - 0.8 / 0.85)
    assert a.uncalibrated_mape == pytest.approx(0.2) and b.uncalibrated_mape == pytest.approx(0.1)
    # c.csv is the only file of chip y: no held-out figure, and the text says so
    assert c.held_out is None and c.held_out_mape is None
    assert c.held_out_text == "no held-out estimate (only file for y)"
    assert c.uncalibrated_mape == pytest.approx(0.3)


def test_with_scale_replaces_only_the_scale_line() -> None:
    text = 'chip = "a100"\ncalibration_scale = 0.82\ncalibration_note = "x"\n[matmul_bf16]\n'
    assert with_scale(text, 0.9) == text.replace("0.82", "0.9")
    assert with_scale('chip = "b"\n[memory]\n', 0.5).startswith("calibration_scale = 0.5\n")


def test_scaled_efficiency_changes_only_inside_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from trnsim.cli.scaled_catalog import scaled_efficiency
    from trnsim.cluster.calibration import load_cases, validate_case
    from trnsim.hardware.catalog import CATALOG_ENV

    monkeypatch.delenv(CATALOG_ENV, raising=False)
    case = next(c for c in load_cases()[0] if c.file.startswith("megatron_h100"))
    before = validate_case(case).predicted  # MFU at the shipped H100 scale (0.78)
    with scaled_efficiency("h100", 1.0):
        unscaled = validate_case(case).predicted
    # scale 1.0 makes GEMMs and attention faster than at 0.78: higher predicted MFU
    assert unscaled > before
    assert CATALOG_ENV not in os.environ
    assert validate_case(case).predicted == pytest.approx(before)  # caches cleared on the way out
