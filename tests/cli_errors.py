"""Run the ``trnsim`` entry point in-process and collect what a user would see on a bad input."""

from __future__ import annotations

import sys

import pytest

from trnsim.cli import main


def run_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             args: list[str]) -> tuple[int, str]:
    """Exit status and the stderr of ``trnsim ARGS`` (status 0 when ``main`` returns normally)."""
    monkeypatch.setattr(sys, "argv", ["trnsim", *args])
    code: object = 0
    try:
        main()
    except SystemExit as exited:
        code = 0 if exited.code is None else exited.code
    err = capsys.readouterr().err
    return (code if isinstance(code, int) else 1), err
