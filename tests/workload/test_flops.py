"""FLOP counts against Megatron's published formula and 6·N·D plus attention."""

from __future__ import annotations

import pytest

from trnsim.devicetime.ops import OpClass, Phase
from trnsim.workload.flops import hardware_flops, model_flops
from trnsim.workload.graph import build_step
from trnsim.workload.models import load_model
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard

from .helpers import GPT_SHAPES, gpt

_MODEL_CLASSES = (OpClass.MATMUL, OpClass.ATTENTION, OpClass.ROUTER)


def _graph_model_flops(graph, phases=(Phase.FWD, Phase.BWD)) -> float:
    return sum(op.total_flops for op in graph.ops if op.op_class in _MODEL_CLASSES and op.phase in phases)


@pytest.mark.parametrize(("hidden", "layers", "heads"), GPT_SHAPES)
@pytest.mark.parametrize("seq", [2048, 4096])
def test_model_flops_match_megatron_formula(hidden: int, layers: int, heads: int, seq: int) -> None:
    # Narayanan et al. 2021, eq. (3) without recomputation (3 passes instead of 4):
    # F = 72·B·s·L·h²·(1 + s/(6h) + V/(12·L·h)).
    model = gpt(hidden, layers, heads, seq=seq)
    batch, vocab = 8, 51200
    h, L = hidden, layers
    expected = 72 * batch * seq * L * h**2 * (1 + seq / (6 * h) + vocab / (12 * L * h))
    got = model_flops(model, batch * seq, seq)
    print(f"h={hidden} L={layers} s={seq}: {got:.6e} vs Megatron {expected:.6e} ({got / expected - 1:+.2e})")
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("hidden", "layers", "heads"), GPT_SHAPES)
def test_full_recompute_matches_the_96_formula(hidden: int, layers: int, heads: int) -> None:
    # Narayanan et al. 2021, eq. (3): with activation recomputation
    # F = 96·B·s·L·h²·(1 + s/(6h) + V/(16·L·h)).
    model, seq, batch, vocab = gpt(hidden, layers, heads), 2048, 4, 51200
    h, L = hidden, layers
    expected = 96 * batch * seq * L * h**2 * (1 + seq / (6 * h) + vocab / (16 * L * h))
    assert hardware_flops(model, batch * seq, seq, Recompute.FULL) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["llama3-8b", "llama3-70b", "llama3-405b", "afm-on-device"])
def test_dense_models_follow_6nd_plus_attention(name: str) -> None:
    # PaLM appendix B: 6·N + 12·L·H·Q·T FLOPs per token, N the non-embedding weights (the output
    # projection counts, the input lookup does not). Norm weights are in N but do no GEMM work:
    # they are a < 1e-4 relative difference.
    model = load_model(name)
    seq, tokens = 4096, 4096 * 16
    n = model.n_nonembedding_params() + (model.lm_head_params() or model.vocab_size * model.hidden_size)
    expected = 6 * n * tokens + 12 * model.num_layers * model.num_heads * model.head_dim * seq * tokens
    got = model_flops(model, tokens, seq)
    print(f"{name}: {got:.5e} vs 6ND+attention {expected:.5e} ({got / expected - 1:+.1e})")
    assert got == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("name", ["mixtral-8x7b", "deepseek-v3"])
def test_moe_models_count_active_experts_only(name: str) -> None:
    model = load_model(name)
    seq, tokens = 4096, 4096
    dense_equivalent = 6 * model.n_active_params() * tokens
    ratio = model_flops(model, tokens, seq) / dense_equivalent
    # Active-parameter 6ND plus attention, less the input-embedding lookup: within a few percent.
    print(f"{name}: model FLOPs / 6·N_active·D = {ratio:.3f}")
    assert 0.95 < ratio < 1.25


@pytest.mark.parametrize("name", ["llama3-8b", "mixtral-8x7b", "deepseek-v3", "afm-on-device", "gpt3-175b"])
def test_graph_totals_equal_model_flops(name: str) -> None:
    model = load_model(name)
    seq = min(4096, model.max_seq_len)
    graph = build_step(model, Shard(), 2, seq)
    assert _graph_model_flops(graph) == pytest.approx(model_flops(model, 2 * seq, seq), rel=1e-12)


def test_graph_with_full_recompute_equals_hardware_flops() -> None:
    model = load_model("llama3-8b")
    graph = build_step(model, Shard(), 1, 4096, recompute=Recompute.FULL)
    all_phases = (Phase.FWD, Phase.BWD, Phase.RECOMPUTE)
    assert _graph_model_flops(graph, all_phases) == pytest.approx(
        hardware_flops(model, 4096, 4096, Recompute.FULL), rel=1e-12)


@pytest.mark.parametrize(
    ("shard", "ranks"),
    [
        (Shard(tp=8), 8),
        (Shard(tp=4, sequence_parallel=True), 4),
        (Shard(cp=4), 4),
        (Shard(tp=2, cp=2, sequence_parallel=True), 4),
    ],
)
def test_shards_split_the_work_exactly(shard: Shard, ranks: int) -> None:
    # Every rank of a TP/CP group does 1/ranks of the GEMM and attention work (the LM head's
    # vocabulary 128,256 is divisible by 8).
    model = load_model("llama3-8b")
    whole = _graph_model_flops(build_step(model, Shard(), 1, 8192))
    part = _graph_model_flops(build_step(model, shard, 1, 8192))
    assert part * ranks == pytest.approx(whole, rel=1e-12)


def test_pipeline_stages_add_up() -> None:
    model = load_model("llama3-70b")
    whole = _graph_model_flops(build_step(model, Shard(), 1, 4096))
    stages = [Shard(layers=20, first_layer=20 * i, has_embedding=i == 0, has_lm_head=i == 3)
              for i in range(4)]
    assert sum(_graph_model_flops(build_step(model, s, 1, 4096)) for s in stages) == pytest.approx(whole)


def test_expert_parallel_ranks_share_the_expert_work() -> None:
    # Mixtral: 8 experts, top-2. With ep=4 each rank holds 2 experts and receives, balanced,
    # tokens·2 token copies: the same expert FLOPs as ep=1 (which holds all 8 experts).
    model = load_model("mixtral-8x7b")

    def expert_flops(ep: int) -> float:
        graph = build_step(model, Shard(ep=ep), 1, 4096)
        return sum(op.total_flops for op in graph.ops
                   if op.name.startswith("expert.") and op.op_class is OpClass.MATMUL)

    assert expert_flops(4) == pytest.approx(expert_flops(1))
    assert expert_flops(1) == pytest.approx(
        3 * 2 * 4096 * 2 * 3 * model.hidden_size * 14336 * model.num_layers)  # 3 passes·2·T·k·3·h·f·L


def test_fp8_changes_gemm_dtype_and_bytes_not_flops() -> None:
    model = load_model("llama3-8b")
    bf16 = build_step(model, Shard(), 1, 4096)
    fp8 = build_step(model, Shard(), 1, 4096, Precision.FP8)
    assert fp8.total_flops == bf16.total_flops
    qkv_bf16 = next(op for op in bf16.ops if op.name == "qkv")
    qkv_fp8 = next(op for op in fp8.ops if op.name == "qkv")
    # Inputs (4096x4096 activations + 4096x6144 weights) at 1 byte instead of 2.
    assert qkv_fp8.bytes_read == qkv_bf16.bytes_read / 2
    assert fp8.activation_bytes < bf16.activation_bytes
