"""A user's serving.toml with a value outside its range is one line naming the key and the range.

A negative host step cost printed a negative TPOT, NaN printed "nan ms", a reserved fraction of
1.5 a negative capacity, -0.5 a capacity above the chip's HBM, and an acceptance rate of 2 was
blamed on --acceptance-rate, which the user had not given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import one_error_line, run_cli

ONE = ["serve", "--model", "llama3-8b", "--system", "trn2", "--chips", "1", "--input-tokens", "256",
       "--output-tokens", "64"]


@pytest.mark.parametrize(("table", "key", "value", "valid"), [
    ("overhead.trainium", "step_s", "-1.0", ">= 0"),
    ("overhead.trainium", "step_s", "nan", ">= 0"),
    ("overhead.gpu", "collective_s", "inf", ">= 0"),
    ("overhead.tpu", "request_s", "-0.001", ">= 0"),
    ("memory", "reserved_fraction", "1.5", "[0, 1)"),
    ("memory", "reserved_fraction", "-0.5", "[0, 1)"),
    ("memory", "reserved_fraction", "1.0", "[0, 1)"),
    ("speculative", "acceptance_rate", "2.0", "[0, 1]"),
    ("speculative", "speculation_length", "0", ">= 1"),
])
def test_out_of_range_value_is_one_line(table: str, key: str, value: str, valid: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "serving.toml").write_text(f"[{table}]\n{key} = {value}\n")
    code, out, err = run_cli(monkeypatch, capsys, *ONE, "--catalog", str(tmp_path))
    line = one_error_line(code, err)
    assert f"[{table}]" in line and key in line and valid in line and out == ""


def test_values_in_range_are_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "serving.toml").write_text("[overhead.trainium]\nstep_s = 0.0\n[memory]\n"
                                           "reserved_fraction = 0\n[speculative]\nacceptance_rate = 1.0\n")
    code, _, err = run_cli(monkeypatch, capsys, *ONE, "--catalog", str(tmp_path))
    assert code == 0, err
