"""The equal-budget table says where its budget comes from.

With ``--hourly-budget`` given, its title still read "(the reference trn1's spend)": a figure the
user typed, credited to a system's catalog price.
"""

from __future__ import annotations

import pytest

from tests.cli_errors import run_cli

CMP = ["compare", "--model", "llama3-8b", "--systems", "trn1,p5", "--chips", "64", "--scaling", ""]


def _title(out: str) -> str:
    return next(line.strip() for line in out.splitlines() if line.startswith("Equal budget"))


def test_given_budget_is_not_credited_to_the_reference(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run_cli(monkeypatch, capsys, *CMP, "--hourly-budget", "1000")
    assert code == 0, err
    assert _title(out) == "Equal budget: $1,000/h (given with --hourly-budget)"
    code, out, err = run_cli(monkeypatch, capsys, *CMP)
    assert code == 0, err
    assert _title(out).endswith("(the reference trn1's spend)")  # the first priced system, by default
