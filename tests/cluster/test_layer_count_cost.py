"""An evaluation's cost does not grow with the layer count (counted, not timed).

Layers of one kind (dense, MoE) are alike: the step graph holds one layer template counted L times,
parameters, FLOPs and MoE layers are counted from the layer pattern, not layer by layer. A model
of 10^8 layers (a typo in a config.json) must get its answer (does not fit, by how much) as fast as
a real one: the Python calls of a 96-layer model, give or take a few, and its memory is the layers times
one layer's.
"""

from __future__ import annotations

import cProfile
import json
import pstats
from pathlib import Path

import pytest

from tests.cli_errors import run_cli
from trnsim.api import estimate
from trnsim.cluster import estimate_step, make_plan
from trnsim.cluster.step import clear_cache
from trnsim.devicetime.timing import clear_memo
from trnsim.hardware.catalog import load_system
from trnsim.workload.config import ModelConfig
from trnsim.workload.graph import clear_cache as clear_graphs

HUGE = 10**8
#: Calls that depend on values, not on the layers (a branch taken or not, a number formatted): a few.
#: A loop over the layers would make at least one call per layer, 10^8 in all.
SLACK = 50
H, HEADS, FFN, VOCAB, SEQ = 4096, 32, 11008, 32000, 4096


def _llama(layers: int, **moe: object) -> ModelConfig:
    """Llama-2-7B's shapes (MHA, SwiGLU, RMSNorm, RoPE, untied head) with ``layers`` layers."""
    return ModelConfig(name=f"l{layers}", family="llama", hidden_size=H, num_layers=layers, num_heads=HEADS,
                       num_kv_heads=HEADS, head_dim=H // HEADS, ffn_hidden_size=FFN, vocab_size=VOCAB,
                       max_seq_len=SEQ, **moe)  # type: ignore[arg-type]


def _moe(layers: int, pattern: str) -> ModelConfig:
    if pattern == "first dense":  # DeepSeek's first_k_dense_replace
        return _llama(layers, num_experts=8, experts_per_token=2, moe_ffn_hidden_size=FFN,
                      first_dense_layers=3)
    # explicit indices (Qwen's decoder_sparse_step): a few MoE layers among dense ones
    return _llama(layers, num_experts=8, experts_per_token=2, moe_ffn_hidden_size=FFN,
                  moe_layers=(1, 5, 7, 40))


def _calls(model: ModelConfig, system: str, **plan: object) -> int:
    """Python calls (generator resumes included) of one cold estimate through the API."""
    estimate(model, system, nodes=1, seq_len=SEQ, **plan)  # type: ignore[arg-type]  # loads data files
    clear_cache()
    clear_memo()
    clear_graphs()
    profile = cProfile.Profile()
    profile.enable()
    estimate(model, system, nodes=1, seq_len=SEQ, **plan)  # type: ignore[arg-type]
    profile.disable()
    stats = getattr(pstats.Stats(profile), "stats")  # noqa: B009  (untyped attribute)
    return sum(calls for (_, _, _), (_, calls, *_) in stats.items())


@pytest.mark.parametrize("system", ["trn2", "p4d"])  # with fusion rules (its ops built) and without
@pytest.mark.parametrize("plan", [{}, {"pp": 4, "tp": 2, "zero": 1, "recompute": "selective"},
                                  {"pp": 4, "first_stage_layers": 7, "last_stage_layers": 9}])
def test_dense_model_costs_the_same_calls_at_96_and_1e8_layers(system: str, plan: dict[str, object]) -> None:
    # uneven first and last stages: three kinds of stage, whatever the layers
    assert _calls(_llama(HUGE), system, **plan) <= _calls(_llama(96), system, **plan) + SLACK


@pytest.mark.parametrize("pattern", ["first dense", "explicit"])
def test_moe_model_costs_the_same_calls_at_96_and_1e8_layers(pattern: str) -> None:
    assert _calls(_moe(HUGE, pattern), "trn2", pp=4) <= _calls(_moe(96, pattern), "trn2", pp=4) + SLACK


