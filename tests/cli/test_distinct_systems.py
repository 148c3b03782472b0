"""A system named twice in ``--systems`` (itself or by an alias) is one error line, not doubled rows.

``compare --systems trn2,trn2`` searched trn2 twice and printed it twice ("the power per chip of
trn2, trn2 ..."), as did an alias (trn2.48xlarge); ``serve --compare`` alike.
"""

from __future__ import annotations

import re

import pytest

from tests.cli_errors import run_cli

COMPARE = ["compare", "--model", "llama3-8b", "--chips", "64", "--scaling", ""]
SERVE = ["serve", "--model", "llama3-8b", "--compare", "--input-tokens", "256", "--output-tokens", "64"]


def _alias_of(name: str) -> str:
    from trnsim.hardware.catalog import load_system

    return load_system(name).aliases[0]


@pytest.mark.parametrize("command", [COMPARE, SERVE])
@pytest.mark.parametrize("second", ["trn2", "alias"])
def test_repeated_system_is_refused(command: list[str], second: str, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    other = _alias_of("trn2") if second == "alias" else "trn2"
    code, out, err = run_cli(monkeypatch, capsys, *command, "--systems", f"trn2,p5,{other}")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--systems names" in lines[0] and other in lines[0], err
    assert out == ""


def test_api_compare_refuses_a_repeated_system() -> None:
    import trnsim
    from trnsim.errors import ConfigError

    alias = _alias_of("trn2")
    # the CLI's rule and words, with the API's argument name
    expected = f"systems names '{alias}' and 'trn2' are both trn2; give each system once"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        trnsim.compare("llama3-8b", systems=["trn2", alias], chips=64, scaling=())
