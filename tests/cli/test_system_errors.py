"""Issue cases of the system commands: one line on stderr, honest exit status, the right hint.

Exit status: 2 for bad input, 3 when the input is valid but no plan can exist (the line names the
binding constraint), 0 for an explicit plan that does not fit memory (the verdict is printed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.cli_errors import run_main
from trnsim.cli import main

HUGE = "1000000000000000000000000000000"  # 1e30: beyond any float's exact range and int64


def _only_line(err: str, prefix: str = "error: ") -> str:
    """The single line of ``err`` (no blank lines, no second line), checked to start with ``prefix``."""
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith(prefix), err
    return lines[0]


def test_huge_global_batch_estimates_without_overflow(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["estimate", "--model", "llama3-8b", "--system", "trn2",
                                               "--ranks", "8", "--global-batch", HUGE])
    assert code == 0, err
    assert "Traceback" not in err


def test_huge_run_goodput_is_zero_and_wall_time_unbounded(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["estimate", "--model", "llama3-8b", "--system", "trn2", "--ranks", "8", "--global-batch", HUGE,
            "--train-tokens", "1e40"]
    monkeypatch.setattr(sys, "argv", ["trnsim", *args])
    main()  # returns: status 0
    out = capsys.readouterr().out
    assert "unbounded (a step outlasts many job MTBFs)" in out


def test_more_chips_than_any_system_warns_once_and_goes_on(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["estimate", "--model", "llama3-8b", "--system", "trn2",
                                               "--nodes", "10000000", "--recompute", "full", "--zero", "3"])
    assert code == 0, err
    # 10,000,000 trn2.48xlarge nodes of 16 chips
    assert _only_line(err, "warning: ") == ("warning: 640,000,000 ranks of trn2: 160,000,000 chips is more "
                                            "than any system built (over 1,000,000); estimating anyway")


def test_a_million_chips_is_not_warned_about(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # 62,500 nodes x 16 chips = exactly 1,000,000 chips: the limit itself is plausible
    code, err = run_main(capsys, monkeypatch, ["estimate", "--model", "llama3-8b", "--system", "trn2",
                                               "--nodes", "62500", "--recompute", "full", "--zero", "3"])
    assert code == 0 and "more than any system" not in err, err


def test_plan_with_more_ranks_than_any_split_names_the_bound(capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["plan", "--model", "llama3-8b", "--system", "trn2",
                                               "--tokens", "1T", "--nodes", "10000000"])
    assert code == 3, err
    line = _only_line(err)
    # llama3-8b: 32 heads (TP <= 32 within a 64-rank node), 32 layers (PP <= 32), CP <= 8 in the full
    # space, DP divides the global batch 1024: 1024 * 32 * 32 * 8 = 8,388,608 ranks at most.
    assert "640,000,000 ranks" in line and "= 8,388,608 ranks" in line
    assert "try 8,388,608 ranks" in line and "multiple of 64" not in line


def test_plan_without_a_split_suggests_a_rank_count_that_has_one(capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["plan", "--model", "llama3-8b", "--system", "trn2",
                                               "--tokens", "1T", "--nodes", "3", "--global-batch", "7"])
    assert code == 3, err
    # 192 = 2^6 * 3 ranks: DP must divide 7 (1 or 7), TP and CP are powers of two and PP divides
    # 32 layers, so no product is 192; the nearest whole-node count with a split is 128 = 32 x 4 x 1 x 1.
    assert "try 128 ranks" in _only_line(err)


def test_compare_with_no_feasible_system_exits_3(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["compare", "--chips", "10000000"])
    assert code == 3, err
    line = _only_line(err)
    assert "40,000,000 ranks" in line and "multiple of 64" not in line
    # the suggested count has a split: afm-server, gb 4096, trn2-ultraserver 4 ranks per chip
    suggested = int(line.split("try ")[1].split(" ranks")[0].replace(",", ""))
    assert suggested != 40_000_000 and suggested % 256 == 0 and "chips)" in line


def test_missing_model_file_says_so(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    missing = tmp_path / "config.json"
    code, err = run_main(capsys, monkeypatch, ["estimate", "--model", str(missing), "--system", "trn2",
                                               "--nodes", "1"])
    assert code == 2
    assert f"model file '{missing}' does not exist" in _only_line(err)


def test_unknown_preset_name_still_lists_presets(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["estimate", "--model", "llama9", "--system", "trn2",
                                               "--nodes", "1"])
    assert code == 2 and "unknown model 'llama9'; known:" in _only_line(err)


@pytest.mark.parametrize("value", ["-5T", "-1", "0", "-0.5B"])
def test_negative_tokens_must_be_positive(value: str, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["plan", "--model", "llama3-8b", "--system", "trn2",
                                               "--tokens", value, "--nodes", "1"])
    assert code == 2
    assert f"--tokens must be positive, got '{value}'" in _only_line(err)


def test_scaling_error_suggests_chip_counts(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["compare", "--scaling", "abc"])
    line = _only_line(err)
    assert code == 2 and "--scaling value 'abc' is not a number" in line
    assert "chip counts" in line and "6.3T" not in line


def test_catalog_error_names_the_option(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    code, err = run_main(capsys, monkeypatch, ["plan", "--model", "llama3-8b", "--system", "trn2",
                                               "--tokens", "1T", "--nodes", "1", "--catalog",
                                               str(tmp_path / "none")])
    line = _only_line(err)
    assert code == 2 and "(given by --catalog)" in line and "catalog_dir=" not in line


def test_catalog_show_unknown_lists_each_name_once(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["catalog", "show", "trn9"])
    line = _only_line(err)
    names = line.split("known: ")[1].split(", ")
    assert code == 2 and len(names) == len(set(names)) and "trn2" in names and "p5" in names


@pytest.mark.parametrize("command", [
    ["plan", "--model", "llama3-8b", "--system", "trn2", "--tokens", "1T", "--nodes", "1", "--space",
     "quick"],
    ["compare", "--model", "llama3-8b", "--tokens", "100B", "--systems", "trn2,p5e", "--chips", "64",
     "--global-batch", "256", "--scaling", ""],
])
def test_no_stray_blank_line_on_stderr_off_a_terminal(command: list[str], capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, command)  # progress bar on (the default), stderr captured
    assert code == 0 and err == "", repr(err)


def test_explicit_plan_that_does_not_fit_keeps_exit_0_with_verdict(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["estimate", "--model", "llama3-8b", "--system", "trn2",
                                               "--nodes", "1"])
    assert code == 0
    assert "does not fit" in _only_line(err, "warning: ")


def test_no_split_hint_with_a_huge_global_batch_is_quick(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # 10^30 + 1 is odd: with 192 = 2^6 x 3 ranks no DP of a power-of-two split divides it; the divisors
    # are listed up to 10^6 only (not up to sqrt(10^30)), and DP = 1 gives 128 = 32 x 4 ranks again.
    code, err = run_main(capsys, monkeypatch, ["plan", "--model", "llama3-8b", "--system", "trn2", "--tokens",
                                               "1e40", "--nodes", "3", "--global-batch", str(10**30 + 1)])
    assert code == 3 and "try 128 ranks (32 chips)" in _only_line(err)
