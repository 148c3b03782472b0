"""Compiler fusion and cross-engine overlap (devicetime/fusion.py), on ops whose bytes give the answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from trnsim.devicetime.fusion import FusionRules, apply_fusion, load_fusion
from trnsim.devicetime.ops import Op, OpClass, Phase
from trnsim.hardware.catalog import CATALOG_ENV, load_chip
from trnsim.workload.config import ModelConfig
from trnsim.workload.graph import build_step
from trnsim.workload.shard import Shard

R, C = 1024, 512  # rows x cols of every streaming tensor below
T = R * C * 2.0  # bytes of one BF16 tensor


def _rules(chain: bool = True, epilogue: bool = True, fraction: float = 0.0) -> FusionRules:
    return FusionRules(source="test", date="2024", confidence="test", chain={"enabled": chain},
                       epilogue={"enabled": epilogue}, overlap={"fraction": fraction})


def _stream(name: str, cls: OpClass, inputs: int, epilogue_of: str = "") -> Op:
    return Op(name, cls, Phase.FWD, 1.0, inputs * T, T, {"rows": R, "cols": C}, epilogue_of=epilogue_of)


def _gemm(name: str, n: int) -> Op:
    return Op(name, OpClass.MATMUL, Phase.FWD, 2.0 * R * C * n, (R * C + C * n) * 2.0, R * n * 2.0,
              {"m": R, "k": C, "n": n})


def test_residual_add_then_norm_is_one_memory_pass() -> None:
    # add reads 2T and writes T (3T, timed 3 s); the norm reads T and writes T (2T, 2 s). Fused,
    # the sum is neither written nor read back: add keeps 2T (2 s), norm keeps T (1 s); 3 s of 5.
    ops = [_stream("residual", OpClass.ELEMENTWISE, 2), _stream("norm", OpClass.NORM, 1)]
    add, norm = apply_fusion(ops, [3.0, 2.0], _rules())
    assert add.fused_s == pytest.approx(1.0) and norm.fused_s == pytest.approx(1.0)
    assert add.seconds + norm.seconds == pytest.approx(3.0)
    # a third op in the chain loses both its read and its write: nothing of it is left
    ops3 = [*ops, _stream("scale", OpClass.ELEMENTWISE, 1)]
    effects = apply_fusion(ops3, [3.0, 2.0, 2.0], _rules())
    assert effects[1].seconds == pytest.approx(0.0)
    # different element counts, or another phase, break the chain
    other = Op("norm", OpClass.NORM, Phase.BWD, 1.0, T, T, {"rows": R, "cols": C})
    assert apply_fusion([ops[0], other], [3.0, 2.0], _rules())[1].fused_s == 0.0
    assert apply_fusion(ops, [3.0, 2.0], _rules(chain=False))[1].fused_s == 0.0


def test_activation_reads_the_gemm_output_in_its_epilogue() -> None:
    # fc1 writes R x 2C (gate and up, 2T); SwiGLU reads those 2T and writes T. As the epilogue it
    # reads nothing from HBM: it keeps T of 3T, a third of its 3 s.
    fc1 = _gemm("fc1", 2 * C)
    act = _stream("swiglu", OpClass.ELEMENTWISE, 2, epilogue_of="fc1")
    _, effect = apply_fusion([fc1, act], [5.0, 3.0], _rules())
    assert effect.seconds == pytest.approx(1.0)
    # only right after the GEMM it names
    between = _stream("x", OpClass.LOSS, 1)
    assert apply_fusion([fc1, between, act], [5.0, 1.0, 3.0], _rules())[2].fused_s == 0.0
    assert apply_fusion([fc1, act], [5.0, 3.0], _rules(epilogue=False))[1].fused_s == 0.0


def test_overlap_hides_a_fraction_within_the_gemms_time() -> None:
    # fraction 0.5: a 4 s streaming op wants 2 s hidden; its neighbour GEMM lasts 1 s: 1 s hidden.
    gemm = _gemm("fc", C)
    op = _stream("act", OpClass.ELEMENTWISE, 1)
    _, e = apply_fusion([gemm, op], [1.0, 4.0], _rules(chain=False, epilogue=False, fraction=0.5))
    assert e.hidden_s == pytest.approx(1.0) and e.seconds == pytest.approx(3.0)
    # a long GEMM hides half of each neighbour, from one budget: 0.5 + 0.5 of its 3 s
    a, b = _stream("a", OpClass.NORM, 1), _stream("b", OpClass.ELEMENTWISE, 1)
    effects = apply_fusion([a, gemm, b], [1.0, 3.0, 1.0], _rules(chain=False, fraction=0.5))
    assert [x.hidden_s for x in effects] == pytest.approx([0.5, 0.0, 0.5])
    # a 0.6 s GEMM between them: the first takes 0.5, the second what is left (0.1)
    effects = apply_fusion([a, gemm, b], [1.0, 0.6, 1.0], _rules(chain=False, fraction=0.5))
    assert [x.hidden_s for x in effects] == pytest.approx([0.5, 0.0, 0.1])
    # overlap applies to what fusion left: epilogue leaves 1 s of 3, half of it (0.5 s) hides
    act = _stream("swiglu", OpClass.ELEMENTWISE, 2, epilogue_of="fc")
    _, e = apply_fusion([_gemm("fc", 2 * C), act], [5.0, 3.0], _rules(fraction=0.5))
    assert e.fused_s == pytest.approx(2.0) and e.hidden_s == pytest.approx(0.5)


def test_rules_exist_for_trainium_only() -> None:
    assert load_fusion(load_chip("h100")) is None  # GPU curves time the launched (fused) kernels
    rules = load_fusion(load_chip("trn1"))
    assert rules is not None and 0.0 <= rules.overlap.fraction <= 1.0
    ops = [_stream("residual", OpClass.ELEMENTWISE, 2), _stream("norm", OpClass.NORM, 1)]
    assert [e.seconds for e in apply_fusion(ops, [3.0, 2.0], None)] == [3.0, 2.0]


def test_a_user_file_overrides_the_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fusion").mkdir()
    (tmp_path / "fusion" / "trainium.toml").write_text(
        'source = "mine"\ndate = "2025"\nconfidence = "what-if"\n[chain]\nenabled = false\n'
        '[epilogue]\nenabled = false\n[overlap]\nfraction = 0.0\n')
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path))
    rules = load_fusion(load_chip("trn2"))
    assert rules is not None and rules.source == "mine" and not rules.chain.enabled


def _llama() -> ModelConfig:
    return ModelConfig(name="t", family="llama", hidden_size=512, num_layers=2, num_heads=8, num_kv_heads=8,
                       head_dim=64, ffn_hidden_size=1024, vocab_size=1000, max_seq_len=256)


def test_graph_marks_epilogues_where_no_collective_intervenes() -> None:
    def marks(tp: int) -> dict[str, str]:
        graph = build_step(_llama(), Shard(tp=tp), 1, 256)
        return {op.name: op.epilogue_of for op in graph.ops if op.epilogue_of}

    one, two = marks(1), marks(2)
    # column-parallel outputs are local at any tp: RoPE after qkv, SwiGLU after fc1, and backward
    # the SwiGLU gradient after fc2's input gradient
    for m in (one, two):
        assert m["rope"] == "qkv" and m["swiglu"] == "fc1" and m["swiglu.bwd"] == "fc2.dgrad"
    # the residual adds follow a row-parallel GEMM: an epilogue only without TP (with TP the
    # partial sums are all-reduced first)
    assert one["attn_residual"] == "out_proj" and one["mlp_residual"] == "fc2"
    assert "attn_residual" not in two and "mlp_residual" not in two


def test_step_compute_is_what_fusion_and_overlap_leave() -> None:
    from trnsim.cluster import estimate_step, make_plan
    from trnsim.hardware.catalog import load_system

    system = load_system("trn1")
    plan = make_plan(tp=2, pp=1, dp=1, micro_batch=1, global_batch=2, sequence_parallel=True)
    result = estimate_step(_llama(), system, 2, plan, 256)
    rows = result.compute_by_class
    assert result.breakdown["compute"] == pytest.approx(sum(r["step"] for r in rows.values()))
    for row in rows.values():
        assert row["step"] == pytest.approx(row["alone"] - row["fused"] - row["hidden"])
    assert rows["matmul"]["fused"] == rows["matmul"]["hidden"] == 0.0  # GEMMs host, never hide
    assert rows["norm"]["fused"] > 0 and rows["elementwise"]["hidden"] > 0
    gpu = estimate_step(_llama(), load_system("p5"), 2, plan, 256).compute_by_class
    assert all(r["fused"] == r["hidden"] == 0.0 for r in gpu.values())  # no rules for GPUs


@pytest.mark.parametrize("name", ["llama3-8b", "mixtral-8x7b"])
def test_runs_give_the_graph_ops_columns(name: str) -> None:
    # fusion_columns_of_runs (the step model's, over a skeleton's runs) gives fusion_columns' values
    # over the stage graph's own ops, bit for bit, in every role, depth and recomputation.
    import itertools

    from trnsim.devicetime.fusion import fusion_columns, fusion_columns_of_runs
    from trnsim.hardware.catalog import load_system
    from trnsim.workload.graph import build_skeleton
    from trnsim.workload.models import load_model
    from trnsim.workload.options import Recompute

    model = load_model(name)
    rules = load_fusion(load_system("trn2").chip)
    assert rules is not None
    ep = 2 if model.is_moe else 1
    cases = list(itertools.product((1, 4), (1, 2, 5), ("first", "middle", "last", "all"), (1, 2), Recompute))
    for tp, layers, role, mb, recompute in cases:
        if role == "all":
            shard = Shard(tp, tp > 1, 1, ep, None, 0, True, True)
        else:
            first = 0 if role == "first" else 1
            shard = Shard(tp, tp > 1, 1, ep, layers, first, role == "first", role == "last")
        ops = build_step(model, shard, mb, 2048, recompute=recompute).ops
        parts = build_skeleton(model, shard, mb, 2048, recompute=recompute).parts
        runs = [run for part in parts for run in part]
        seconds = [1e-4 * (1 + (i * 7919) % 97) for i in range(len(ops))]  # each op its own time
        expected = fusion_columns(ops, seconds, rules)
        assert any(expected[0]) and any(expected[1])  # both mechanisms at work
        assert fusion_columns_of_runs(runs, seconds, rules) == expected
        assert fusion_columns_of_runs(runs, seconds, rules) == expected  # the kept plan
