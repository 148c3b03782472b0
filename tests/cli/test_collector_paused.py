"""``main`` pauses the cyclic garbage collector over the commands that ask for it, and restores it."""

from __future__ import annotations

import gc

import pytest
import typer

import trnsim.cli as cli
from tests.cli_errors import run_cli


@pytest.mark.parametrize(("args", "paused"), [
    (["compare", "--bogus"], True), (["compare", "--help"], True), (["plan", "--help"], False),
])
def test_compare_runs_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str],
                                                args: list[str], paused: bool) -> None:
    seen: list[bool] = []
    group = type(typer.main.get_command(cli.app))  # main runs the root group's click main
    real = group.main

    def call(self: object, *a: object, **k: object) -> object:
        seen.append(gc.isenabled())
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(group, "main", call)
    assert gc.isenabled()
    run_cli(monkeypatch, capsys, *args)
    assert seen == [not paused]
    assert gc.isenabled()  # restored, also after an error or --help
