"""The cheap bounds a pruned search skips plans with: never above the step time, never below the goodput.

Every plan of a few real problems (pipelines with uneven stages and interleaving, context
parallelism, ZeRO-3, an MoE model with expert parallelism, Trainium's two ranks per chip) is
checked, bounded and estimated; the bound must not exceed the estimate, whatever the plan.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trnsim.cluster.goodput import estimate_goodput, goodput_upper_bound
from trnsim.cluster.plan import InfeasiblePlanError, ParallelPlan, make_plan
from trnsim.cluster.step import (
    estimate_step,
    step_goodput_upper_bound,
    step_time_floor,
    step_time_lower_bound,
)
from trnsim.devicetime.fusion import apply_fusion, fused_floor, load_fusion
from trnsim.devicetime.timing import time_ops
from trnsim.hardware.catalog import load_system
from trnsim.plan.candidate import RECOMPUTE_ORDER
from trnsim.plan.problem import Problem, TrainingJob
from trnsim.plan.space import SearchSpace, candidate_groups
from trnsim.workload.graph import build_step, layer_ops
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute
from trnsim.workload.shard import Shard

SPACE = SearchSpace(cp=(1, 2), interleave=(1, 2), micro_batches=(1, 2), zero_stages=(1, 3))


def _variants(plan: ParallelPlan) -> list[ParallelPlan]:
    """The plan with asynchronous stage sends (interleaved), without resharding after forward (ZeRO-3),
    with TP overlapping the GEMMs (TP > 1)."""
    out = []
    if plan.tp > 1:
        out.append(make_plan(**{**plan.model_dump(), "overlap_tp_comm": True}))
    if plan.interleave > 1:
        out.append(make_plan(**{**plan.model_dump(), "overlap_p2p_comm": True}))
    if plan.effective_zero_stage == 3:
        out.append(make_plan(**{**plan.model_dump(), "reshard_after_forward": False}))
    return out


@pytest.mark.parametrize(("model_name", "system_name", "ranks"), [
    ("llama3-8b", "p5", 64),
    ("llama3-70b", "trn2", 256),
    ("mixtral-8x7b", "tpu-v5p", 128),
])
def test_step_lower_bound_never_exceeds_the_step(model_name: str, system_name: str, ranks: int) -> None:
    """Whether the plan fits in memory or not (a pruned search bounds plans before checking their
    memory); and along each recomputation ladder the bound never falls, so the bound of a ladder's
    lightest rung bounds every rung (the step itself can: with ZeRO-3 a longer backward hides
    more of the parameter gathers, so full recomputation can be a hair faster than selective)."""
    problem = Problem(load_model(model_name), load_system(system_name), ranks,
                      TrainingJob(tokens=1e12, seq_len=4096, global_batch=256))
    model, system, job = problem.model, problem.system, problem.job
    goodput_bound = step_goodput_upper_bound(model, system, ranks)
    bounded = unfit = 0
    for group in candidate_groups(problem, SPACE):
        ladders: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for candidate in group.members:
            plan = problem.parallel_plan(candidate)
            try:
                result = estimate_step(model, system, ranks, plan, job.seq_len)
            except InfeasiblePlanError:
                continue  # a structure no plan of the ladder can have
            bound = step_time_lower_bound(model, system, ranks, plan, job.seq_len)
            assert 0 < bound <= result.step_time_s, candidate
            # the floor, made without a stage graph, bounds the step too (the search orders by it first)
            floor = step_time_floor(model, system, ranks, plan, job.seq_len)
            assert 0 < floor <= result.step_time_s, candidate
            for variant in _variants(plan):  # layouts a user can ask for (the planner does not)
                varied = estimate_step(model, system, ranks, variant, job.seq_len).step_time_s
                assert step_time_lower_bound(model, system, ranks, variant, job.seq_len) <= varied, variant
                assert step_time_floor(model, system, ranks, variant, job.seq_len) <= varied, variant
            assert result.goodput <= goodput_bound, candidate
            bounded += 1
            unfit += not result.fits
            rung = RECOMPUTE_ORDER.index(candidate.recompute)
            ladders.setdefault((candidate.micro_batch, candidate.zero_stage), []).append((rung, bound))
        for ladder in ladders.values():
            bounds = [bound for _, bound in sorted(ladder)]
            assert bounds == sorted(bounds), ladder
    assert bounded > 20 and unfit > 0  # the problems have plans of every kind above


def test_step_lower_bound_is_most_of_the_step() -> None:
    """The bound leaves out only the DP traffic, stage-to-stage sends and the optimizer (and a 1e-9
    rounding slack): where those are zero (one rank), it is the step up to that slack."""
    model, system = load_model("llama3-8b"), load_system("p5")
    plan = Problem(model, system, 1, TrainingJob(tokens=1e12, seq_len=4096, global_batch=8)).parallel_plan(
        next(c for g in candidate_groups(Problem(model, system, 1, TrainingJob(
            tokens=1e12, seq_len=4096, global_batch=8)), SearchSpace(zero_stages=(0,))) for c in g.members))
    result = estimate_step(model, system, 1, plan, 4096)
    bound = step_time_lower_bound(model, system, 1, plan, 4096)
    rest = result.breakdown["dp_comm"] + result.breakdown["pp_comm"] + result.breakdown["optimizer"]
    assert bound == pytest.approx(result.step_time_s - rest, rel=2e-9)


@pytest.mark.parametrize("recompute", list(Recompute))
def test_step_floor_is_the_layers_alone_on_one_gpu(recompute: Recompute) -> None:
    """One rank of a GPU (no fusion rules, no collectives, one stage): the floor is the micro-batches
    times the stage graph's layer ops without recomputation (its forward and backward blocks, timed
    as the graph times them), up to the 1e-9 slack; the embedding, output layer and reruns are left out."""
    model, system = load_model("llama3-8b"), load_system("p5")
    plan = make_plan(tp=1, pp=1, dp=1, micro_batch=1, global_batch=4, recompute=recompute)
    graph = build_step(model, Shard(layers=model.num_layers), 1, 4096, recompute=Recompute.NONE)
    _, block_fwd, _, _, block_bwd, _ = graph.parts  # embedding, layers, output layer, their backward
    assert all(op.count == model.num_layers for op in (*block_fwd, *block_bwd))
    layers_s = sum(time_ops((*block_fwd, *block_bwd), system))
    floor = step_time_floor(model, system, 1, plan, 4096)
    assert floor == pytest.approx(plan.microbatches * layers_s * (1 - 1e-9), rel=1e-12)
    assert floor < estimate_step(model, system, 1, plan, 4096).breakdown["compute"]


def test_step_floor_adds_the_bubble_and_exposed_tp() -> None:
    """With pp stages and v chunks the floor is (m + (pp - 1) / v) stage floors, a stage floor being its
    fewest layers times one layer's floor; TP overlapping the GEMMs drops the TP collectives from it."""
    model, system = load_model("llama3-70b"), load_system("p5")  # 80 layers
    kw = {"tp": 8, "dp": 2, "micro_batch": 1, "global_batch": 32, "sequence_parallel": True}
    one = step_time_floor(model, system, 64, make_plan(pp=4, **kw), 4096)
    per_stage = one / (16 + 3)  # 20 layers on every stage, m = 16
    interleaved = step_time_floor(model, system, 64,
                                  make_plan(pp=4, interleave=2, schedule="interleaved", **kw), 4096)
    assert interleaved == pytest.approx(per_stage * (16 + 3 / 2), rel=1e-12)
    overlapped = step_time_floor(model, system, 64, make_plan(pp=4, overlap_tp_comm=True, **kw), 4096)
    assert 0 < overlapped < one


