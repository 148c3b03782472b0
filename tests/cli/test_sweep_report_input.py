"""``trnsim sweep --report DB`` reads a sweep's database and changes nothing else.

Given another SQLite file (or an empty file) it created the sweep's tables in it, silently, and
reported "0 feasible points"; given a directory it said the database "does not exist".
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli_errors import one_error_line, run_cli


@pytest.mark.parametrize("kind", ["other database", "empty file"])
def test_report_on_a_file_that_holds_no_sweep(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "notes.sqlite"
    if kind == "other database":
        with sqlite3.connect(db) as connection:
            connection.execute("CREATE TABLE notes (text TEXT)")
    else:
        db.touch()
    before = db.read_bytes()
    code, out, err = run_cli(monkeypatch, capsys, "sweep", "--report", str(db))
    line = one_error_line(code, err)
    assert str(db) in line and "no sweep results" in line and "--db" in line
    assert out == ""
    assert db.read_bytes() == before  # no tables added


def test_report_on_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "sweep", "--report", str(tmp_path))
    line = one_error_line(code, err)
    assert "is a directory" in line and "does not exist" not in line


def test_report_on_a_sweep_database_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from trnsim.plan.store import SweepStore

    db = tmp_path / "s.sqlite"
    with SweepStore(db):
        pass  # a sweep's tables, no finished point yet
    code, out, err = run_cli(monkeypatch, capsys, "sweep", "--report", str(db))
    assert code == 0 and "Sweep: 0 feasible points" in out, (code, err)
