"""``trnsim validate``: --serving honours --dir and refuses --write-bands; '-' is standard output.

``--serving`` ignored --dir and --write-bands (the bundled serving runs were validated, no bands
file was written, exit 0), and ``--serving --json -`` / ``--write-bands -`` wrote a file named '-'.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

_CALIBRATION = Path(__file__).parents[2] / "src" / "trnsim" / "data" / "calibration"
_SERVING = "neuron_trn2_inference.csv"


def test_serving_reads_the_runs_of_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    lines = (_CALIBRATION / _SERVING).read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    columns = lines[header].split(",")
    row = lines[header + 1].split(",")
    ttft = columns.index("ttft_ms")
    row[ttft] = str(float(row[ttft]) * 2)  # a run measured twice as slow
    lines[header + 1] = ",".join(row)
    (tmp_path / _SERVING).write_text("\n".join(lines) + "\n")
    code, out, err = run_cli(monkeypatch, capsys, "validate", "--serving", "--dir", str(tmp_path),
                             "--json", "-")
    assert code == 0, err
    assert json.loads(out)["rows"][0]["measured_ttft_s"] == pytest.approx(float(row[ttft]) / 1e3)


def test_serving_without_its_file_in_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "validate", "--serving", "--dir", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and _SERVING in err, err


def test_serving_refuses_write_bands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "bands.toml"
    code, _, err = run_cli(monkeypatch, capsys, "validate", "--serving", "--write-bands", str(target))
    assert code == 2 and "--write-bands" in err and not target.exists(), err


def test_serving_json_to_stdout_is_the_json_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, "validate", "--serving", "--json", "-")
    assert code == 0, err
    assert len(json.loads(out)["rows"]) >= 1 and list(tmp_path.iterdir()) == []


def test_bands_to_stdout_are_the_bands_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, "validate", "--write-bands", "-")
    assert code == 0, err
    assert list(tmp_path.iterdir()) == []
    # the tables stay off standard output: it is the TOML alone, the bands the shipped file holds
    # (tests/cluster checks that file against --write-bands)
    assert tomllib.loads(out) == tomllib.loads((_CALIBRATION / "error_bands.toml").read_text())
    code, _, err = run_cli(monkeypatch, capsys, "validate", "--write-bands", "-", "--json", "-")
    assert code == 2 and "standard output" in err


@pytest.mark.parametrize(("name", "args"), [("settings.toml", []), (_SERVING, ["--serving"])])
def test_files_of_dir_that_are_not_text(name: str, args: list[str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Bytes that are not UTF-8 ended in a UnicodeDecodeError traceback."""
    (tmp_path / name).write_bytes(b"\xff\xfe")
    code, _, err = run_cli(monkeypatch, capsys, "validate", *args, "--dir", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and name in err, err
