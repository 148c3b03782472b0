"""Infinite and NaN values of float options are refused with one line naming the option (exit 2).

``--pue inf``, ``--deadline inf`` and ``--budget inf`` passed their bounds (inf > 0) and the JSON
then held ``Infinity`` (not JSON); ``kernel run --time-limit inf`` (or 1e12, or the same in
``$TRNSIM_TIME_LIMIT_S``) killed the watchdog thread with a traceback, left the launch with no
time limit and exited 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import one_error_line, run_cli

PLAN = ["plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "trn2", "--nodes", "1",
        "--space", "quick"]
EXAMPLE = str(Path(__file__).parents[2] / "examples" / "tensor_add.py")


@pytest.mark.parametrize("option", ["--pue", "--deadline", "--budget"])
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_plan_float_options_must_be_finite(option: str, value: str, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *PLAN, option, value)
    assert option in one_error_line(code, err)


def test_compare_pue_must_be_finite(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "compare", "--model", "llama3-8b", "--systems", "trn2",
                           "--chips", "64", "--scaling", "", "--pue", "inf")
    assert "--pue" in one_error_line(code, err)


def test_out_of_range_value_names_its_option(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *PLAN, "--pue", "0.5")
    assert one_error_line(code, err).startswith("error: --pue 0.5: ")


@pytest.mark.parametrize("value", ["inf", "1e12"])
@pytest.mark.parametrize("command", ["run", "profile"])
def test_kernel_time_limit_beyond_the_timers(value: str, command: str, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn2")  # `kernel run` sets it; restored after
    code, _, err = run_cli(monkeypatch, capsys, "kernel", command, EXAMPLE, "--time-limit", value)
    assert "time limit" in one_error_line(code, err)


def test_kernel_time_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn2")
    monkeypatch.setenv("TRNSIM_TIME_LIMIT_S", "inf")
    code, _, err = run_cli(monkeypatch, capsys, "kernel", "run", EXAMPLE)
    assert "TRNSIM_TIME_LIMIT_S" in one_error_line(code, err)


COMPARE = ["compare", "--model", "llama3-8b", "--systems", "trn2", "--chips", "64", "--scaling", ""]


@pytest.mark.parametrize("command", [PLAN, COMPARE])
def test_sequence_beyond_the_models_positions_is_named(command: list[str], monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """It was exit 3, 'all candidates rejected (divisibility ...); try more ranks': not the reason."""
    from trnsim.workload.models import load_model

    longest = load_model("llama3-8b").max_seq_len
    code, _, err = run_cli(monkeypatch, capsys, *command, "--seq-len", str(longest * 2))
    line = one_error_line(code, err)
    assert f"--seq-len {longest * 2}" in line and f"max_seq_len={longest}" in line
