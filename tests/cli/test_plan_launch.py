"""``plan --launch`` settings are not lost when a document takes standard output.

With ``--json -`` (or ``--csv -``/``--html -``) the tables and the launch settings printed beside
them were off standard output, and the settings were nowhere: the JSON now carries them in
``meta.launch``, and a CSV/HTML on standard output with no JSON is refused.
"""

from __future__ import annotations

import json

import pytest

from tests.cli_errors import run_cli

PLAN = ["plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "trn2", "--nodes", "1",
        "--space", "quick", "--top", "1", "--launch", "nxdt"]


def test_json_carries_the_launch_settings_the_terminal_shows(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, terminal, err = run_cli(monkeypatch, capsys, *PLAN)
    assert code == 0, err
    code, out, err = run_cli(monkeypatch, capsys, *PLAN, "--json", "-")
    assert code == 0, err
    launch = json.loads(out)["meta"]["launch"]
    assert launch["format"] == "nxdt" and launch["settings"].strip() in terminal  # the same text


@pytest.mark.parametrize("option", ["--csv", "--html"])
def test_launch_with_a_table_document_on_stdout_is_refused(option: str, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, *PLAN, option, "-")
    assert code == 2 and err.count("\n") == 1 and "--launch" in err and out == "", err
