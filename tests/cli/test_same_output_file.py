"""Two outputs of one command naming the same file are refused: the second silently replaced the first.

``plan --json x --csv x`` left only the CSV, ``kernel profile --json x --trace x`` only the JSON,
and ``sweep --report db --html db`` would write the page over the results database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

EXAMPLE = str(Path(__file__).parents[2] / "examples" / "tensor_add.py")


@pytest.mark.parametrize(("args", "first", "second"), [
    (["plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "trn2", "--nodes", "1"],
     "--json", "--csv"),
    (["compare", "--model", "llama3-8b", "--systems", "p5", "--chips", "8", "--scaling", ""],
     "--json", "--html"),
    (["serve", "--model", "llama3-8b", "--compare", "--systems", "p5"], "--csv", "--json"),
    (["validate"], "--json", "--write-bands"),
    (["kernel", "profile", EXAMPLE], "--json", "--trace"),
])
def test_two_outputs_to_one_file(args: list[str], first: str, second: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out"
    (tmp_path / "sub").mkdir()
    same = str(tmp_path / "sub" / ".." / "out")  # the same file, spelt another way
    code, _, err = run_cli(monkeypatch, capsys, *args, first, str(target), second, same)
    assert code == 2 and err.count("\n") == 1 and first in err and second in err, err
    assert not target.exists()


def test_sweep_report_over_its_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.sqlite"
    sqlite3.connect(db).close()
    before = db.read_bytes()
    code, _, err = run_cli(monkeypatch, capsys, "sweep", "--report", str(db), "--html", str(db))
    assert code == 2 and "--report and --html" in err and db.read_bytes() == before, err
