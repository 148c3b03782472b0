"""estimate_step and check_plan: breakdown, pipeline, ZeRO, MoE, placement and one-line errors."""

from __future__ import annotations

import math

import pytest

from trnsim.cluster.collectives import Collective, collective_time
from trnsim.cluster.pipeline import Schedule
from trnsim.cluster.placement import place_group
from trnsim.cluster.plan import GradReduceDtype, InfeasiblePlanError, InfeasibleReason, make_plan
from trnsim.cluster.step import BREAKDOWN_KEYS, check_plan, estimate_step
from trnsim.cluster.topology import topology_for_system
from trnsim.cluster.traffic import dp_comm
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute

LLAMA8 = load_model("llama3-8b")
P5 = load_system("p5")
TRN2 = load_system("trn2")


def test_breakdown_sums_to_the_step_and_throughput_follows() -> None:
    plan = make_plan(tp=8, pp=2, dp=4, micro_batch=1, global_batch=32, sequence_parallel=True)
    r = estimate_step(LLAMA8, P5, 64, plan, 4096)
    assert tuple(r.breakdown) == BREAKDOWN_KEYS  # in this order: the step time is their sum
    assert sum(r.breakdown.values()) == pytest.approx(r.step_time_s)
    assert r.tokens_per_s == pytest.approx(32 * 4096 / r.step_time_s)
    assert 0 < r.mfu <= r.hfu < 1
    assert r.microbatches == 8
    assert r.groups["tp"] == "nvswitch x8" and r.groups["dp"] == "efa x4"
    d = r.to_dict()
    for key in ("step_time_s", "tokens_per_s", "mfu", "memory_per_rank_bytes", "fits"):
        assert key in d


def test_1f1b_bubble_in_the_step() -> None:
    # p = 4, m = 8: with equal stages the bubble is (p-1)/m = 3/8 of the slowest stage's work. Here
    # the last stage (LM head) is the slowest and sets the steady state; fill and drain cross the
    # three others once (first ~ middle, both lighter), so the bubble lies between 2/8 and 3/8.
    plan = make_plan(tp=8, pp=4, dp=1, micro_batch=1, global_batch=8, schedule=Schedule.ONE_F_ONE_B)
    r = estimate_step(LLAMA8, P5, 32, plan, 4096)
    assert 2 / 8 < r.bubble_fraction < 3 / 8
    work = sum(r.breakdown[k] for k in ("compute", "tp_comm", "cp_comm", "ep_comm"))
    assert r.breakdown["pipeline_bubble"] == pytest.approx(r.bubble_fraction * work)
    inter = estimate_step(LLAMA8, P5, 32, plan.model_copy(update={"schedule": Schedule.INTERLEAVED,
                                                                   "interleave": 2}), 4096)
    assert inter.breakdown["pipeline_bubble"] == pytest.approx(r.breakdown["pipeline_bubble"] / 2)
    assert inter.breakdown["pp_comm"] > r.breakdown["pp_comm"]


def test_zero3_traffic_per_microbatch() -> None:
    topo = topology_for_system(P5)
    group = place_group(topo, 1, 1, 8)  # one p5 node
    none = place_group(topo, 1, 1, 1)
    params = 1e9
    bw = 450e9 * 0.8  # NVSwitch per direction x collective efficiency (p5 topology file)
    # ZeRO-0: all-reduce FP32 grads: 2 (7 x 1 us + 7/8 x 4 GB / bw), once per step.
    z0 = dp_comm(params, 0, group, none, 0)
    assert z0.grad_s == pytest.approx(2 * (7e-6 + 7 / 8 * 4e9 / bw)) and not z0.per_microbatch
    # ZeRO-3: every micro-batch, all-gather BF16 params twice and reduce-scatter FP32 grads:
    # 2 (7 us + 7/8 x 2 GB / bw) + (7 us + 7/8 x 4 GB / bw): 3 passes of a buffer against 2 for
    # an all-reduce of the same dtype (ZeRO paper: 1.5x DDP's traffic).
    z3 = dp_comm(params, 0, group, none, 3)
    assert z3.per_microbatch
    assert z3.param_s == pytest.approx(2 * (7e-6 + 7 / 8 * 2e9 / bw))
    assert z3.grad_s == pytest.approx(7e-6 + 7 / 8 * 4e9 / bw)
    same_dtype_ar = collective_time(Collective.ALL_REDUCE, 2e9, group).time_s
    assert z3.param_s + collective_time(Collective.REDUCE_SCATTER, 2e9, group).time_s == pytest.approx(
        1.5 * same_dtype_ar, rel=1e-3)


