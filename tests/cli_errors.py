"""Run the ``trnsim`` entry point in-process and collect what a user would see on a bad input."""

from __future__ import annotations

import sys

import pytest

from trnsim.cli import main


def run_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             args: list[str]) -> tuple[int, str]:
    """Exit status and the non-empty stderr lines of ``trnsim ARGS``."""
    monkeypatch.setattr(sys, "argv", ["trnsim", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    code = exited.value.code
    return (code if isinstance(code, int) else 1), err
