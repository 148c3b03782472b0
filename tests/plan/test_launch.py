"""Plans you can use: ``estimate_args`` round trips, ``--launch`` settings, Megatron flag aliases.

These run the real cluster model (no toy step model): the point is that ``trnsim estimate`` with a
plan's ``estimate_args`` reproduces the planner's own step time (relative difference < 1e-9; both
sides are the same deterministic double-precision computation, so only the arguments can differ).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

Capture = pytest.CaptureFixture[str]


def _estimate_step(monkeypatch: pytest.MonkeyPatch, capsys: Capture, tmp_path: Path,
                   args: list[str]) -> float:
    out = tmp_path / "estimate.json"
    code, _, err = run_cli(monkeypatch, capsys, "estimate", *args, "--json", str(out))
    assert code == 0, err
    return float(json.loads(out.read_text())["step_time_s"])


@pytest.mark.parametrize("where", [("--system", "trn2", "--nodes", "1", "--lnc", "1"),
                                   ("--system", "p5", "--nodes", "2")])
def test_plan_estimate_args_reproduce_the_step_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: Capture, where: tuple[str, ...]) -> None:
    plan_json = tmp_path / "plan.json"
    code, _, err = run_cli(monkeypatch, capsys, "plan", "--model", "llama3-8b", "--tokens", "1T", *where,
                           "--space", "quick", "--top", "3", "--no-progress", "--json", str(plan_json))
    assert code == 0, err
    results = json.loads(plan_json.read_text())["results"]
    assert results and all("estimate_args" in r for r in results)
    for result in results[:3]:
        args = result["estimate_args"]
        assert args[:4] == ["--model", "llama3-8b", "--system", where[1]]
        assert ("--lnc" in args) == ("--lnc" in where)
        step = _estimate_step(monkeypatch, capsys, tmp_path, args)
        assert abs(step - result["step_time_s"]) <= 1e-9 * result["step_time_s"], (args, step, result)


def test_compare_entries_carry_estimate_args_that_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: Capture) -> None:
    out = tmp_path / "compare.json"
    code, _, err = run_cli(monkeypatch, capsys, "compare", "--model", "llama3-8b", "--tokens", "1T",
                           "--systems", "trn1,p5e", "--chips", "64", "--scaling", "32,64", "--global-batch",
                           "512", "--no-progress", "--json", str(out))
    assert code == 0, err
    results = json.loads(out.read_text())["results"]
    kinds = {r["kind"] for r in results}
    assert {"equal-chips", "equal-budget", "scaling"} <= kinds
    for result in (r for r in results if r["kind"] in ("equal-chips", "equal-budget")):
        step = _estimate_step(monkeypatch, capsys, tmp_path, result["estimate_args"])
        assert abs(step - result["step_time_s"]) <= 1e-9 * result["step_time_s"], result["estimate_args"]


def test_launch_nxdt_yaml_holds_the_best_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: Capture) -> None:
    yaml = pytest.importorskip("yaml")
    plan_json = tmp_path / "plan.json"
    code, out, err = run_cli(monkeypatch, capsys, "plan", "--model", "llama3-8b", "--tokens", "1T",
                             "--system", "trn2", "--nodes", "2", "--global-batch", "512", "--space", "quick",
                             "--no-progress", "--launch", "nxdt", "--json", str(plan_json))
    assert code == 0, err
    best = json.loads(plan_json.read_text())["results"][0]
    fragment = out[out.index("# trnsim plan:"):]
    config = yaml.safe_load(fragment)
    strategy, data = config["distributed_strategy"], config["data"]
    assert strategy["tensor_model_parallel_size"] == best["plan_tp"]
    assert strategy["pipeline_model_parallel_size"] == best["plan_pp"]
    assert strategy["zero1"] is (best["plan_zero_stage"] >= 1)
    assert strategy["sequence_parallel"] is (best["plan_tp"] > 1)
    assert (data["micro_batch_size"], data["global_batch_size"], data["seq_length"]) == (
        best["plan_micro_batch"], 512, 4096)
    assert config["trainer"]["num_nodes"] == 2
    granularity = config["model"]["activations_checkpoint_granularity"]
    assert granularity == {"none": None}.get(best["plan_recompute"], best["plan_recompute"])


def test_launch_megatron_flags_feed_back_into_estimate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: Capture) -> None:
    plan_json = tmp_path / "plan.json"
    code, out, err = run_cli(monkeypatch, capsys, "plan", "--model", "llama3-8b", "--tokens", "1T",
                             "--system", "p5", "--nodes", "2", "--space", "quick", "--no-progress",
                             "--launch", "megatron", "--json", str(plan_json))
    assert code == 0, err
    best = json.loads(plan_json.read_text())["results"][0]
    lines = out[out.index("torchrun"):].splitlines()[1:]
    flags = dict(line.strip().rstrip("\\").strip().partition(" ")[::2] for line in lines if line.strip())
    assert flags["--tensor-model-parallel-size"] == str(best["plan_tp"])
    assert flags["--micro-batch-size"] == str(best["plan_micro_batch"])
    # Megatron's names are estimate's aliases: the sizes copied from the launch line give the plan's step.
    megatron = [name_value for key in ("--tensor-model-parallel-size", "--pipeline-model-parallel-size",
                                       "--context-parallel-size", "--expert-model-parallel-size",
                                       "--micro-batch-size", "--global-batch-size", "--seq-length")
                for name_value in (key, flags[key])]
    rest = best["estimate_args"]
    others = [x for key in ("--model", "--system", "--ranks", "--zero", "--recompute")
              for x in (key, rest[rest.index(key) + 1])]
    args = [*others, *megatron, "--sequence-parallel" if best["plan_tp"] > 1 else "--no-sequence-parallel"]
    step = _estimate_step(monkeypatch, capsys, tmp_path, args)
    assert abs(step - best["step_time_s"]) <= 1e-9 * best["step_time_s"], args


def test_launch_for_the_wrong_family_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "plan", "--model", "llama3-8b", "--tokens", "1T", "--system",
                           "tpu-v4", "--nodes", "1", "--space", "quick", "--no-progress",
                           "--launch", "megatron")
    assert code == 2
    assert "--launch megatron is for gpu systems; tpu-v4 is a tpu system: trnsim has no launch format" in err
    assert err.count("\n") == 1