def test_half_precision_gradient_reduction_halves_the_bytes() -> None:
    topo = topology_for_system(P5)
    group = place_group(topo, 1, 1, 8)
    none = place_group(topo, 1, 1, 1)
    # FP16/BF16 gradients (2 bytes) on 1e9 parameters: an all-reduce of 2 GB, not 4 GB.
    half = dp_comm(1e9, 0, group, none, 0, grad_bytes=2)
    assert half.grad_s == pytest.approx(collective_time(Collective.ALL_REDUCE, 2e9, group).time_s)
    plan = make_plan(tp=8, dp=2, global_batch=2, grad_reduce_dtype="bf16", overlap_dp_comm=False)
    fp32_plan = plan.model_copy(update={"grad_reduce_dtype": GradReduceDtype.FP32})
    fp32 = estimate_step(LLAMA8, P5, 16, fp32_plan, 4096)
    bf16 = estimate_step(LLAMA8, P5, 16, plan, 4096)
    assert bf16.breakdown["dp_comm"] < fp32.breakdown["dp_comm"]


def test_the_last_gradient_bucket_is_never_hidden() -> None:
    topo = topology_for_system(P5)
    group = place_group(topo, 1, 1, 8)
    none = place_group(topo, 1, 1, 1)
    bw = 450e9 * 0.8
    # ZeRO-1, 1e9 parameters in buckets of 4e7: the last bucket's FP32 reduce-scatter
    # (7 us + 7/8 x 1.6e8 B / bw) and the first bucket's BF16 gather (7 us + 7/8 x 8e7 B / bw)
    # stay exposed however long the backward and forward are.
    z1 = dp_comm(1e9, 0, group, none, 1, bucket_params=4e7)
    assert z1.grad_tail_s == pytest.approx(7e-6 + 7 / 8 * 1.6e8 / bw)
    assert z1.param_tail_s == pytest.approx(7e-6 + 7 / 8 * 8e7 / bw)
    # In a step: 8 GPUs of one node, overlap on, compute far longer than the traffic.
    plan = make_plan(tp=1, dp=8, zero_stage=1, global_batch=64, dp_bucket_params=40_000_000)
    r = estimate_step(LLAMA8, P5, 8, plan, 4096)
    graph_params = 8.03e9  # llama3-8b on one rank (no TP): all of it
    tail_grad = collective_time(Collective.REDUCE_SCATTER, 4e7 * 4, group).time_s
    tail_param = collective_time(Collective.ALL_GATHER, 4e7 * 2, group).time_s
    assert r.breakdown["dp_comm"] == pytest.approx(tail_grad + tail_param)
    assert graph_params * 4 / bw > r.breakdown["dp_comm"]  # far less than the whole reduction


def test_zero_stages_shard_memory() -> None:
    base = dict(tp=1, pp=1, dp=8, micro_batch=1, global_batch=8)
    mem = {z: estimate_step(LLAMA8, P5, 8, make_plan(zero_stage=z, **base), 2048).memory for z in range(4)}
    # Optimizer states (ZeRO-1), then gradients (2), then weights (3) divided by dp = 8.
    assert mem[1].optimizer_bytes == pytest.approx(mem[0].optimizer_bytes / 8)
    assert mem[2].grads_bytes == pytest.approx(mem[0].grads_bytes / 8)
    assert mem[3].weights_bytes == pytest.approx(mem[0].weights_bytes / 8)
    fsdp = estimate_step(LLAMA8, P5, 8, make_plan(fsdp=True, **base), 2048)
    assert fsdp.memory == mem[3]


