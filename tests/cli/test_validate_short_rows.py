"""``validate --dir``: a calibration row with fewer fields than its header is one error line (exit 2).

A short row of a training file ended in a TypeError traceback ("int() argument must be ... not
'NoneType'": the csv reader fills missing fields with None).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

_CALIBRATION = Path(__file__).parents[2] / "src" / "trnsim" / "data" / "calibration"


def _cut_first_row(path: Path) -> None:
    lines = path.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    lines[header + 1] = ",".join(lines[header + 1].split(",")[:-2])  # the last two fields lost
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("name", "args"), [("neuron_trn1_llama2.csv", []),
                                            ("neuron_trn2_inference.csv", ["--serving"])])
def test_short_row_is_one_line(name: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    for source in _CALIBRATION.iterdir():
        if source.is_file():
            shutil.copy(source, tmp_path / source.name)
    _cut_first_row(tmp_path / name)
    code, _, err = run_cli(monkeypatch, capsys, "validate", "--dir", str(tmp_path), *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and name in lines[0], (code, err)
    assert "fewer" in lines[0] or "missing" in lines[0]
