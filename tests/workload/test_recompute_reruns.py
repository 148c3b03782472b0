"""Megatron-core's selective recomputation re-runs the flash-attention forward (GPU curves' [recompute]).

Hand derivation: with a FlashAttention kernel the step graph recomputes nothing under selective
recomputation, so a GPU step with selective recomputation differs from one without by exactly one
more attention forward per layer (the checkpointed core attention run again in backward); Trainium
(NxD, no such rule in any data file) and TPU (no [recompute] in tpu.toml) differ by nothing.
"""

from __future__ import annotations

import pytest

from trnsim.cluster import estimate_step, make_plan
from trnsim.devicetime.efficiency import load_efficiency, selective_recompute_reruns
from trnsim.devicetime.ops import OpClass, Phase
from trnsim.devicetime.timing import time_op, time_step
from trnsim.hardware.catalog import load_chip, load_system
from trnsim.workload.graph import build_step
from trnsim.workload.models import load_model
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard


def test_rerun_ops_are_the_attention_forwards_in_the_recompute_phase() -> None:
    model = load_model("llama3-8b")
    graph = build_step(model, Shard(tp=2, sequence_parallel=True), 1, 4096, Precision.BF16,
                       Recompute.SELECTIVE, flash_attention=True)
    assert not any(op.phase is Phase.RECOMPUTE for op in graph.ops)  # the graph's own rule
    reruns = selective_recompute_reruns(graph.ops, load_chip("h100"))
    forwards = [op for op in graph.ops if op.op_class is OpClass.ATTENTION and op.phase is Phase.FWD]
    assert len(reruns) == len(forwards) == 1
    assert reruns[0].phase is Phase.RECOMPUTE and reruns[0].count == model.num_layers
    assert (reruns[0].flops, reruns[0].shape) == (forwards[0].flops, forwards[0].shape)
    assert load_efficiency(load_chip("h100")).recompute is not None
    assert load_efficiency(load_chip("tpu-v5p")).recompute is None
    assert selective_recompute_reruns(graph.ops, load_chip("tpu-v5p")) == ()
    assert selective_recompute_reruns(graph.ops, load_chip("trn1")) == ()


@pytest.mark.parametrize("system", ["p5", "p4d"])
def test_gpu_selective_step_adds_one_attention_forward_per_layer(system: str) -> None:
    model, sys_ = load_model("llama3-8b"), load_system(system)
    plans = {rc: make_plan(tp=8, pp=1, dp=1, micro_batch=1, global_batch=4, recompute=rc,
                           sequence_parallel=True, flash_attention=True)
             for rc in (Recompute.NONE, Recompute.SELECTIVE)}
    none, sel = (estimate_step(model, sys_, 8, plans[rc], 4096) for rc in plans)
    graph = build_step(model, Shard(tp=8, sequence_parallel=True), 1, 4096, Precision.BF16,
                       Recompute.SELECTIVE, flash_attention=True)
    attention_fwd = sum(time_op(op, sys_) for op in graph.ops
                        if op.op_class is OpClass.ATTENTION and op.phase is Phase.FWD)
    m = plans[Recompute.SELECTIVE].microbatches
    assert m == 4
    assert sel.breakdown["compute"] - none.breakdown["compute"] == pytest.approx(m * attention_fwd)
    # the device-only estimate agrees (one micro-batch)
    extra = (time_step(graph, sys_).compute_s
             - time_step(build_step(model, Shard(tp=8, sequence_parallel=True), 1, 4096), sys_).compute_s)
    assert extra == pytest.approx(attention_fwd)


def test_trainium_selective_step_adds_nothing() -> None:
    model, trn1 = load_model("llama3-8b"), load_system("trn1")
    steps = [estimate_step(model, trn1, 32, make_plan(tp=8, pp=1, dp=4, micro_batch=1, global_batch=4,
                                                      recompute=rc, sequence_parallel=True), 4096)
             for rc in (Recompute.NONE, Recompute.SELECTIVE)]
    assert steps[0].breakdown["compute"] == pytest.approx(steps[1].breakdown["compute"])