@pytest.mark.parametrize("system_name", ["p5", "trn2"])
def test_step_floor_reads_zero_3_and_not_recomputation(system_name: str) -> None:
    """The floor is the same for every recomputation (so it bounds a whole ladder) and for ZeRO 0-2
    (a search keeps one per group and micro-batch on that); with ZeRO-3 it leaves out Trainium's
    weight passes (sharded over dp x cp), so there the floor drops (a GPU makes no passes: the same)."""
    model, system = load_model("llama3-70b"), load_system(system_name)
    kw = {"tp": 8, "pp": 4, "dp": 4, "micro_batch": 1, "global_batch": 64, "sequence_parallel": True}
    floors = {(zero, recompute): step_time_floor(
        model, system, 128, make_plan(zero_stage=zero, recompute=recompute, **kw), 4096)
        for zero in range(4) for recompute in Recompute}
    assert len({f for (zero, _), f in floors.items() if zero < 3}) == 1
    assert len({f for (zero, _), f in floors.items() if zero == 3}) == 1
    if system_name == "p5":
        assert floors[3, Recompute.NONE] == floors[1, Recompute.NONE]
    else:
        assert floors[3, Recompute.NONE] < floors[1, Recompute.NONE]


@pytest.mark.parametrize("system_name", ["trn1", "trn2"])
@pytest.mark.parametrize("recompute", list(Recompute))
def test_fused_floor_of_a_layer_bounds_its_ops_in_a_stage(system_name: str, recompute: Recompute) -> None:
    """What the floor counts on Trainium: each of one layer's ops (``layer_ops``), its ``fused_floor``
    times the layers is no more than what the op costs after fusion in a stage graph (the embedding
    and output layer beside the layers, recomputation among them). It counts more than the GEMMs:
    chain-fused ops inside the layer keep (1 - overlap fraction) of what fusion leaves them, while the
    first and last op of a pass, whose outside neighbours it does not know, may lose everything."""
    model, system = load_model("llama3-8b"), load_system(system_name)
    rules = load_fusion(system.chip)
    assert rules is not None and rules.overlap.fraction == 0.5
    layers = 4
    graph = build_step(model, Shard(tp=4, sequence_parallel=True, layers=layers), 1, 4096,
                       recompute=recompute)
    effects = apply_fusion(graph.ops, time_ops(graph.ops, system), rules)
    step = {op.name: e.alone_s - e.fused_s - e.hidden_s for op, e in zip(graph.ops, effects, strict=True)}
    ((ops, n),) = layer_ops(model, Shard(tp=4, sequence_parallel=True), 1, 4096)
    for part in (ops[:n], ops[n:]):
        alone = time_ops(part, system)
        floors = fused_floor(part, alone, rules)
        fused = apply_fusion(part, alone, rules)
        for i, (op, floor) in enumerate(zip(part, floors, strict=True)):
            assert 0.0 <= floor * layers <= step[op.name] * (1 + 1e-12), op.name
            if op.op_class in rules.chain.classes:
                expected = 0.0 if i in (0, len(part) - 1) else 0.5 * (alone[i] - fused[i].fused_s)
                assert floor == pytest.approx(expected, rel=1e-15), op.name
            elif not op.epilogue_of and op.op_class not in rules.overlap.classes:
                assert floor == alone[i], op.name  # GEMMs and attention: their time alone
        assert any(f > 0 for op, f in zip(part, floors, strict=True) if op.op_class in rules.chain.classes)