def test_moe_expert_parallel_adds_all_to_all() -> None:
    mixtral = load_model("mixtral-8x7b")
    dense_ep = dict(tp=2, pp=1, dp=8, micro_batch=1, global_batch=16, sequence_parallel=True)
    ep1 = estimate_step(mixtral, P5, 16, make_plan(ep=1, **dense_ep), 4096)
    ep8 = estimate_step(mixtral, P5, 16, make_plan(ep=8, **dense_ep), 4096)
    assert ep1.breakdown["ep_comm"] == 0.0
    assert ep8.breakdown["ep_comm"] > 0.0
    # EP = 8 at stride tp = 2 spans both nodes: 4 GPUs a node, 2 nodes.
    assert ep8.groups["ep"] == "nvswitch x4, efa x2"
    assert ep8.memory.weights_bytes < ep1.memory.weights_bytes


def test_context_parallel_and_recompute() -> None:
    base = dict(tp=8, pp=1, dp=1, micro_batch=1, global_batch=4)
    cp2 = estimate_step(LLAMA8, P5, 16, make_plan(cp=2, **base), 8192)
    assert cp2.groups["cp"] == "efa x2"
    full = estimate_step(LLAMA8, P5, 8, make_plan(recompute=Recompute.FULL, **base), 8192)
    none = estimate_step(LLAMA8, P5, 8, make_plan(**base), 8192)
    assert full.breakdown["compute"] > none.breakdown["compute"]
    assert full.memory.activations_bytes < none.memory.activations_bytes
    assert full.hfu > full.mfu and none.hfu == pytest.approx(none.mfu)


def test_cost_does_not_depend_on_cluster_size_beyond_dp() -> None:
    # Same per-rank work on 64 and 65,536 Trn2 ranks: only data-parallel communication can change.
    plan64 = make_plan(tp=4, pp=1, dp=16, micro_batch=1, global_batch=64, zero_stage=1)
    big = make_plan(tp=4, pp=1, dp=16384, micro_batch=1, global_batch=65536, zero_stage=1)
    small = estimate_step(LLAMA8, TRN2, 64, plan64, 4096)
    large = estimate_step(LLAMA8, TRN2, 65536, big, 4096)
    assert large.breakdown["compute"] == pytest.approx(small.breakdown["compute"])
    assert large.chips == 16384 and math.isfinite(large.step_time_s)


@pytest.mark.parametrize(
    ("fields", "ranks", "reason", "text"),
    [
        (dict(tp=8, dp=4), 64, InfeasibleReason.RANK_COUNT, "not the 64 ranks"),
        (dict(tp=3, dp=1), 3, InfeasibleReason.DIVISIBILITY, "does not divide the 32 attention heads"),
        (dict(pp=64, dp=1), 64, InfeasibleReason.PIPELINE_DEPTH, "deeper than the 32 layers"),
        (dict(pp=4, dp=1, schedule="interleaved", interleave=2, first_stage_layers=1), 4,
         InfeasibleReason.PIPELINE_DEPTH, "a stage of 1 layers cannot hold interleave=2"),
        (dict(pp=4, dp=1, first_stage_layers=20, last_stage_layers=12), 4,
         InfeasibleReason.PIPELINE_DEPTH, "leave 0 of the 32 layers for 2 other stage"),
        (dict(dp=4, global_batch=6), 4, InfeasibleReason.BATCH, "not a multiple of dp"),
        (dict(dp=4, ep=2, global_batch=8), 4, InfeasibleReason.DIVISIBILITY, "a dense model needs ep=1"),
        (dict(pp=4, schedule="interleaved", interleave=2, global_batch=6), 4, InfeasibleReason.SCHEDULE,
         "multiple of pp=4"),
    ],
)
def test_invalid_plans_get_one_line_with_a_reason(fields: dict[str, object], ranks: int,
                                                  reason: InfeasibleReason, text: str) -> None:
    plan = make_plan(**{"global_batch": 8, **fields})
    with pytest.raises(InfeasiblePlanError, match=text) as info:
        check_plan(LLAMA8, P5, ranks, plan, 4096)
    assert info.value.reason is reason
    assert "\n" not in str(info.value)


def test_memory_infeasibility_is_typed() -> None:
    huge = load_model("llama3-405b")
    with pytest.raises(InfeasiblePlanError, match="does not fit") as info:
        check_plan(huge, P5, 8, make_plan(tp=8, global_batch=1), 4096)
    assert info.value.reason is InfeasibleReason.MEMORY


