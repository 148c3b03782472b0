"""Error bars reach every output of ``plan`` and ``compare``: terminal, JSON, CSV and HTML.

The toy step model stands in for the cluster model (these tests check where the bands go, not the
step times); the bands themselves are the shipped ones, read back from the output, and every range
and verdict is recomputed here from the predicted value and its band.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.cli_errors import run_cli
from tests.plan.toy_steps import ToyStepModel
from trnsim.report.html import error_bars, results_table

Capture = pytest.CaptureFixture[str]
RANGED = ("step_time_s", "time_to_train_days", "cost_usd", "energy_mwh")


@pytest.fixture(autouse=True)
def toy_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trnsim.plan.search.cluster_step", ToyStepModel(capacity_bytes=24e9))


def _check_ranges(row: dict[str, object]) -> None:
    """Each predicted value's low/high is the value times (1 -/+ its band); unknown stays unknown."""
    band = row["error_band"]
    assert isinstance(band, float) and 0 < band < 1
    for key in RANGED:
        value = row[key]
        if value is None:
            assert row[f"{key}_low"] is None and row[f"{key}_high"] is None
            continue
        assert isinstance(value, float)
        assert row[f"{key}_low"] == pytest.approx(value * (1 - band))
        assert row[f"{key}_high"] == pytest.approx(value * (1 + band))


def test_plan_shows_the_band_in_every_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: Capture) -> None:
    outs = {k: tmp_path / f"plan.{k}" for k in ("json", "csv", "html")}
    code, out, err = run_cli(
        monkeypatch, capsys, "plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "trn2",
        "--nodes", "4", "--global-batch", "256", "--top", "2", "--no-progress",
        "--json", str(outs["json"]), "--csv", str(outs["csv"]), "--html", str(outs["html"]))
    assert code == 0, err
    data = json.loads(outs["json"].read_text())
    top = [r for r in data["results"] if r["kind"] == "top"]
    band = top[0]["error_band"]
    # Trn2: Trn1's validation widened, labelled as never checked on Trn2 in every format
    label = "not validated on Trn2/Trn3"
    assert label in top[0]["error_band_label"]
    assert f"±{band:.0%} (trainium-unvalidated): {label}" in out
    assert "± applies to step time, days, cost and MWh alike" in out
    for row in top:
        _check_ranges(row)
    assert top[0]["energy_mwh_low"] is not None  # trn2 has a power figure (an estimate), no price
    meta = data["meta"]["error_bars"]
    assert meta["bands"]["trainium-unvalidated"]["fraction"] == band
    assert meta["bands"]["trainium-unvalidated"]["validated"] is False
    for row in csv.DictReader(io.StringIO(outs["csv"].read_text())):
        assert float(row["energy_mwh_low"]) == pytest.approx(float(row["energy_mwh"]) * (1 - band))
        assert float(row["time_to_train_days_high"]) == pytest.approx(
            float(row["time_to_train_days"]) * (1 + band))
        assert label in row["error_band_label"]
    page = outs["html"].read_text()
    assert label in page  # the legend in the page's notes
    # whiskers on the best plan's time-to-train bar: days x band up and down
    whisker = re.search(r'"error_y":\{"array":\[([^\]]*)\],"arrayminus":\[([^\]]*)\]', page)
    assert whisker is not None
    up, down = (float(whisker.group(i).split(",")[0]) for i in (1, 2))
    assert up == pytest.approx(top[0]["time_to_train_days"] * band) == down
    # Trn2's 500 W is a third-party estimate: its MWh carry '≈' and the source is named.
    assert f"≈{top[0]['energy_mwh']:,.1f}" in out
    assert "power per chip of trn2 is not published: 500 W, estimate" in out
    assert "sequence parallelism on with tp > 1" in out


