"""Serving mechanisms checked against values derived by hand from the model dimensions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.cli_errors import run_main
from trnsim.cli import app
from trnsim.devicetime.ops import OpClass
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.serve import ServeConfig, Speculation, estimate_serving
from trnsim.serve.calibration import fit_step_cost, load_serving_cases
from trnsim.serve.estimate import closed_loop_ttft, decode_step
from trnsim.serve.memory import kv_bytes_per_request, serve_memory
from trnsim.serve.ops import decode_ops, expected_experts_touched, prefill_ops
from trnsim.serve.params import Overheads, load_serving_params
from trnsim.workload import load_model


def _cfg(**kw: object) -> ServeConfig:
    base: dict[str, object] = dict(model=load_model("llama3-8b"), system=load_system("trn2"), ranks=8, tp=8,
                                   concurrency=4, input_tokens=512, output_tokens=128)
    base.update(kw)
    return ServeConfig(**base)  # type: ignore[arg-type]


def test_decode_matmuls_have_m_equal_to_rows_and_stream_each_weight_once() -> None:
    m = load_model("llama3-8b")  # h 4096, 32 heads, 8 kv heads, d 128, ffn 14336
    ops = {op.name: op for op in decode_ops(m, 8, 32, 4, 1000)}
    qkv = ops["qkv"]
    assert (qkv.shape["m"], qkv.shape["k"], qkv.shape["n"]) == (4, 4096, (4 + 2 * 1) * 128)
    assert qkv.count == 32 and qkv.kernel == "decode_matmul"
    # weights read once: k*n*2 bytes, plus the 4 input rows
    assert qkv.bytes_read == 4096 * 768 * 2 + 4 * 4096 * 2
    assert ops["fc1"].shape["n"] == 2 * 14336 // 8 and ops["fc2"].shape["k"] == 14336 // 8
    assert ops["lm_head"].shape["n"] == -(-128256 // 8)


def test_decode_attention_reads_the_whole_kv_cache() -> None:
    m = load_model("llama3-8b")
    att = next(op for op in decode_ops(m, 8, 32, 4, 1000) if op.op_class is OpClass.ATTENTION)
    # 4 requests x 1000 positions x (1 kv head x (128 + 128)) x 2 bytes, plus 4 queries of 4 heads
    assert att.bytes_read == 4 * (1000 * 256 * 2 + 4 * 128 * 2)
    assert att.shape["group"] == 4 and att.shape["batch_heads"] == 4


def test_expected_experts_touched() -> None:
    # one token copy touches exactly one expert; many copies touch nearly all
    assert expected_experts_touched(8, 1) == pytest.approx(1.0)
    assert expected_experts_touched(8, 2) == pytest.approx(8 * (1 - (7 / 8) ** 2))
    assert expected_experts_touched(8, 1000) == pytest.approx(8.0)


def test_kv_cache_per_request_by_hand() -> None:
    c = _cfg()
    # (512 + 128) positions x 32 layers x 2 (K, V) x 1 kv head x 128 x 2 bytes
    assert kv_bytes_per_request(c) == 640 * 32 * 2 * 128 * 2
    fp8 = _cfg(kv_bytes=1)
    assert kv_bytes_per_request(fp8) == kv_bytes_per_request(c) / 2


def test_memory_and_max_concurrency() -> None:
    mem = serve_memory(_cfg())
    # each request adds its KV cache and its decode logits (FP32 over the rank's vocabulary shard)
    logits = _cfg().model.vocab_size / _cfg().tp * 4
    assert mem.activation_per_request_bytes == pytest.approx(logits, rel=0.01)
    fixed = mem.activation_bytes - logits * mem.concurrency
    free = mem.capacity_bytes - mem.weights_bytes - fixed
    assert mem.max_concurrency == int(free // (mem.kv_per_request_bytes + mem.activation_per_request_bytes))
    # weights: about 8.03 B params / 8 ranks x 2 bytes
    assert mem.weights_bytes == pytest.approx(8.03e9 * 2 / 8, rel=0.02)


def test_does_not_fit_names_dominant_part() -> None:
    r = estimate_serving(_cfg(model=load_model("llama3-70b"), ranks=1, tp=1, concurrency=1))
    assert not r.fits and r.memory.dominant == "weights" and r.max_concurrency == 0


def test_tpot_grows_with_context_and_ttft_with_prompt() -> None:
    short, long = estimate_serving(_cfg(input_tokens=256)), estimate_serving(_cfg(input_tokens=4096))
    assert long.tpot_s > short.tpot_s and long.ttft_s > short.ttft_s
    assert short.output_tokens_per_s == pytest.approx(4 / short.tpot_s)


def test_tp_collectives_are_two_per_layer_plus_sampling() -> None:
    ones = Overheads(0.0, 1.0, 0.0, "test", "test")
    r = estimate_serving(_cfg(), overheads=ones)
    assert r.decode.overhead_s == pytest.approx(2 * 32 + 1)
    single = estimate_serving(_cfg(ranks=1, tp=1), overheads=ones)
    assert single.decode.tp_comm_s == 0.0 and single.decode.overhead_s == 0.0


def test_speculative_decoding_expected_tokens() -> None:
    draft = load_model("llama3-8b")
    spec = Speculation(draft, 4, 0.5)
    assert spec.expected_tokens() == pytest.approx((1 - 0.5**5) / 0.5)
    assert Speculation(draft, 3, 1.0).expected_tokens() == 4.0
    assert Speculation(draft, 3, 0.0).expected_tokens() == 1.0


def test_prefill_is_the_forward_pass_without_loss() -> None:
    names = [op.name for op in prefill_ops(load_model("llama3-8b"), 8, 32, 512)]
    assert "cross_entropy" not in names and not any(n.endswith(".dgrad") for n in names)
    lm = [op for op in prefill_ops(load_model("llama3-8b"), 8, 32, 512) if op.name == "lm_head"]
    assert len(lm) == 1 and lm[0].shape["m"] == 1


@pytest.mark.parametrize("kw", [dict(input_tokens=0), dict(output_tokens=-1), dict(tp=3),
                                dict(concurrency=0)])
def test_bad_config(kw: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        _cfg(**kw)


def test_fit_recovers_a_known_step_cost() -> None:
    # rows with base TPOT b paying the step cost once per step: measured = b + 2 ms
    bases = [(0.1, 0.010, 2.0, 1.0), (0.2, 0.020, 1.0, 1.0), (0.3, 0.015, 1.0, 1.0)]
    measured = [(b[0], b[1] + 2e-3) for b in bases]
    assert fit_step_cost(bases, measured) == pytest.approx(2e-3)
    # a negative residual is bounded at zero (no negative host cost)
    assert fit_step_cost(bases, [(b[0], b[1] * 0.5) for b in bases]) == 0.0


def test_context_encoding_pays_the_host_step_once() -> None:
    step = Overheads(7e-3, 0.0, 0.0, "test", "test")
    zero = Overheads(0.0, 0.0, 0.0, "test", "test")
    with_step, without = estimate_serving(_cfg(), overheads=step), estimate_serving(_cfg(), overheads=zero)
    assert with_step.ttft_s - without.ttft_s == pytest.approx(7e-3)
    assert with_step.decode.total_s - without.decode.total_s == pytest.approx(7e-3)


def test_closed_loop_ttft_by_hand() -> None:
    parts = {"ops": 0.010, "tp_comm": 0.002, "overhead": 0.005}
    # one prompt per execution: 3 requests arriving together all wait for 3 encodings
    assert closed_loop_ttft(parts, 3, 1) == pytest.approx(3 * 0.012 + 3 * 0.005)
    # 4 prompts per execution: the same work, the fixed cost once
    assert closed_loop_ttft(parts, 3, 4) == pytest.approx(3 * 0.012 + 0.005)
    assert closed_loop_ttft(parts, 1, 1) == pytest.approx(sum(parts.values()))
    # the shipped trn2 runtime encodes one prompt per execution (serving.toml [runtime.trainium])
    r = estimate_serving(_cfg(concurrency=2))
    assert r.ttft_closed_loop_s == pytest.approx(2 * r.ttft_s)


def test_calibration_file_loads_three_rows() -> None:
    cases = load_serving_cases()
    assert [c.config.tp for c in cases] == [64, 64, 8]
    assert [c.config.ranks for c in cases] == [64, 64, 8]  # 16 and 2 trn2 chips at LNC=2


def test_cli_json_and_bad_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["serve", "--model", "llama3-8b", "--system", "trn2", "--chips", "2",
                              "--tp", "8",
                              "--concurrency", "2", "--input-tokens", "512", "--output-tokens", "128",
                              "--json", "-"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    for key in ("ttft_s", "tpot_s", "output_tokens_per_s", "memory_per_rank_bytes", "fits",
                "max_concurrency"):
        assert key in data
    assert np.isfinite(data["tpot_s"])
    for bad in (["--input-tokens", "0"], ["--tp", "3"], ["--draft-model", "nope"]):
        code, err = run_main(capsys, monkeypatch, ["serve", "--model", "llama3-8b", "--system", "trn2",
                                                   "--chips", "2", "--tp", "8", *bad])
        assert code == 2 and len(err.strip().splitlines()) == 1, err


def test_moe_decode_touches_only_routed_experts() -> None:
    m = load_model("mixtral-8x7b")  # 8 experts, top-2
    ops = {op.name: op for op in decode_ops(m, 1, m.num_layers, 1, 100)}
    # one token, two routed copies: expected distinct experts 8 (1 - (7/8)^2) = 1.875 per layer
    assert ops["expert.fc1"].count == round(m.num_layers * expected_experts_touched(8, 2))
    big = {op.name: op for op in decode_ops(m, 1, m.num_layers, 64, 100)}
    assert big["expert.fc1"].count == m.num_layers * 8  # 128 copies touch all 8 experts


@pytest.mark.parametrize("system", ["trn2", "trn1", "p5", "p5e", "b200", "tpu-v5p"])
def test_serve_answers_on_every_family(system: str) -> None:
    spec = load_system(system)
    tp = 8 if spec.ranks_per_node >= 8 else spec.ranks_per_node
    r = estimate_serving(ServeConfig(load_model("mixtral-8x7b"), spec, tp, tp, 4, 512, 64))
    assert r.ttft_s > 0 and r.tpot_s > 0 and r.fits
    uncalibrated = any("uncalibrated" in n for n in r.notes)
    assert uncalibrated == (spec.chip.family.value != "trainium")


def test_speculation_changes_tpot_by_the_round_formula() -> None:
    plain = estimate_serving(_cfg(model=load_model("llama3-70b"), ranks=64, tp=64, concurrency=1))
    spec = Speculation(load_model("llama3-8b"), 4, 0.8)
    fast = estimate_serving(_cfg(model=load_model("llama3-70b"), ranks=64, tp=64, concurrency=1,
                                 speculation=spec))
    # a round is 4 draft steps and one 5-token verify step, yielding (1 - 0.8^5) / 0.2 = 3.36 tokens
    assert spec.expected_tokens() == pytest.approx(3.3616)
    config = fast.config
    context = 512 + (128 - 1) // 2
    draft = decode_step(config, context, draft=True)
    verify = decode_step(config, context, queries=5)
    assert fast.tpot_s == pytest.approx((4 * draft.total_s + verify.total_s) / 3.3616)
    # the round is one fused graph: the fixed step cost is the verify step's only
    assert draft.overhead_s < verify.overhead_s
    # the verify step streams the same weights for 5 rows: cheaper than 5 plain steps
    assert verify.total_s < 5 * plain.decode.total_s


def test_compare_ranks_and_exits_3_when_nothing_meets(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["serve", "--model", "llama3-8b", "--compare", "--systems", "trn2,p5",
                              "--tpot-ms", "100", "--input-tokens", "256", "--output-tokens", "64",
                              "--concurrency", "8", "--json", "-"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["systems"][0]["system"] == "p5"  # the priced system first
    trn2 = next(s for s in data["systems"] if s["system"] == "trn2")
    assert trn2["break_even_usd_per_node_hour"] is not None  # unpriced: a break-even price instead
    code, _ = run_main(capsys, monkeypatch, ["serve", "--model", "llama3-8b", "--compare", "--systems", "p5",
                                             "--tpot-ms", "0.001", "--input-tokens", "256",
                                             "--output-tokens", "64"])
    assert code == 3


def test_validate_serving_prints_every_row(tmp_path: Path) -> None:
    target = tmp_path / "serving.json"
    out = CliRunner().invoke(app, ["validate", "--serving", "--json", str(target)])
    assert out.exit_code == 0, out.output
    for name in ("Llama-3.3-70B", "Llama-3.1-405B", "Llama-3.1-8B", "LOO"):
        assert name in out.output
    rows = json.loads(target.read_text())["rows"]
    assert len(rows) == 3
    for row in rows:  # each error is (predicted - measured) / measured of the figures written beside it
        assert row["errors"]["tpot"]["in_sample"] == pytest.approx(
            row["in_sample_tpot_s"] / row["measured_tpot_s"] - 1.0)


def test_compare_writes_csv_and_html(tmp_path: Path) -> None:
    csv_path, html_path = tmp_path / "c.csv", tmp_path / "c.html"
    out = CliRunner().invoke(app, ["serve", "--model", "llama3-8b", "--compare", "--systems", "trn2,p5",
                                   "--input-tokens", "256", "--output-tokens", "64", "--concurrency", "4",
                                   "--csv", str(csv_path), "--html", str(html_path)])
    assert out.exit_code == 0, out.output
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("system,") and len(lines) == 3
    page = html_path.read_text()
    assert "<html>" in page and "trn2" in page and "uncalibrated" in page


def test_chunked_prefill_attention_flops_by_hand() -> None:
    m = load_model("llama3-8b")
    whole = [op for op in prefill_ops(m, 8, 32, 4096) if op.op_class is OpClass.ATTENTION]
    halves = [op for op in prefill_ops(m, 8, 32, 4096, chunk=2048) if op.op_class is OpClass.ATTENTION]
    # full-matrix convention: one pass s x s = 4c^2 against c x c + c x 2c = 3c^2 in two passes
    assert len(halves) == 2 and [op.shape["seq_kv"] for op in halves] == [2048, 4096]
    assert sum(op.total_flops for op in halves) == pytest.approx(0.75 * sum(op.total_flops for op in whole))
    # the other ops: the same work in two passes of half the tokens
    fc1 = next(op for op in prefill_ops(m, 8, 32, 4096, chunk=2048) if op.name == "fc1")
    assert fc1.count == 2 * 32 and fc1.shape["m"] == 2048
    assert estimate_serving(_cfg(input_tokens=4096, prefill_chunk=4096)).ttft_s == pytest.approx(
        estimate_serving(_cfg(input_tokens=4096)).ttft_s)


def test_user_file_overrides_the_context_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "serving.toml").write_text("[runtime.trainium]\ncontext_encoding_batch = { value = 4 }\n")
    monkeypatch.setenv("TRNSIM_CATALOG", str(tmp_path))
    r = estimate_serving(_cfg(concurrency=4))
    # four prompts in one execution: the work of four, the host step cost once
    assert r.ttft_closed_loop_s == pytest.approx(4 * r.ttft_s - 3 * r.prefill_parts_s["overhead"])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "serving.toml").write_text("[runtime.trainium]\ncontext_encoding_batch = { value = 0 }\n")
    monkeypatch.setenv("TRNSIM_CATALOG", str(bad))
    with pytest.raises(ConfigError, match="context_encoding_batch must be at least 1"):
        load_serving_params()


def test_energy_on_an_estimated_power_figure_is_marked() -> None:
    # Trn2's 500 W is a third-party estimate (catalog confidence 'estimate'): its energy carries
    # '≈' and the confidence; the H100's published TDP carries neither.
    runner = CliRunner()
    base = ["serve", "--model", "llama3-8b", "--input-tokens", "256", "--output-tokens", "64"]
    out = runner.invoke(app, [*base, "--compare", "--systems", "trn2,p5", "--concurrency", "4"],
                        env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    rows = {line.split()[0]: line for line in out.output.splitlines()  # a borderless table: a row per system
            if line.split()[:1] in (["trn2"], ["p5"])}
    assert "≈" in rows["trn2"] and "≈" not in rows["p5"]
    assert "the power per chip of trn2 is not published (estimate: " in out.output
    data = json.loads(runner.invoke(app, [*base, "--compare", "--systems", "trn2,p5", "--concurrency", "4",
                                          "--json", "-"]).output)
    assert {s["system"]: s["energy_confidence"] for s in data["systems"]} == {"trn2": "estimate",
                                                                              "p5": "published"}
    one = runner.invoke(app, [*base, "--system", "trn2", "--chips", "1", "--tp", "4"], env={"COLUMNS": "200"})
    assert one.exit_code == 0 and "J (the power per chip is not published: estimate)" in one.output