def test_a_memory_verdict_made_when_shown_reads_as_one_made_at_once() -> None:
    """check_plan formats its memory verdict only when the error is shown: the same message, in
    ``str``, ``args`` (after showing), ``repr`` and a pickled copy."""
    import pickle

    huge = load_model("llama3-405b")
    plan = make_plan(tp=8, global_batch=1)
    with pytest.raises(InfeasiblePlanError) as info:
        check_plan(huge, P5, 8, plan, 4096)
    error = info.value
    message = str(error)
    assert message.startswith(f"plan {plan.describe()}: does not fit: needs ")
    assert error.args == (message,) and repr(error) == f"InfeasiblePlanError({message!r})"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, str(copy)) == (InfeasibleReason.MEMORY, message)
    eager = InfeasiblePlanError(InfeasibleReason.MEMORY, message)
    assert (str(eager), eager.args, repr(eager)) == (message, (message,), repr(error))


def test_contradictory_plan_fields_are_one_line() -> None:
    with pytest.raises(ConfigError, match="contradicts zero_stage=1"):
        make_plan(fsdp=True, zero_stage=1)
    with pytest.raises(ConfigError, match="needs schedule 'interleaved'"):
        make_plan(interleave=2)
    with pytest.raises(ConfigError, match="'tp'"):
        make_plan(tp=0)


@pytest.mark.parametrize("system_name", ["trn2", "p5"])
def test_one_rank_agrees_with_the_workload_device_estimate(system_name: str) -> None:
    # With one rank there is no communication or bubble: the cluster step must be the workload
    # layer's one-device step (4 micro-batches of 2 sequences, then the optimizer).
    from trnsim.workload.estimate import estimate_device_step

    system = load_system(system_name)
    r = estimate_step(LLAMA8, system, 1, make_plan(micro_batch=2, global_batch=8), 2048)
    d = estimate_device_step(LLAMA8, system, 2, 2048, num_microbatches=4)
    assert r.step_time_s == pytest.approx(d.step_s)
    assert r.mfu == pytest.approx(d.mfu)
    assert r.memory_per_rank_bytes == pytest.approx(d.memory.total_bytes)
    comm = ("tp_comm", "cp_comm", "ep_comm", "pp_comm", "dp_comm", "pipeline_bubble")
    assert all(r.breakdown[k] == 0 for k in comm)


def test_uneven_pipeline_stages_follow_llama3_405b() -> None:
    from trnsim.cluster.step import stage_layers

    # 126 layers on 16 stages: the first and last stages hold one layer fewer (Llama 3 405B).
    assert stage_layers(126, 16) == [7] + [8] * 14 + [7]
    assert stage_layers(32, 4) == [8, 8, 8, 8]
    assert sum(stage_layers(105, 35)) == 105
    # Megatron's --decoder-first/last-pipeline-num-layers: fixed ends, the rest shared by the middle.
    assert stage_layers(126, 16, 6, 6) == [6] + [9] * 2 + [8] * 12 + [6]
    assert stage_layers(32, 4, first=5) == [5, 9, 9, 9]
    assert stage_layers(32, 2, 12, 20) == [12, 20]


def test_126_layers_interleave_on_16_stages() -> None:
    # Llama 3 405B: pp = 16 does not divide 126, nor does pp x v; stages of 7/8/7 layers split into
    # v = 2 chunks of 4+3 / 4+4 are valid (Megatron's uneven virtual stages), and interleaving halves
    # the bubble.
    from trnsim.workload.models import load_model

    model = load_model("llama3-405b")
    base = dict(tp=8, pp=16, dp=1, micro_batch=1, global_batch=16, sequence_parallel=True)
    one = estimate_step(model, P5, 128, make_plan(**base), 8192)
    two = estimate_step(model, P5, 128, make_plan(**base, schedule="interleaved", interleave=2), 8192)
    assert two.breakdown["pipeline_bubble"] == pytest.approx(one.breakdown["pipeline_bubble"] / 2)
    assert set(two.stage_memory_bytes) == {"first", "middle", "last"}


