"""``main`` builds only the command its command line names: the same help, usage and errors as the
whole CLI gives, and every command registered again afterwards."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.cli_errors import run_cli
from trnsim.cli import _only_invoked, app


@pytest.mark.parametrize("args", [
    ["compare", "--help"], ["compare", "--bogus"], ["plan", "--chips", "0"], ["kernel", "run", "--help"],
    ["catalog", "--help"], ["comparee"], ["--help"],
])
def test_the_narrowed_cli_answers_as_the_whole_one(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str],
                                                   args: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    whole = CliRunner().invoke(app, args, prog_name="trnsim")  # every command registered
    commands, groups = list(app.registered_commands), list(app.registered_groups)
    code, out, _ = run_cli(monkeypatch, capsys, *args)
    assert app.registered_commands == commands and app.registered_groups == groups
    assert code == whole.exit_code
    if code == 0:  # help: the same page (errors: main words them in one line of its own)
        assert out == whole.stdout


def test_it_registers_only_the_named_command_meanwhile() -> None:
    names = {c.name for c in app.registered_commands}
    with _only_invoked(["compare", "--chips", "64"]):
        assert [c.name for c in app.registered_commands] == ["compare"] and not app.registered_groups
    with _only_invoked(["kernel", "run"]):
        assert not app.registered_commands and [g.name for g in app.registered_groups] == ["kernel"]
    for whole in (["--version"], ["no-such-command"], []):
        with _only_invoked(whole):
            assert {c.name for c in app.registered_commands} == names
    assert {c.name for c in app.registered_commands} == names
