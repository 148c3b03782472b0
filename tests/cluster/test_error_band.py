"""Error bands: computed from validation rows by hand; the shipped file is validate's own output."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from trnsim.cli import app
from trnsim.cluster.calibration import calibration_dir
from trnsim.cluster.error_band import ErrorBand, bands_overlap, compute_bands, family_of, load_band
from trnsim.hardware.catalog import ChipFamily

ROWS = [  # (file, family, held-out error, error at scale 1.0)
    ("a.csv", "gpu", 0.10, 0.30), ("a.csv", "gpu", -0.02, 0.10), ("b.csv", "gpu", 0.06, -0.20),
    ("t.csv", "trn1", 0.20, 0.20), ("t.csv", "trn1", -0.10, -0.10),
]


def test_bands_by_hand() -> None:
    bands = compute_bands(ROWS, widen_unvalidated=2.0)
    # GPU: mean |held-out| over all GPU rows = (0.10 + 0.02 + 0.06) / 3 = 0.06
    assert bands["gpu"].fraction == pytest.approx(0.06) and bands["gpu"].validated
    # Trn1: (0.20 + 0.10) / 2 = 0.15; Trn2/Trn3 twice that, labelled as not validated
    assert bands["trn1"].fraction == pytest.approx(0.15)
    unvalidated = bands["trainium-unvalidated"]
    assert unvalidated.fraction == pytest.approx(0.30) and not unvalidated.validated
    assert "not validated on Trn2" in unvalidated.label
    # TPU: the GPU rows uncalibrated, (0.30 + 0.10 + 0.20) / 3 = 0.20, times 2
    assert bands["tpu-unvalidated"].fraction == pytest.approx(0.40)


def test_families() -> None:
    assert family_of(ChipFamily.TRAINIUM, "trn1") == "trn1"
    for chip in ("trn2", "trn3"):
        assert family_of(ChipFamily.TRAINIUM, chip) == "trainium-unvalidated"
    assert family_of(ChipFamily.GPU, "b200") == "gpu"
    assert family_of(ChipFamily.TPU, "tpu-v5p") == "tpu-unvalidated"


def test_overlap() -> None:
    ten = ErrorBand("x", 0.10, True, "")
    # 10 days ±10 % is [9, 11]; 12 days ±10 % is [10.8, 13.2]: they overlap
    assert bands_overlap(10.0, ten, 12.0, ten)
    # 15 days ±10 % is [13.5, 16.5]: clear of [9, 11]
    assert not bands_overlap(10.0, ten, 15.0, ten)
    # a wide band on one side closes the gap: 15 ±40 % is [9, 21]
    assert bands_overlap(10.0, ten, 15.0, ErrorBand("y", 0.40, False, ""))


def test_shipped_bands_are_validates_output(tmp_path: Path) -> None:
    # The shipped file must be what `trnsim validate --write-bands` writes for the shipped model
    # and data: a model change that moves the validation without regenerating it fails here.
    out = tmp_path / "bands.toml"
    result = CliRunner().invoke(app, ["validate", "--write-bands", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == (calibration_dir() / "error_bands.toml").read_text()
    trn1 = load_band(ChipFamily.TRAINIUM, "trn1", out).fraction
    assert load_band(ChipFamily.TRAINIUM, "trn2", out).fraction == pytest.approx(2.0 * trn1, abs=1e-4)
