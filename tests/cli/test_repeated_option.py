"""An option given twice is one error line (exit 2), not the last value silently kept.

``estimate --nodes 1 ... --nodes 2`` estimated 2 nodes; ``--sequence-parallel ...
--no-sequence-parallel`` kept the last. Options meant to repeat (``--topology-set``) and the
arguments a kernel file gets (``kernel run FILE ARGS``) are left alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import run_cli

EST = ["estimate", "--model", "llama3-8b", "--system", "p5", "--zero", "1"]


@pytest.mark.parametrize(("args", "message"), [
    ([*EST, "--nodes", "1", "--nodes", "2"], "--nodes is given twice"),
    ([*EST, "--nodes", "1", "--tp=2", "--tensor-model-parallel-size", "4"],
     "--tensor-model-parallel-size is given twice (also as --tp)"),
    ([*EST, "--nodes", "1", "--sequence-parallel", "--no-sequence-parallel"],
     "--no-sequence-parallel is given twice (also as --sequence-parallel)"),
    (["catalog", "chips", "--json", "a.json", "--json", "b.json"], "--json is given twice"),
])
def test_repeated_option_is_one_line(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and out == "", (code, err)
    assert message in lines[0] and "give it once" in lines[0]


def test_repeatable_options_and_file_arguments_pass(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *EST, "--nodes", "1", "--topology-set",
                           "scale_out.hop_latency_us=20", "--topology-set", "scale_out.hop_latency_us=30")
    assert code == 0, err
    example = Path(__file__).parents[2] / "examples" / "tensor_add.py"
    code, _, err = run_cli(monkeypatch, capsys, "kernel", "run", str(example), "--", "--x", "1", "--x", "2")
    assert code == 0, err
