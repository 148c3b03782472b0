"""MFU and achieved TFLOP/s under both attention conventions: step result, estimate text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trnsim.cli import commands  # noqa: F401  (registers the commands)
from trnsim.cli.apps import app
from trnsim.cluster.calibration import Metric, load_cases, validate_case
from trnsim.cluster.plan import make_plan
from trnsim.cluster.step import estimate_step
from trnsim.hardware.catalog import load_system
from trnsim.workload.config import MlpKind, ModelConfig, NormKind, PositionKind
from trnsim.workload.models import load_model

runner = CliRunner()


def _gpt(h: int, layers: int, heads: int, vocab: int, seq: int) -> ModelConfig:
    return ModelConfig(
        name="gpt-small", family="gpt2", hidden_size=h, num_layers=layers, num_heads=heads,
        num_kv_heads=heads, head_dim=h // heads, ffn_hidden_size=4 * h, vocab_size=vocab, max_seq_len=seq,
        mlp=MlpKind.GELU, norm=NormKind.LAYERNORM, position=PositionKind.LEARNED, tie_embeddings=True,
        linear_bias=True,
    )


@pytest.mark.parametrize("seq", [256, 32768])
def test_step_mfu_both_conventions_by_hand(seq: int) -> None:
    # A GPT's training FLOPs per token: 3·(L·(24h² + a·4·s·h) + 2·h·V), a = 1 counting attention
    # over the full sequence, 1/2 causal. Both MFUs share the step and the peak, so they relate
    # as those counts, and each is its count · tokens / (step · ranks · peak per rank).
    h, layers, heads, vocab = 2048, 4, 16, 1000
    model = _gpt(h, layers, heads, vocab, seq)
    system = load_system("p5")
    plan = make_plan(tp=8, dp=2, micro_batch=1, global_batch=4)
    result = estimate_step(model, system, 16, plan, seq)
    per_token = {share: 3 * (layers * (24 * h * h + share * 4 * seq * h) + 2 * h * vocab)
                 for share in (1, 0.5)}
    flop_s = result.step_time_s * 16 * system.chip.peak_flops("bf16")
    tokens = 4 * seq
    assert result.mfu == pytest.approx(per_token[1] * tokens / flop_s, rel=1e-12)
    assert result.mfu_causal == pytest.approx(per_token[0.5] * tokens / flop_s, rel=1e-12)
    print(f"s={seq}: MFU {result.mfu:.2%} full, {result.mfu_causal:.2%} causal")
    if seq < h:  # attention ≤ 4s/(24h + 4s) of the count: 2.0 % at s = h/8, halved: ≈ 1 % apart
        assert result.mfu_causal / result.mfu > 0.985
    else:  # s = 16h: attention ≈ 73 % of the full count, the causal MFU ≈ 37 % lower
        assert result.mfu_causal / result.mfu < 0.65


def test_estimate_json_and_text_carry_both_conventions(tmp_path: Path) -> None:
    # On trn2 (several ranks per chip) the TFLOP/s per chip is the model FLOPs of the step over the
    # step time and the chips, computed here from tokens and the FLOP count, not from MFU.
    out = tmp_path / "est.json"
    seq, batch, ranks = 8192, 8, 32
    args = ["estimate", "--model", "llama3-8b", "--system", "trn2", "--ranks", str(ranks), "--tp", "8",
            "--global-batch", str(batch), "--seq-len", str(seq), "--json", str(out)]
    result = runner.invoke(app, args, env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    model = load_model("llama3-8b")
    chips = ranks / load_system("trn2").ranks_per_chip
    assert data["chips"] == chips
    gemm_and_head = 2 * (model.num_layers * (model.attention_matmul_params()
                                            + model.mlp_matmul_params(model.ffn_hidden_size))
                         + model.hidden_size * model.vocab_size)
    attention = model.num_layers * 2 * seq * model.num_heads * (model.qk_head_dim + model.v_dim)
    for key, share in (("model_tflops_per_chip", 1.0), ("model_tflops_per_chip_causal", 0.5)):
        flops = 3 * batch * seq * (gemm_and_head + share * attention)
        assert data[key] == pytest.approx(flops / data["step_time_s"] / chips / 1e12, rel=1e-12)
    assert data["mfu_causal"] / data["mfu"] == pytest.approx(
        data["model_tflops_per_chip_causal"] / data["model_tflops_per_chip"], rel=1e-12)
    assert "full attention" in data["flops_convention"] and "causal" in data["flops_convention"]
    text = " ".join(result.output.split())
    assert (f"MFU / HFU │ {data['mfu']:.1%} / {data['hfu']:.1%} full attention (causal: MFU "
            f"{data['mfu_causal']:.1%})") in text
    assert (f"model TFLOP/s per chip │ {data['model_tflops_per_chip']:,.1f} full attention (causal: "
            f"{data['model_tflops_per_chip_causal']:,.1f})") in text


def test_validate_compares_mfu_files_with_the_full_attention_count() -> None:
    # The Megatron H100 table publishes MFU with Megatron's full-attention count: validate must
    # compare it with trnsim's full-counted MFU, not the causal one (they differ at seq 4096).
    cases, _ = load_cases()
    case = next(c for c in cases if c.metric is Metric.MFU)
    row = validate_case(case)
    assert row.predicted == row.result.mfu
    assert row.result.mfu_causal < row.result.mfu * 0.99
