"""``--precision fp8`` on a chip with no FP8 rate says that it runs at the BF16 rate.

The chips' data files give A100 and TPU v4/v5p no ``peak_flops_fp8`` ("no FP8 units; FP8 runs at the
BF16 rate"), and ``ChipSpec.peak_flops`` falls back to BF16 for them: ``estimate --precision fp8``
on p4d gave the BF16 step time with nothing said. The command goes on (the documented fallback)
with one warning line on stderr naming the systems affected, as estimate, plan and compare do for
other things they estimate anyway (``warn_if_huge``); ``serve`` too (its ``--precision fp8`` weights).
"""

from __future__ import annotations

import pytest

from tests.cli_errors import run_cli

EST = ["estimate", "--model", "llama3-8b", "--nodes", "1", "--tp", "8", "--seq-len", "2048"]
PLAN = ["plan", "--model", "llama3-8b", "--nodes", "1", "--tokens", "1T", "--top", "1", "--space", "quick"]
SERVE = ["serve", "--model", "llama3-8b", "--chips", "8", "--tp", "8", "--concurrency", "1", "--input-tokens",
         "128", "--output-tokens", "16"]
CMP = ["compare", "--model", "llama3-8b", "--chips", "64", "--scaling", "", "--space", "quick"]


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("args", [
    [*EST, "--system", "p4d"], [*PLAN, "--system", "p4d"], [*CMP, "--systems", "trn2,p4d,tpu-v4"],
    [*SERVE, "--system", "p4d"],
])
def test_fp8_without_fp8_units_is_said(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                       args: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # the warning on one line
    code, _, err = run_cli(monkeypatch, capsys, *args, "--precision", "fp8")
    assert code == 0, err
    (line,) = _warnings(err)
    assert "p4d (a100)" in line and "no FP8 rate" in line and "BF16 rate" in line, line
    assert ("tpu-v4 (tpu-v4)" in line) == ("tpu-v4" in args[-1]) and "trn2" not in line, line
    code, _, err = run_cli(monkeypatch, capsys, *args, "--precision", "bf16")
    assert code == 0 and not _warnings(err), err


@pytest.mark.parametrize("args", [[*EST, "--system", "trn2"], [*PLAN, "--system", "p5"]])
def test_fp8_with_fp8_units_says_nothing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                         args: list[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *args, "--precision", "fp8")
    assert code == 0 and not _warnings(err), err
