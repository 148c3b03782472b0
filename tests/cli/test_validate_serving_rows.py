"""``validate --serving --dir``: a row of the serving runs file with a bad value is one line naming the
file, the row and the column, with what is valid.

A precision of "int4" was taken as BF16 silently; a measured TTFT of -5 ms printed -14,068 %; a
concurrency of 0 was reported as "serve llama3.3-70b: --concurrency must be at least 1", an option
the user never gave, without the file; "abc" read "bad or missing column or model could not convert".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import one_error_line, run_cli

_FILE = Path(__file__).parents[2] / "src" / "trnsim" / "data" / "calibration" / "neuron_trn2_inference.csv"


def _with_first_row(tmp_path: Path, old: str, new: str) -> str:
    lines = _FILE.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    assert old in lines[header + 1]
    lines[header + 1] = lines[header + 1].replace(old, new, 1)
    (tmp_path / _FILE.name).write_text("\n".join(lines) + "\n")
    return str(tmp_path)


@pytest.mark.parametrize(("old", "new", "column", "valid"), [
    (",bf16,", ",int4,", "precision", "bf16, fp8"),
    (",814.2,", ",-5,", "ttft_ms", "positive"),
    (",19.6,", ",nan,", "tpot_ms", "positive"),
    (",814.2,", ",abc,", "ttft_ms", "number"),
    (",bf16,1,", ",bf16,0,", "concurrency", "at least 1"),
    ("Llama-3.3-70B", "Llama-9-70B", "model", "Llama-3.3-70B"),
])
def test_bad_value_names_file_row_and_column(old: str, new: str, column: str, valid: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    directory = _with_first_row(tmp_path, old, new)
    code, _, err = run_cli(monkeypatch, capsys, "validate", "--serving", "--dir", directory)
    line = one_error_line(code, err)
    assert _FILE.name in line and "row 1" in line and column in line and valid in line, line