def test_trainium_memory_follows_the_autocast_precision_mode() -> None:
    # The Trn1 calibration runs' mode (devicetime/data/param_passes/trainium.toml): the same
    # FP32 parameters the time model casts every micro-batch are what the memory holds.
    from trnsim.devicetime.param_passes import load_param_passes

    model, trn1 = load_model("llama3-8b"), load_system("trn1")
    passes = load_param_passes(trn1.chip)
    assert passes is not None
    plan = make_plan(tp=8, pp=1, dp=4, zero_stage=1, micro_batch=1, global_batch=4)
    r = estimate_step(model, trn1, 32, plan, 4096)
    params = r.memory.grads_bytes / passes.grad_bytes  # parameters on one rank
    assert r.memory.weights_bytes == pytest.approx((passes.param_bytes + passes.compute_bytes) * params)
    assert r.memory.optimizer_bytes == pytest.approx(12 * params / 4)


def test_fsdp_without_resharding_after_forward_gathers_once_per_micro_batch() -> None:
    # Llama 3 (Meta 2024, section 3.3.1): FSDP "not reshard after forward computation to avoid an
    # extra all-gather communication during backward passes". ZeRO-3 without overlap: per micro-batch
    # a BF16 all-gather before forward (and, resharding, again before backward) plus the FP32
    # gradient reduce-scatter; 8 GPUs of one node, llama3-8b whole on each rank, m = 2.
    base = dict(tp=1, dp=8, zero_stage=3, global_batch=16, overlap_dp_comm=False)
    twice = estimate_step(LLAMA8, P5, 8, make_plan(**base), 2048)
    once = estimate_step(LLAMA8, P5, 8, make_plan(reshard_after_forward=False, **base), 2048)
    group = place_group(topology_for_system(P5), 1, 1, 8)
    params = twice.memory.weights_bytes * 8 / 2  # ZeRO-3 holds 2 B / 8 per parameter
    gather = collective_time(Collective.ALL_GATHER, params * 2, group).time_s
    scatter = collective_time(Collective.REDUCE_SCATTER, params * 4, group).time_s
    assert twice.breakdown["dp_comm"] == pytest.approx(2 * (2 * gather + scatter))
    assert once.breakdown["dp_comm"] == pytest.approx(2 * (gather + scatter))
    # Memory: the gathered weights stay for the backward -- the stage's full BF16 weights, no
    # per-layer gather buffers (ZeRO-3 keeps two layers' worth: 2 x 2 B x params / 32 layers).
    assert once.memory.weights_bytes == pytest.approx(2 * params)
    assert twice.memory.temporary_bytes - once.memory.temporary_bytes == pytest.approx(2 * 2 * params / 32)
    assert once.memory.grads_bytes == twice.memory.grads_bytes
    with pytest.raises(ConfigError, match="needs ZeRO-3"):
        make_plan(zero_stage=2, reshard_after_forward=False)


def test_the_result_is_what_the_dataclass_constructor_makes() -> None:
    # estimate_step fills StepResult's __dict__ in one update (cluster/step.py, _step_result): every
    # field must be there, equal to what StepResult(**fields) holds, and the result stays frozen.
    import dataclasses
    import pickle

    from trnsim.cluster.step import StepResult

    plan = make_plan(tp=8, pp=4, dp=4, micro_batch=1, global_batch=64, zero_stage=1, sequence_parallel=True)
    result = estimate_step(load_model("llama3-8b"), load_system("trn2"), 128, plan, 4096)
    names = [field.name for field in dataclasses.fields(StepResult)]
    lazy = {"compute_by_class", "algorithms", "groups"}  # made when first read
    assert sorted(vars(result)) == sorted([*(set(names) - lazy), "_lazy"])
    copied = pickle.loads(pickle.dumps(result))  # a pickle makes them (before this test reads them)
    rebuilt = StepResult(**{name: getattr(result, name) for name in names})
    assert sorted(vars(result)) == sorted(names)  # every field, nothing else (the order is the call's)
    assert rebuilt == result and vars(rebuilt) == vars(result) == vars(copied)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.step_time_s = 0.0  # type: ignore[misc]
