"""The planner's commands end to end, on the real catalog and models with the toy step model.

The toy step model stands in for the cluster model so that these tests check the commands'
plumbing (inputs, outputs, one-line errors), not the cluster model's numbers.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli_errors import run_cli
from tests.plan.toy_steps import ToyStepModel
from tests.plan.toy_sweep import run_toy_point
from trnsim.cli import cmd_plan
from trnsim.cluster.plan import InfeasibleReason


@pytest.fixture(autouse=True)
def toy_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    # the commands import these where they run: patch them at their source
    monkeypatch.setattr("trnsim.plan.search.cluster_step", ToyStepModel(capacity_bytes=24e9))
    monkeypatch.setattr("trnsim.plan.inputs.run_point", run_toy_point)
    # toy model and system names exist only for the toy runner: skip the real catalog's name check
    monkeypatch.setattr(cmd_plan, "check_sweep_names", lambda spec, path: None)


Capture = pytest.CaptureFixture[str]


def test_plan_writes_json_csv_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    outs = {k: tmp_path / f"plan.{k}" for k in ("json", "csv", "html")}
    code, out, err = run_cli(
        monkeypatch, capsys, "plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "trn2",
        "--nodes", "4", "--global-batch", "256", "--top", "3", "--no-progress",
        "--json", str(outs["json"]), "--csv", str(outs["csv"]), "--html", str(outs["html"]),
    )
    assert code == 0, err
    assert "wins" in out and "unknown in the catalog" in out  # trn2 has no public price
    data = json.loads(outs["json"].read_text())
    top = [r for r in data["results"] if r["kind"] == "top"]
    assert len(top) == 3 and top[0]["ranks"] == 4 * 64  # 4 nodes × 16 chips × 4 ranks (LNC=2)
    assert top[0]["cost_usd"] is None
    # Rejections are counted by the cluster layer's typed reason and written as its text.
    reasons = data["meta"]["infeasible_by_reason"]
    assert reasons["memory"] > 0 and set(reasons) <= {r.value for r in InfeasibleReason}
    assert any(f"memory {reasons['memory']}" in line for line in data["meta"]["explanation"])
    # One rank count searched: one "scaling" entry, the best plan itself.
    assert [r["plan"] for r in data["results"] if r["kind"] == "scaling"] == [top[0]["plan"]]
    rows = list(csv.DictReader(io.StringIO(outs["csv"].read_text())))
    assert len(rows) == 4 and rows[0]["cost_usd"] == "" and rows[0]["kind"] == "top"
    assert "plotly" in outs["html"].read_text()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tokens", "lots", "--nodes", "1"], "--tokens 'lots' is not a number"),
        (["--tokens", "1T", "--nodes", "1", "--ranks", "8"], "exactly one of --nodes"),
        (["--tokens", "1T", "--nodes", "1", "--precision", "int3"], "'int3' is not one of 'bf16', 'fp8'"),
        (["--tokens", "1e3", "--nodes", "1"], "fewer than one step"),
    ],
)
def test_plan_bad_input_is_one_line(args: list[str], needle: str, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "plan", "--model", "llama3-8b", "--system", "trn2",
                           "--no-progress", *args)
    assert code == 2 and needle in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_system_lists_the_known(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "plan", "--model", "llama3-8b", "--system", "trn9",
                           "--tokens", "1T", "--nodes", "1", "--no-progress")
    assert code == 2 and "unknown system 'trn9'" in err and "trn2" in err


def test_compare_reports_claims_and_unknown_prices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "compare.json"
    code, _, err = run_cli(
        monkeypatch, capsys, "compare", "--model", "llama3-8b", "--tokens", "100B",
        "--systems", "trn2,trn1,p5e", "--chips", "64", "--global-batch", "256", "--scaling", "32,128",
        "--no-progress", "--json", str(out_json),
    )
    assert code == 0, err
    data = json.loads(out_json.read_text())
    assert data["meta"]["unpriced_systems"] == ["trn2"]
    assert data["meta"]["claims"][0]["claim"].startswith("Trn2 gives 4×")
    assert "cannot be checked" in data["meta"]["claims"][1]["prediction"]  # trn2's price is unknown
    kinds = {(r["system"], r["kind"]) for r in data["results"]}
    assert ("trn1", "equal-budget") in kinds and ("trn2", "equal-budget") not in kinds
    assert {r["chips"] for r in data["results"] if r["kind"] == "scaling"} == {32, 128}


def test_sweep_local_then_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('tokens = 1e9\nseq_len = 2048\nglobal_batch = 64\nmodels = ["toy-small"]\n'
                    'systems = ["toy-system"]\nchips = [8, 16]\n')
    db = tmp_path / "s.sqlite"
    code, out, err = run_cli(monkeypatch, capsys, "sweep", str(spec), "--db", str(db), "--local")
    assert code == 0, err
    assert "2 points: 0 already" in out
    code, out, err = run_cli(monkeypatch, capsys, "sweep", str(spec), "--db", str(db), "--local")
    out = " ".join(out.split())  # the line names the database path: it wraps where that path is long
    assert "2 points: 2 already" in out and "0 run" in out
    html = tmp_path / "s.html"
    code, out, err = run_cli(monkeypatch, capsys, "sweep", "--report", str(db), "--html", str(html))
    assert code == 0 and html.exists()
    assert "±" in out  # every point's error band beside its days
    code, _, err = run_cli(monkeypatch, capsys, "sweep", "--report", str(tmp_path / "none.sqlite"))
    assert code == 2 and "does not exist" in err


def test_max_ranks_searches_node_counts_and_ranks_by_cost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: Capture) -> None:
    # p5 nodes hold 8 GPUs: --max-ranks 40 searches 8, 16 and 32 ranks (doubling whole nodes).
    out_json = tmp_path / "p.json"
    code, _, err = run_cli(
        monkeypatch, capsys, "plan", "--model", "llama3-8b", "--tokens", "100B", "--system", "p5",
        "--max-ranks", "40", "--global-batch", "64", "--objective", "cost", "--no-progress",
        "--json", str(out_json),
    )
    assert code == 0, err
    results = json.loads(out_json.read_text())["results"]
    assert sorted(r["ranks"] for r in results if r["kind"] == "scaling") == [8, 16, 32]
    best = next(r for r in results if r["kind"] == "top")
    assert best["cost_usd"] == min(r["cost_usd"] for r in results if r["kind"] == "scaling")
