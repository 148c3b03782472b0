"""Activation memory against Korthikanti et al. 2022, and ZeRO's weight/grad/optimizer bytes."""

from __future__ import annotations

import pytest

from trnsim.workload.graph import build_step
from trnsim.workload.memory import estimate_memory
from trnsim.workload.models import load_model
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard

from .helpers import GPT_SHAPES, gpt

LAYERS_ONLY = {"has_embedding": False, "has_lm_head": False}


def _per_layer_bytes(hidden: int, layers: int, heads: int, shard: Shard, recompute: Recompute,
                     b: int, s: int) -> float:
    graph = build_step(gpt(hidden, layers, heads, seq=s), shard, b, s, Precision.BF16, recompute,
                       flash_attention=False)
    return graph.activation_bytes / layers


@pytest.mark.parametrize(("hidden", "layers", "heads"), GPT_SHAPES)
@pytest.mark.parametrize("t", [1, 8])
def test_activations_without_recompute(hidden: int, layers: int, heads: int, t: int) -> None:
    b, s, h, a = 1, 2048, hidden, heads
    got = _per_layer_bytes(hidden, layers, heads, Shard(tp=t, **LAYERS_ONLY), Recompute.NONE, b, s)
    # Korthikanti eq. (2) and its TP form: s·b·h·(10 + 24/t + 5·a·s/(h·t)).
    expected = s * b * h * (10 + 24 / t + 5 * a * s / (h * t))
    print(f"h={h} t={t}: {got / 2**20:.1f} MiB/layer vs formula {expected / 2**20:.1f} MiB")
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("hidden", "layers", "heads"), GPT_SHAPES)
def test_activations_with_sequence_parallelism(hidden: int, layers: int, heads: int) -> None:
    b, s, h, a, t = 2, 2048, hidden, heads, 8
    shard = Shard(tp=t, sequence_parallel=True, **LAYERS_ONLY)
    # Korthikanti eq. (4): s·b·h/t·(34 + 5·a·s/h).
    none = _per_layer_bytes(hidden, layers, heads, shard, Recompute.NONE, b, s)
    assert none == pytest.approx(s * b * h / t * (34 + 5 * a * s / h), rel=1e-12)
    # Selective recomputation drops the score-sized tensors: 34·s·b·h/t (eq. 6).
    selective = _per_layer_bytes(hidden, layers, heads, shard, Recompute.SELECTIVE, b, s)
    assert selective == pytest.approx(34 * s * b * h / t, rel=1e-12)
    print(f"h={h}: none {none / 2**20:.1f} MiB, selective {selective / 2**20:.1f} MiB per layer")


@pytest.mark.parametrize(("hidden", "layers", "heads"), GPT_SHAPES)
def test_full_recompute_keeps_only_layer_inputs(hidden: int, layers: int, heads: int) -> None:
    b, s = 1, 2048
    # Korthikanti section 4: full recomputation stores 2·s·b·h bytes per layer.
    got = _per_layer_bytes(hidden, layers, heads, Shard(**LAYERS_ONLY), Recompute.FULL, b, s)
    assert got == pytest.approx(2 * s * b * hidden, rel=1e-12)


def test_flash_attention_removes_the_quadratic_term() -> None:
    model = gpt(6144, 48, 64)
    flash = build_step(model, Shard(**LAYERS_ONLY), 1, 2048, flash_attention=True).activation_bytes / 48
    # No 5·a·s²·b term; the dropout masks of the attention block stay, plus the FP32
    # log-sum-exp per (head, query): 34·s·b·h + 4·a·s·b.
    s, h, a = 2048, 6144, 64
    assert flash == pytest.approx(34 * s * h + 4 * a * s, rel=1e-12)


def test_zero_stages_follow_the_zero_paper() -> None:
    # Rajbhandari et al. 2020 (K = 12 optimizer bytes): stage 0 (2 + 2 + K)·Ψ, stage 1
    # (2 + 2)·Ψ + K·Ψ/Nd, stage 2 2Ψ + (2 + K)·Ψ/Nd, stage 3 (2 + 2 + K)·Ψ/Nd (BF16 gradients).
    model = load_model("llama3-8b")
    psi, nd = model.n_params(), 64
    expected = {0: 16 * psi, 1: 4 * psi + 12 * psi / nd, 2: 2 * psi + 14 * psi / nd, 3: 16 * psi / nd}
    for stage, total in expected.items():
        mem = estimate_memory(model, Shard(), nd, stage, 1, 4096, fp32_grad_accumulation=False)
        got = mem.weights_bytes + mem.grads_bytes + mem.optimizer_bytes
        print(f"ZeRO-{stage}: {got / 2**30:.2f} GiB vs {total / 2**30:.2f} GiB")
        assert got == pytest.approx(total, rel=1e-12)


def test_fp32_gradients_and_fp8_weights_add_bytes() -> None:
    model = load_model("llama3-8b")
    psi = model.n_params()
    mem = estimate_memory(model, Shard(), 1, 0, 1, 4096)
    assert mem.grads_bytes == 4 * psi  # Megatron accumulates BF16 training gradients in FP32
    fp8 = estimate_memory(model, Shard(), 1, 0, 1, 4096, precision=Precision.FP8)
    assert fp8.weights_bytes == 3 * psi


