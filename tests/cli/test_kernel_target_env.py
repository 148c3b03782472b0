"""``$NEURON_PLATFORM_TARGET_OVERRIDE`` picks the target of ``kernel run`` *and* ``kernel profile``.

``kernel profile`` (documented as running the file "exactly as kernel run does") always profiled
trn2 without ``--target``, while ``kernel run`` in the same shell ran on the variable's target; and
a bad value in the variable was reported as an unknown target without naming the variable.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "tensor_add.py"
ENV = "NEURON_PLATFORM_TARGET_OVERRIDE"


def test_profile_takes_the_variable_s_target(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ENV, "trn1")
    code, out, err = run_cli(monkeypatch, capsys, "kernel", "profile", str(EXAMPLE), "--json", "-")
    assert code == 0, err
    assert [launch["target"] for launch in json.loads(out)] == ["trn1"]
    code, out, err = run_cli(monkeypatch, capsys, "kernel", "profile", str(EXAMPLE), "--json", "-",
                             "--target", "trn3")
    assert code == 0 and [launch["target"] for launch in json.loads(out)] == ["trn3"], err  # --target wins


@pytest.mark.parametrize("command", ["run", "profile"])
def test_bad_variable_is_named(command: str, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ENV, "trn9")
    code, out, err = run_cli(monkeypatch, capsys, "kernel", command, str(EXAMPLE))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and out == "", (code, err)
    assert f"${ENV}" in lines[0] and "'trn9'" in lines[0] and "trn1" in lines[0] and "--target" in lines[0]
