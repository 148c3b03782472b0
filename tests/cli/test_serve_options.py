"""``trnsim serve``: no option the chosen mode would ignore, '-' for every output, checked targets.

``--compare`` searches each system's layout itself, so the one-layout options (--system, --chips,
--tp, a draft model ...) were silently ignored with it, and its own options (--systems, --tpot-ms,
--csv, --html) without it; '--csv -'/'--html -' wrote a file named '-'; a negative or NaN target
ranked every system as missing it, and exit 3 came with no error line.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli_errors import one_error_line, run_cli

ONE = ["serve", "--model", "llama3-8b", "--system", "trn2", "--chips", "1", "--input-tokens", "256",
       "--output-tokens", "64"]
CMP = ["serve", "--model", "llama3-8b", "--compare", "--systems", "trn2,p5", "--input-tokens", "256",
       "--output-tokens", "64", "--concurrency", "4"]


@pytest.mark.parametrize("extra", [["--system", "trn2"], ["--chips", "1"], ["--tp", "1"], ["--pp", "1"],
                                   ["--ep", "1"], ["--prefill-chunk", "128"], ["--draft-model", "llama3-8b"],
                                   ["--acceptance-rate", "0.5"]])
def test_compare_refuses_the_options_of_one_layout(extra: list[str], monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *CMP, *extra)
    line = one_error_line(code, err)
    assert extra[0] in line and "--compare" in line


@pytest.mark.parametrize("extra", [["--systems", "p5"], ["--tpot-ms", "50"], ["--ttft-ms", "500"],
                                   ["--csv", "x.csv"], ["--html", "x.html"]])
def test_one_layout_refuses_the_options_of_compare(extra: list[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, *ONE, *extra)
    line = one_error_line(code, err)
    assert extra[0] in line and "--compare" in line
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_csv_to_stdout_is_the_csv_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, *CMP, "--csv", "-")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["system"] for r in rows} == {"trn2", "p5"}
    assert list(tmp_path.iterdir()) == []  # no file named '-'
    code, out, err = run_cli(monkeypatch, capsys, *CMP, "--html", "-")
    assert code == 0 and out.lstrip().lower().startswith("<!doctype html>") and list(tmp_path.iterdir()) == []


def test_two_documents_on_stdout_are_refused(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, *CMP, "--json", "-", "--csv", "-")
    assert "standard output" in one_error_line(code, err) and out == ""


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_latency_target_must_be_positive_and_finite(value: str, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *CMP, "--tpot-ms", value)
    assert "--tpot-ms" in one_error_line(code, err)


def test_nothing_meeting_the_target_is_exit_3_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, *CMP, "--tpot-ms", "0.001", "--json", "-")
    assert "--tpot-ms 0.001" in one_error_line(code, err, status=3)
    assert not any(s["meets_target"] for s in json.loads(out)["systems"])  # the result is still written


def test_empty_systems_list(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *CMP[:5], ",", *CMP[6:])
    assert "names no system" in one_error_line(code, err)


def test_chips_that_do_not_fit_are_named_in_chips(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    args = [a if a != "1" else "3" for a in ONE]  # --chips 3: trn2 nodes hold 16
    line = one_error_line(*run_cli(monkeypatch, capsys, *args)[::2])
    assert "--chips 3 does not fit trn2 nodes of 16 chips" in line


def test_an_empty_systems_option_is_refused_not_the_defaults(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # `--systems ""` ran the seven default systems, as if the option had not been given.
    code, out, err = run_cli(monkeypatch, capsys, *CMP[:5], "", *CMP[6:])
    assert "names no system" in one_error_line(code, err) and out == ""


def test_compare_keeps_a_concurrency_of_one(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # `--concurrency 1` (the single layout's default) was taken as "no cap": layouts of 256 requests.
    args = [a if a != "4" else "1" for a in CMP]
    code, out, err = run_cli(monkeypatch, capsys, *args, "--csv", "-")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and {r["concurrency"] for r in rows} == {"1"}
    code, out, err = run_cli(monkeypatch, capsys, *CMP[:-2], "--csv", "-")  # no --concurrency: no cap
    assert code == 0 and max(int(r["concurrency"]) for r in csv.DictReader(io.StringIO(out))) > 4


def test_a_large_chip_count_is_written_out(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # The title read "served on 1e+06 chips (4000000 ranks)".
    args = [a if a != "1" else "1000000" for a in ONE]
    code, out, err = run_cli(monkeypatch, capsys, *args, "--tp", "4")
    assert code == 0, err
    assert "served on 1,000,000 chips (4,000,000 ranks) of trn2" in out and "e+" not in out
    args = [*ONE[:5], "--ranks", "2", *ONE[7:]]  # part of a chip stays a fraction
    code, out, err = run_cli(monkeypatch, capsys, *args, "--tp", "2")
    assert code == 0 and "served on 0.5 chips (2 ranks) of trn2" in out, err


def test_ep_on_a_dense_model_says_it_is_dense(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # It said "--ep 2 must divide num_experts=0": there is no value of --ep above 1 that would do.
    args = [a if a != "1" else "2" for a in ONE]
    line = one_error_line(*run_cli(monkeypatch, capsys, *args, "--ep", "2")[::2])
    assert "--ep 2" in line and "MoE" in line and "llama3-8b" in line and "num_experts=0" not in line


def test_tp_pp_not_dividing_the_ranks_names_the_valid_products(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(*run_cli(monkeypatch, capsys, *ONE, "--tp", "3")[::2])  # 1 chip: 4 ranks
    assert "tp*pp = 3 must divide the 4 ranks" in line and "valid: 1, 2, 4" in line


def test_compare_says_its_ttft_is_one_requests_alone(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # The TTFT column (and --ttft-ms) is a request's own prefill, while the layout holds C requests:
    # C arriving together wait for C encodings on Trainium. It was shown without a word, the
    # closed-loop figure `serve --concurrency C` prints nowhere in the comparison.
    code, out, err = run_cli(monkeypatch, capsys, *CMP, "--json", "-")
    assert code == 0, err
    for row in json.loads(out)["systems"]:
        assert row["ttft_closed_loop_s"] >= row["ttft_s"]
        if row["system"] == "trn2" and row["concurrency"] > 1:
            assert row["ttft_closed_loop_s"] > row["ttft_s"]
    code, out, err = run_cli(monkeypatch, capsys, *CMP)
    assert code == 0 and "one request's alone" in " ".join(out.split()), err
    code, out, err = run_cli(monkeypatch, capsys, *CMP, "--html", "-")
    assert code == 0 and "one request&#x27;s alone" in out, err


def test_a_model_too_big_for_a_node_says_the_search_stops_there(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # "no layout fits in memory" read as if no number of p5 nodes could serve a 405B model; the
    # search holds one replica to one node.
    args = ["serve", "--model", "llama3-405b", "--compare", "--systems", "p5", "--input-tokens", "256",
            "--output-tokens", "16", "--csv", "-"]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert code == 3 and "one node" in row["why_none"], (code, err)


def test_a_narrow_terminal_cuts_no_number_of_the_comparison() -> None:
    # At 80 columns the table printed the break-even price 176.10 as "176.…" and headers as "tok/s…".
    from rich.console import Console

    from trnsim.report.serving import print_compare
    from trnsim.serve.compare import compare_serving
    from trnsim.workload import load_model

    outcome = compare_serving(load_model("llama3-8b"), ["trn2-ultraserver", "p5", "b200"], input_tokens=256,
                              output_tokens=64, concurrency_max=4)
    buffer = io.StringIO()
    print_compare(outcome, Console(file=buffer, width=80))
    text = buffer.getvalue()
    assert "…" not in text
    for choice in outcome.choices:
        row = choice.row()
        assert f"{row['output_tokens_per_s']:,.0f}" in text and f"{row['tpot_s'] * 1e3:,.1f}" in text
        if row["break_even_usd_per_node_hour"] is not None:
            assert f"{row['break_even_usd_per_node_hour']:,.2f}" in text


@pytest.mark.parametrize(("draft", "says"), [("/nonexistent/draft.json", "does not exist"),
                                             ("llama9-1b", "llama3.1-8b")])
def test_a_missing_draft_model_is_named_as_such(draft: str, says: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # A draft config.json path that does not exist read "unknown draft model '...'; valid: <presets>".
    line = one_error_line(*run_cli(monkeypatch, capsys, *ONE, "--draft-model", draft)[::2])
    assert "--draft-model" in line and says in line