def test_tensor_parallel_shards_weights() -> None:
    model = load_model("llama3-70b")
    one = estimate_memory(model, Shard(), 1, 0, 1, 4096).weights_bytes
    eight = estimate_memory(model, Shard(tp=8), 1, 0, 1, 4096).weights_bytes
    # Only norms are replicated: 8 ranks hold the model plus 7 extra copies of the norm weights.
    norms = 2 * (2 * model.num_layers + 1) * model.hidden_size
    assert 8 * eight == pytest.approx(one + 7 * norms, rel=1e-9)


def test_inflight_microbatches_multiply_activations() -> None:
    model = load_model("llama3-8b")
    one = estimate_memory(model, Shard(), 1, 1, 1, 4096)
    four = estimate_memory(model, Shard(), 1, 1, 1, 4096, inflight_microbatches=4)
    assert four.activations_bytes == 4 * one.activations_bytes


def test_a_plan_that_does_not_fit_says_by_how_much_and_why() -> None:
    model = load_model("llama3-70b")
    mem = estimate_memory(model, Shard(), 1, 0, 1, 4096)
    line = mem.explain(96 * 2**30)
    assert line.startswith("does not fit") and "short by" in line and "optimizer" in line
    small = estimate_memory(load_model("afm-on-device"), Shard(), 8, 1, 1, 2048)
    assert small.explain(96 * 2**30).startswith("fits")


def test_advice_leaves_out_what_the_plan_already_does() -> None:
    """Activations dominate (60 of 100 GiB) and 20 GiB are missing: the advice depends on the
    recompute mode the plan already uses; the optimizer advice on its ZeRO stage."""
    from trnsim.workload.memory import MemoryBreakdown
    from trnsim.workload.options import Recompute

    gib = 2.0**30
    acts = MemoryBreakdown(10 * gib, 10 * gib, 15 * gib, 60 * gib, 5 * gib)
    assert "try selective/full recompute" in acts.explain(80 * gib)  # plan unknown
    assert "try selective/full recompute" in acts.explain(80 * gib, Recompute.NONE)
    assert "try full recompute" in acts.explain(80 * gib, Recompute.SELECTIVE)
    assert "recompute" not in acts.explain(80 * gib, Recompute.FULL).split(";")[-1]
    opt = MemoryBreakdown(10 * gib, 10 * gib, 60 * gib, 15 * gib, 5 * gib)
    assert "try ZeRO-1" in opt.explain(80 * gib, zero_stage=0)
    assert "ZeRO-1" not in opt.explain(80 * gib, zero_stage=1)
    assert "more data parallelism" in opt.explain(80 * gib, zero_stage=1)


def test_autocast_precision_mode_holds_fp32_parameters_and_their_bf16_casts() -> None:
    """NxD's "Autocast:BF16 + FP32 optimizer" (the Trn1 calibration runs): FP32 parameters (4 B),
    the BF16 cast of each weight autograd saves for backward (2 B), an FP32 .grad (4 B), and the
    ZeRO-1 shard of FP32 parameter copy + Adam moments (12 B / dp). Megatron-LM: 2 + 4 + 12 / dp."""
    from trnsim.devicetime.param_passes import load_param_passes
    from trnsim.hardware.catalog import load_chip

    model = load_model("llama3-8b")
    psi, dp = model.n_params(), 32
    passes = load_param_passes(load_chip("trn1"))
    assert passes is not None and load_param_passes(load_chip("h100")) is None
    trn = estimate_memory(model, Shard(), dp, 1, 1, 4096, param_passes=passes)
    gpu = estimate_memory(model, Shard(), dp, 1, 1, 4096)
    assert trn.weights_bytes == pytest.approx((4 + 2) * psi, rel=1e-12)
    assert trn.grads_bytes == pytest.approx(4 * psi, rel=1e-12)
    assert trn.optimizer_bytes == pytest.approx(12 * psi / dp, rel=1e-12)
    assert gpu.weights_bytes == pytest.approx(2 * psi, rel=1e-12)
    assert trn.activations_bytes == gpu.activations_bytes
    # ZeRO-3 shards the FP32 parameters and the casts made of the shard (param_passes.py times the
    # casts on the shard too); ZeRO-2 shards the FP32 gradient.
    z3 = estimate_memory(model, Shard(), dp, 3, 1, 4096, param_passes=passes)
    assert z3.weights_bytes == pytest.approx(6 * psi / dp, rel=1e-12)
    assert z3.grads_bytes == pytest.approx(4 * psi / dp, rel=1e-12)


def test_parts_name_every_field_largest_first() -> None:
    from dataclasses import fields

    from trnsim.workload.memory import MemoryBreakdown

    memory = MemoryBreakdown(3.0, 5.0, 1.0, 4.0, 2.0)
    parts = memory.parts()
    assert sorted(parts) == sorted(f.name.removesuffix("_bytes") for f in fields(MemoryBreakdown))
    assert list(parts.values()) == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert parts == {k.removesuffix("_bytes"): v for k, v in memory.to_dict().items() if k != "total_bytes"}


def test_an_estimate_is_the_breakdown_its_constructor_makes() -> None:
    """estimate_memory makes its MemoryBreakdown without the frozen dataclass's __init__: the same
    fields in the same order, equal, hashing and printing alike."""
    from dataclasses import astuple

    from trnsim.workload.memory import MemoryBreakdown

    for zero in (0, 3):
        made = estimate_memory(load_model("llama3-8b"), Shard(tp=2, layers=4), 4, zero, 1, 4096)
        built = MemoryBreakdown(*astuple(made))
        assert list(vars(made).items()) == list(vars(built).items())
        assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
