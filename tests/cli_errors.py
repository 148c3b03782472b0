"""Run the ``trnsim`` entry point in-process and collect what a user would see."""

from __future__ import annotations

import sys

import pytest

from trnsim.cli import main


def _invoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            args: list[str]) -> tuple[object, str, str]:
    """``trnsim ARGS`` in this process: its raw exit code (0 on a normal return), stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["trnsim", *args])
    code: object = 0
    try:
        main()
    except SystemExit as exited:
        code = 0 if exited.code is None else exited.code
    out = capsys.readouterr()
    return code, out.out, out.err


def run_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
             args: list[str]) -> tuple[int, str]:
    """Exit status and the stderr of ``trnsim ARGS`` (status 0 when ``main`` returns normally)."""
    code, _, err = _invoke(capsys, monkeypatch, args)
    return (code if isinstance(code, int) else 1), err


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            *args: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``trnsim ARGS``; the status must be a number."""
    code, out, err = _invoke(capsys, monkeypatch, list(args))
    assert isinstance(code, int), f"trnsim {' '.join(args)} exited with a message, not a status: {code!r}"
    return code, out, err


def one_error_line(code: int, err: str, prefix: str = "error: ", status: int = 2) -> str:
    """The one line a refused command printed: exit ``status`` and a single stderr line starting with
    ``prefix`` (asserted), returned for the caller's checks of its content."""
    lines = err.strip().splitlines()
    assert code == status and len(lines) == 1 and lines[0].startswith(prefix), (code, err)
    return lines[0]
