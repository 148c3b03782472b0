"""``sweep`` refuses an option that would have no effect, as ``estimate --interleave`` without a pipeline.

``--num-cpus`` without ``--ray`` (it sizes a local Ray instance), ``--workers`` with ``--local`` or Ray,
and the run options (``--db``, ``--workers``, ``--local``, ``--ray``) with ``--report`` were taken and
ignored: the run looked configured as asked and was not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import run_cli

SPEC = 'tokens = 1e12\nmodels = ["llama3-8b"]\nsystems = ["p5"]\nchips = [8]\n'


@pytest.mark.parametrize(("args", "message"), [
    (["{spec}", "--num-cpus", "4"], "--num-cpus sizes the local Ray instance"),
    (["{spec}", "--num-cpus", "4", "--address", "ray://h:10001"], "--num-cpus sizes the local Ray instance"),
    (["{spec}", "--local", "--workers", "3"], "--workers"),
    (["--report", "{db}", "--db", "{tmp}/other.sqlite"], "--report reads a finished sweep"),
    (["--report", "{db}", "--workers", "2"], "--report reads a finished sweep"),
    (["--report", "{db}", "--local"], "--report reads a finished sweep"),
])
def test_option_without_effect_is_one_line(args: list[str], message: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from trnsim.plan.store import SweepStore

    spec, db = tmp_path / "s.toml", tmp_path / "s.sqlite"
    spec.write_text(SPEC)
    with SweepStore(db):
        pass
    given = [a.format(spec=spec, db=db, tmp=tmp_path) for a in args]
    code, out, err = run_cli(monkeypatch, capsys, "sweep", *given)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], (code, err)
    assert out == "" and not (tmp_path / "other.sqlite").exists()