def test_plan_on_a_gpu_has_no_estimate_mark(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    code, out, err = run_cli(
        monkeypatch, capsys, "plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "p5",
        "--nodes", "2", "--global-batch", "64", "--top", "1", "--no-progress",
        "--no-sequence-parallel", "--json", "-")
    assert code == 0, err
    data = json.loads(out)
    assert data["meta"]["job"]["sequence_parallel"] is False
    assert "--no-sequence-parallel" in data["results"][0]["estimate_args"]
    code, out, err = run_cli(
        monkeypatch, capsys, "plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "p5",
        "--nodes", "2", "--global-batch", "64", "--top", "1", "--no-progress", "--no-sequence-parallel")
    assert "(gpu): held-out error of" in out  # validated: no "not validated" label
    assert "≈" not in out and "not validated" not in out
    assert "sequence parallelism off" in out


def test_compare_says_whether_each_gap_is_beyond_the_error_bars(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    outs = {k: tmp_path / f"compare.{k}" for k in ("json", "csv", "html")}
    code, out, err = run_cli(
        monkeypatch, capsys, "compare", "--model", "llama3-8b", "--tokens", "100B",
        "--systems", "trn2,trn1,p5e", "--chips", "64", "--global-batch", "256", "--scaling", "",
        "--no-progress", "--json", str(outs["json"]), "--csv", str(outs["csv"]),
        "--html", str(outs["html"]))
    assert code == 0, err
    data = json.loads(outs["json"].read_text())
    equal = {r["system"]: r for r in data["results"] if r["kind"] == "equal-chips"}
    assert set(equal) == {"trn2", "trn1", "p5e"}
    for row in equal.values():
        _check_ranges(row)
    fastest = min(equal.values(), key=lambda r: r["time_to_train_days"])
    verdicts = {v["system"]: v for v in data["meta"]["error_bars"]["verdicts"]}
    assert set(verdicts) == set(equal) - {fastest["system"]}
    csv_rows = {r["system"]: r for r in csv.DictReader(io.StringIO(outs["csv"].read_text()))
                if r["kind"] == "equal-chips"}
    page = outs["html"].read_text()
    assert csv_rows[fastest["system"]]["error_bar_verdict"] == "fastest"
    for name, verdict in verdicts.items():
        slow = equal[name]
        # [d (1 - b), d (1 + b)] overlap unless the fastest one's top is below the other's bottom
        beyond = (fastest["time_to_train_days_high"] < slow["time_to_train_days_low"])
        assert verdict["beyond_error_bars"] is beyond
        assert verdict["ratio"] == pytest.approx(slow["time_to_train_days"] / fastest["time_to_train_days"])
        words = "beyond the error bars" if beyond else "within the error bars"
        line = f"{fastest['system']} faster than {name} by {verdict['ratio']:.2f}x, {words}"
        assert line in out and line in page
        assert verdict["text"].startswith(line) and slow["error_bar_verdict"] == verdict["text"]
        assert csv_rows[name]["error_bar_verdict"] == verdict["text"]
    # every band shown is explained, Trn2's as not validated on it
    assert "not validated on Trn2/Trn3" in out and "(trn1): held-out error of" in out
    # the Trn2/Trn1 claim: the throughput ratio r with Trn2's step up to (1 + b2) longer and Trn1's
    # up to (1 - b1) shorter, and the reverse
    trn2, trn1 = equal["trn2"], equal["trn1"]
    ratio = (trn2["tokens_per_s"] / trn2["chips"]) / (trn1["tokens_per_s"] / trn1["chips"])
    b2, b1 = trn2["error_band"], trn1["error_band"]
    claim = data["meta"]["claims"][0]["prediction"]
    assert f"{ratio:.2f}× training tokens/s per chip" in claim
    low, high = ratio * (1 - b1) / (1 + b2), ratio * (1 + b1) / (1 - b2)
    assert f"{low:.2f}-{high:.2f}× within the error bars" in claim


def test_html_whiskers_and_verdict_column_by_hand() -> None:
    rows = [
        {"time_to_train_days": 10.0, "time_to_train_days_low": 9.0, "time_to_train_days_high": 11.5},
        {"time_to_train_days": 4.0, "time_to_train_days_low": None, "time_to_train_days_high": None},
    ]
    bars = error_bars(rows, "time_to_train_days")
    assert bars["array"] == pytest.approx([1.5, 0.0]) and bars["arrayminus"] == pytest.approx([1.0, 0.0])
    assert error_bars([{"cost_usd": None}], "cost_usd")["array"] == [0.0]
    entry = {"kind": "equal-chips", "series": "trn2", "system": "trn2", "chips": 64, "plan": "tp8",
             "time_to_train_days": 2.0, "time_to_train_s": 2 * 86400.0, "error_band": 0.19,
             "tokens_per_s": 1.0, "mfu": 0.5, "memory_per_rank_bytes": 2.0**30, "cost_usd": None,
             "energy_mwh": 1.0, "energy_confidence": "estimate",
             "error_bar_verdict": "p5e faster than trn2 by 1.45x, beyond the error bars"}
    table = results_table([entry])
    assert "vs the fastest (error bars)" in table and "beyond the error bars" in table
    assert "1.0 (estimate)" in table and "19%" in table
    # a plan page (no comparison) has no verdict column
    assert "vs the fastest" not in results_table([{**entry, "error_bar_verdict": None}])


def test_compare_takes_no_sequence_parallel(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    args = ["compare", "--model", "llama3-8b", "--tokens", "100B", "--systems", "trn2,p5e", "--chips", "64",
            "--global-batch", "256", "--scaling", "", "--no-progress"]
    for flag, on in (([], True), (["--no-sequence-parallel"], False)):
        code, out, err = run_cli(monkeypatch, capsys, *args, *flag, "--json", "-")
        assert code == 0, err
        data = json.loads(out)
        assert data["meta"]["job"]["sequence_parallel"] is on
        assert any(row["plan_tp"] > 1 for row in data["results"])
        for row in data["results"]:  # every plan's estimate arguments reproduce the setting
            assert ("--sequence-parallel" in row["estimate_args"]) is (on and row["plan_tp"] > 1)
