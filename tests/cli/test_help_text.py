"""Every option's help reads in ``--help`` as written: rich markup must not eat square brackets.

``sweep --help`` said "pip install 'trnsim'" for ``pip install 'trnsim[ray]'``: rich took
``[ray]`` for a style tag and dropped it. Each help text holding a bracket must appear whole.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main

from tests.cli_errors import run_cli
from trnsim.cli import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command under ``group`` with its path (typer's click may be its own copy: duck-typed)."""
    found = [(path, group)]
    for name, sub in getattr(group, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def _bracketed_helps() -> list[tuple[tuple[str, ...], str]]:
    out = []
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            text = getattr(param, "help", None) or ""
            # a markup-looking [word], escaped for rich or not: the reader must see it without the escape
            out += [(path, m.lstrip("\\")) for m in re.findall(r"\\?\[[a-z][a-z_-]*\]", text)]
    return out


def test_some_help_has_brackets() -> None:
    assert _bracketed_helps(), "nothing to check: the scan found no bracket in any option's help"


@pytest.mark.parametrize(("path", "tag"), _bracketed_helps() or [((), "")])
def test_bracketed_help_is_not_taken_for_markup(path: tuple[str, ...], tag: str,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    code, out, err = run_cli(monkeypatch, capsys, *path, "--help")
    assert code == 0, err
    assert tag in out, f"trnsim {' '.join(path)} --help lost {tag}"


@pytest.mark.parametrize(("args", "commands"), [([], ["estimate", "kernel", "catalog"]),
                                                (["kernel"], ["run", "profile"]),
                                                (["catalog"], ["chips", "show", "data"])])
def test_group_without_a_command_says_what_to_give(args: list[str], commands: list[str],
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """It printed the help and then a bare "error: " (click's message is the help rich had printed)."""
    code, out, err = run_cli(monkeypatch, capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "give a command" in lines[0], err
    assert all(name in lines[0] for name in commands) and "Usage:" in out