@settings(max_examples=300, deadline=None)
@given(
    chips=st.integers(1, 1 << 20),
    step_s=st.floats(1e-3, 1e3),
    checkpoint_bytes=st.floats(0.0, 1e14),
    rate=st.one_of(st.just(0.0), st.floats(1e-9, 1e-2)),  # per chip-hour (the goodput model's range)
    write_bw=st.floats(1e6, 1e13),
    restart_s=st.floats(0.0, 3600.0),
    interval_s=st.one_of(st.none(), st.floats(1e-2, 1e6)),
)
def test_goodput_upper_bound_holds_for_any_step_and_interval(
    chips: int, step_s: float, checkpoint_bytes: float, rate: float, write_bw: float, restart_s: float,
    interval_s: float | None,
) -> None:
    facts = {"failure_rate_per_chip_hour": rate, "checkpoint_write_bytes_per_s": write_bw,
             "restart_s": restart_s}
    goodput = estimate_goodput(chips, step_s, checkpoint_bytes, interval_s=interval_s, **facts).goodput
    assert goodput <= goodput_upper_bound(chips, checkpoint_bytes, **facts)


def test_goodput_upper_bound_by_hand() -> None:
    # No failures: nothing to lose. One failure a day per job, 60 s to write a checkpoint, 10 min
    # to restart: M = 86400 s, delta = 60 s, R = 660 s; u* = 60 + sqrt(60^2 + 2 * 60 * 86400) = 3280.50 s,
    # bound = e^(-660/86400) (u* - 60) / (u* + u*^2 / (2 M)) = 0.99239 * 3220.50 / 3342.78 = 0.95609.
    assert goodput_upper_bound(100, 1e9, failure_rate_per_chip_hour=0.0, checkpoint_write_bytes_per_s=1e9,
                               restart_s=600.0) == 1.0
    rate = 1 / 24 / 100  # per chip-hour, 100 chips
    bound = goodput_upper_bound(100, 60e9, failure_rate_per_chip_hour=rate, checkpoint_write_bytes_per_s=1e9,
                                restart_s=600.0)
    u = 60 + math.sqrt(60**2 + 2 * 60 * 86400)
    assert u == pytest.approx(3280.50, abs=0.01)
    assert bound == pytest.approx(math.exp(-660 / 86400) * (u - 60) / (u + u * u / (2 * 86400)), rel=1e-8)
    assert bound == pytest.approx(0.95609, abs=1e-5)
    # close: Daly's interval comes within 3e-4 of it (the dropped x^3/6 of e^x - 1, x = u*/M = 0.038)
    best = estimate_goodput(100, 1.0, 60e9, failure_rate_per_chip_hour=rate, checkpoint_write_bytes_per_s=1e9,
                            restart_s=600.0).goodput
    assert best <= bound < best + 3e-4


def test_goodput_upper_bound_survives_a_tiny_checkpoint() -> None:
    # Found by the property test above: a subnormal checkpoint (2.2e-309 B) gives u* ~ 1e-157 s and
    # e^(-R/M) ~ 2.5e-167; their product underflows to 0 although the bound is ~2.5e-167.
    facts = {"failure_rate_per_chip_hour": 0.009765625, "checkpoint_write_bytes_per_s": 1e6,
             "restart_s": 836.0}
    bound = goodput_upper_bound(169157, 2.225073858507203e-309, **facts)
    goodput = estimate_goodput(169157, 1.0, 2.225073858507203e-309, **facts).goodput
    assert 0.0 < goodput <= bound