def test_moe_layer_count_follows_the_pattern() -> None:
    first = _moe(HUGE, "first dense")
    assert first.moe_layer_count() == HUGE - 3
    assert first.moe_layer_count(0, 3) == 0 and first.moe_layer_count(2, 10) == 7
    explicit = _moe(HUGE, "explicit")
    assert explicit.moe_layer_count() == 4 and explicit.moe_layer_count(5, 40) == 2
    # as counting layer by layer finds them (on a model small enough to count)
    for model in (_moe(96, "first dense"), _moe(96, "explicit")):
        for start, stop in ((0, 96), (0, 24), (24, 48), (3, 4), (40, 41), (50, 96)):
            by_layer = sum(model.is_moe_layer(i) for i in range(start, stop))
            assert model.moe_layer_count(start, stop) == by_layer


def test_memory_of_1e8_layers_is_the_layers_times_one_layers() -> None:
    """Bytes per rank on one A100 (tp = pp = dp = 1, no ZeRO, no recomputation, flash attention),
    derived from the model's shapes: BF16 weights (2 bytes a parameter), FP32 gradients (4), Adam
    (12); activations of one micro-batch of T = SEQ tokens."""
    model, system = _llama(HUGE), load_system("p4d")
    plan = make_plan(tp=1, pp=1, dp=1, micro_batch=1, global_batch=1)
    step = estimate_step(model, system, 1, plan, SEQ)
    # one layer: q, k, v, o projections (4 h^2), SwiGLU's three matrices (3 h ffn), two RMSNorms (2 h)
    layer_params = 4 * H * H + 3 * H * FFN + 2 * H
    params = HUGE * layer_params + 2 * VOCAB * H + H  # + embedding, untied head, final norm
    assert model.n_params() == params
    mem = step.memory
    assert (mem.weights_bytes, mem.grads_bytes, mem.optimizer_bytes) == (2 * params, 4 * params, 12 * params)
    # Saved per layer (BF16, T rows): the inputs of both norms, of qkv and fc1; q, k, v; the attention
    # output; 8 T h elements of 2 bytes; the FP32 log-sum-exp, T per head; SwiGLU's input (2 ffn
    # wide) and fc2's (ffn): 6 T ffn bytes. The output layer: the final norm's and the head's
    # inputs (2 T h each) and the FP32 softmax over the vocabulary (4 T V).
    T = SEQ
    per_layer = 16 * T * H + 4 * T * HEADS + 6 * T * FFN
    activations = HUGE * per_layer + 4 * T * H + 4 * T * VOCAB
    # the step adds some 20 float terms above 2**53: each addition rounds by at most half an ulp
    assert mem.activations_bytes == pytest.approx(activations, rel=20 * 2.0**-53)
    assert not step.fits and step.memory_per_rank_bytes > 10**6 * system.hbm_bytes_per_rank


def test_cli_answers_a_1e8_layer_config_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The reported case: a Llama-like config.json with 10^8 layers ran for over a minute (a loop
    over the layers); now the answer, does not fit, and the memory it needs."""
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H,
              "intermediate_size": FFN, "num_attention_heads": HEADS, "num_key_value_heads": HEADS,
              "num_hidden_layers": HUGE, "vocab_size": VOCAB, "max_position_embeddings": SEQ}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    out_json = tmp_path / "out.json"
    code, _, err = run_cli(monkeypatch, capsys, "estimate", "--model", str(path), "--system", "trn2",
                           "--nodes", "1", "--json", str(out_json))
    assert code == 0, err
    assert "does not fit" in err
    result = json.loads(out_json.read_text())
    assert result["fits"] is False
    # weights alone: the parameters (>= 10^8 layers of 4 h^2 + 3 h ffn) at 2 bytes or more each
    assert result["memory_breakdown_bytes"]["weights_bytes"] >= 2 * HUGE * (4 * H * H + 3 * H * FFN)
