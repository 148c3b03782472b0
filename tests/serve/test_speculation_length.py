"""A speculation round is held to the request it serves: at most ``output_tokens - 1`` draft tokens.

A round drafts ``k`` tokens and the verify step adds one, so it yields at most ``k + 1``; a request
generates ``O``, so a draft longer than ``O - 1`` proposes tokens that can never be kept.
``serve --speculation-length 9000`` for 64 output tokens was accepted (a verify step of 9,001
tokens per request: 118 s TPOT); it is one line naming the valid range 1..O-1.
"""

from __future__ import annotations

import pytest

from tests.cli_errors import one_error_line, run_cli
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.serve import ServeConfig, Speculation
from trnsim.workload import load_model


def _config(length: int, output_tokens: int) -> ServeConfig:
    return ServeConfig(load_model("llama3.3-70b"), load_system("trn2"), 64, 64, 1, 256, output_tokens,
                       speculation=Speculation(load_model("llama3.1-8b"), length, 0.7))


def test_length_is_bounded_by_the_output() -> None:
    _config(15, 16)  # 15 drafted + 1 verified = the 16 tokens the request generates
    with pytest.raises(ConfigError, match=r"speculation length 16 .*--speculation-length 1\.\.15"):
        _config(16, 16)
    with pytest.raises(ConfigError, match=r"--output-tokens 1 leaves no token to draft"):
        _config(1, 1)


def test_cli_refuses_a_length_beyond_the_output(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = ["serve", "--model", "llama3.3-70b", "--system", "trn2", "--chips", "16", "--tp", "64",
            "--input-tokens", "256", "--output-tokens", "64", "--draft-model", "llama3.1-8b"]
    line = one_error_line(*run_cli(monkeypatch, capsys, *args, "--speculation-length", "9000")[::2])
    assert "1..63" in line and "--speculation-length" in line, line
    code, _, err = run_cli(monkeypatch, capsys, *args, "--speculation-length", "63")
    assert code == 0, err
