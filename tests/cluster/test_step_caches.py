"""The step model's caches change no answer: an estimate is the same whatever was evaluated before.

``cluster/step.py`` shares a stage graph's device time between plans that differ in DP, ZeRO or the
global batch, keys it by chip (systems built on one chip share it), and caches the per-stage loop,
the optimizer update, the DP traffic and the report's algorithms by the fields they read. A key
missing a field would make an answer depend on which plan filled the entry first; so each plan is
estimated with every cache emptied, then all of them again in another order with the caches warm,
and every field of every result must match bit for bit.
"""

from __future__ import annotations

import contextlib
import gc
import itertools

import pytest

from trnsim.cluster import estimate_step, make_plan
from trnsim.cluster import step as step_module
from trnsim.cluster.plan import InfeasiblePlanError
from trnsim.cluster.step import check_plan, clear_cache
from trnsim.devicetime.timing import clear_memo
from trnsim.hardware.catalog import load_system
from trnsim.plan.collector import collector_paused
from trnsim.workload.graph import build_step
from trnsim.workload.graph import clear_cache as clear_graphs
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute
from trnsim.workload.shard import Shard

SEQ_LEN = 4096


def _clear() -> None:
    clear_cache()
    clear_memo()
    clear_graphs()


def _plans(ranks: int) -> list[object]:
    plans = []
    for tp, pp, zero, mb, recompute in itertools.product((4, 8), (1, 2, 4), (1, 2, 3), (1, 2),
                                                         (Recompute.NONE, Recompute.FULL)):
        dp = ranks // (tp * pp)
        plans.append(make_plan(tp=tp, pp=pp, dp=dp, zero_stage=zero, micro_batch=mb, global_batch=dp * mb * 4,
                               sequence_parallel=True, recompute=recompute))
    # the stage loop's TP overlap is cached beside the stage time: a plan that differs only there
    for zero in (1, 3):
        dp = ranks // 8
        plans.append(make_plan(tp=8, pp=1, dp=dp, zero_stage=zero, micro_batch=1, global_batch=dp * 4,
                               sequence_parallel=True, overlap_tp_comm=True))
    return plans


@pytest.mark.parametrize("systems", [("trn2", "trn2-ultraserver"), ("p5",)])
def test_an_estimate_does_not_depend_on_what_was_estimated_before(systems: tuple[str, ...]) -> None:
    model = load_model("llama3-8b")
    cases = []
    for name in systems:
        system = load_system(name)
        for chips in (64, 128):  # ZeRO-3 and the DP groups differ with the chip count, the stage graphs not
            ranks = chips * system.ranks_per_chip
            cases += [(system, ranks, plan) for plan in _plans(ranks)]
    alone = []
    for system, ranks, plan in cases:
        _clear()
        alone.append(estimate_step(model, system, ranks, plan, SEQ_LEN).to_dict())
    _clear()
    shuffled = list(range(len(cases)))[::-1]
    shuffled = shuffled[1::2] + shuffled[::2]  # reversed, odd positions first: other plans fill the caches
    together = {}
    for index in shuffled:
        system, ranks, plan = cases[index]
        together[index] = estimate_step(model, system, ranks, plan, SEQ_LEN).to_dict()
    for index, expected in enumerate(alone):
        assert together[index] == expected, cases[index][2]


def test_an_estimate_after_its_check_is_the_estimate_without_one() -> None:
    # estimate_step reuses the structure check and stage memory of the plan object check_plan saw
    # last: the estimate right after a check, and after a check of another plan, must equal the cold one.
    model = load_model("llama3-8b")
    system = load_system("trn2")
    ranks = 64 * system.ranks_per_chip
    plans = _plans(ranks)
    def check(plan: object) -> None:
        with contextlib.suppress(InfeasiblePlanError):  # memory: checked all the same, estimated below
            check_plan(model, system, ranks, plan, SEQ_LEN)

    cold = []
    for plan in plans:
        _clear()
        cold.append(estimate_step(model, system, ranks, plan, SEQ_LEN).to_dict())
    _clear()
    for index, plan in enumerate(plans):
        other = plans[index - 1]
        check(other)  # a different plan checked last
        assert estimate_step(model, system, ranks, plan, SEQ_LEN).to_dict() == cold[index], plan
        check(plan)
        assert estimate_step(model, system, ranks, plan, SEQ_LEN).to_dict() == cold[index], plan
    # the same plan object at another sequence length is checked again, not taken from the last check
    plan = plans[0]
    _clear()
    shorter = estimate_step(model, system, ranks, plan, SEQ_LEN // 2).to_dict()
    check(plan)
    assert estimate_step(model, system, ranks, plan, SEQ_LEN // 2).to_dict() == shorter


def test_collector_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested (a comparison's searches): the outer pause holds
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def _p5_step() -> float:
    plan = make_plan(tp=8, pp=1, dp=8, zero_stage=1, micro_batch=1, global_batch=64,
                     sequence_parallel=True)
    return estimate_step(load_model("llama3-8b"), load_system("p5"), 64, plan, SEQ_LEN).step_time_s


def test_an_overlay_is_seen_by_the_caches_and_forgotten_after() -> None:
    from trnsim.hardware.datafile import overlay

    shipped = _p5_step()
    # Halving the H100 GEMM efficiency scale must slow the step: the cached result of the line above
    # may not be returned inside the overlay, nor the overlay's result after it.
    with overlay({"efficiency/h100": {"calibration_scale": 0.4}}, "test"):
        slowed = _p5_step()
    assert slowed > shipped
    assert _p5_step() == shipped
    with overlay({"efficiency/h100": {"calibration_scale": 0.4}}, "test"):
        assert _p5_step() == slowed


def test_another_catalog_directory_is_seen_by_the_caches(tmp_path, monkeypatch) -> None:
    from trnsim.devicetime.efficiency import EFFICIENCY

    shipped = _p5_step()
    text = (EFFICIENCY.shipped / "h100.toml").read_text()
    assert "calibration_scale = 0.81" in text  # the line replaced below
    (tmp_path / "efficiency").mkdir()
    (tmp_path / "efficiency" / "h100.toml").write_text(
        text.replace("calibration_scale = 0.81", "calibration_scale = 0.40"))
    monkeypatch.setenv("TRNSIM_CATALOG", str(tmp_path))
    slowed = _p5_step()
    assert slowed > shipped
    monkeypatch.delenv("TRNSIM_CATALOG")
    assert _p5_step() == shipped


def test_an_estimate_reuses_an_earlier_check_of_its_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A search checks many plans before it estimates one: the estimate of each still reuses its check
    (the same objects), and gives the result of an estimate made with no check at all."""
    from trnsim.cluster import step

    model, system = load_model("llama3-8b"), load_system("trn2")
    ranks = 64 * system.ranks_per_chip
    first, *others = _plans(ranks)[:6]
    _clear()
    fresh = estimate_step(model, system, ranks, first, SEQ_LEN)
    _clear()
    for plan in (first, *others):
        with contextlib.suppress(InfeasiblePlanError):  # memory: still remembered, still estimated
            check_plan(model, system, ranks, plan, SEQ_LEN)

    def unexpected(*args: object) -> None:
        raise AssertionError("the structure was checked again")

    with monkeypatch.context() as patch:
        patch.setattr(step, "_check_structure", unexpected)
        reused = estimate_step(model, system, ranks, first, SEQ_LEN)
    assert reused == fresh
    # another plan object, even an equal one, is checked again
    with monkeypatch.context() as patch:
        patch.setattr(step, "_check_structure", unexpected)
        with pytest.raises(AssertionError, match="checked again"):
            again = make_plan(**{f: getattr(first, f) for f in ("tp", "pp", "dp")})
            estimate_step(model, system, ranks, again, SEQ_LEN)


def test_a_moe_estimate_does_not_depend_on_what_was_estimated_before() -> None:
    # The rank's parameters per layer (by TP and EP), a shard's dimensions (by TP, CP, SP and the
    # micro-batch) and a part's tags (by its ops' names, classes and phases) are shared between the
    # stages of every depth: TP 1 (epilogues), EP, SP on and off, an MoE model's expert layers.
    model = load_model("mixtral-8x7b")
    system = load_system("p5")
    ranks = 32 * system.ranks_per_chip
    cases = []
    for tp, pp, ep, mb, sp in itertools.product((1, 2, 4), (1, 2, 4), (1, 2), (1, 2), (False, True)):
        if sp and tp == 1:
            continue
        dp = ranks // (tp * pp)
        cases.append(make_plan(tp=tp, pp=pp, dp=dp, ep=ep, zero_stage=1, micro_batch=mb,
                               global_batch=dp * mb * 4, sequence_parallel=sp, recompute=Recompute.SELECTIVE))
    alone = []
    for plan in cases:
        _clear()
        alone.append(estimate_step(model, system, ranks, plan, SEQ_LEN).to_dict())
    _clear()
    order = list(range(len(cases)))[::-1]
    together = {index: estimate_step(model, system, ranks, cases[index], SEQ_LEN).to_dict()
                for index in order[1::2] + order[::2]}
    for index, expected in enumerate(alone):
        assert together[index] == expected, cases[index]


def test_a_parts_tags_are_those_of_its_own_ops() -> None:
    # _tags_of shares tags between op tuples listing the same (name, class, phase): each must be
    # what the tuple's own ops give, whichever tuple filled the entry.
    model = load_model("mixtral-8x7b")
    clear_cache()
    parts = []
    for tp, mb, recompute in itertools.product((1, 2, 8), (1, 2), (Recompute.NONE, Recompute.FULL)):
        for first, last in ((True, False), (False, False), (False, True)):
            shard = Shard(tp=tp, sequence_parallel=tp > 1, layers=4, has_embedding=first, has_lm_head=last)
            parts += build_step(model, shard, mb, 2048, recompute=recompute).parts
    for part in parts:
        shared, own = step_module._tags_of(part), step_module._tags_of_ops(part)
        assert _comparable(shared) == _comparable(own)
        # the getters pick each sum's positions, in order (the step's sums, then the class slots')
        *_, step_sums, slot_sums = _comparable(own)
        assert step_sums + slot_sums == [(n, list(at)) for n, at in own.sums]
    assert len(step_module._TAGS_BY_OPS) < len(parts)  # shared


def _comparable(tags: step_module._PartTags) -> tuple[object, ...]:
    """The tags with each sum's getter replaced by the positions it picks (getters compare by identity)."""
    probe = list(range(len(tags.tags)))
    first = len(step_module._SUMS)
    return (*tags[:4], [(n, list(terms(probe))) for n, terms in tags.step_sums],
            [(slot + first, list(terms(probe))) for slot, terms in tags.slot_sums])


def test_checked_plans_past_the_limit_drop_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checked-plan cache keeps the newest plans: past its limit the oldest entry goes, and a plan
    checked again against other objects becomes the newest."""
    monkeypatch.setattr(step_module, "_CHECKED_LIMIT", 3)
    clear_cache()
    model, system = load_model("llama3-8b"), load_system("p5")
    plans = [make_plan(tp=tp, dp=64 // tp, global_batch=64) for tp in (1, 2, 4, 8)]
    for plan in plans:
        with contextlib.suppress(InfeasiblePlanError):  # kept whether or not it fits
            check_plan(model, system, 64, plan, 4096)
    assert list(step_module._CHECKED) == [id(plan) for plan in plans[1:]]
    estimate_step(model, system, 64, plans[1], 2048)  # another sequence length: checked again, newest
    assert list(step_module._CHECKED) == [id(plans[2]), id(plans[3]), id(plans[1])]
    clear_cache()


@pytest.mark.parametrize("system_name", ["p5", "trn2"])
def test_a_stage_memory_is_estimate_memory_of_its_shard(system_name: str) -> None:
    """The step tallies memory from each shard's facts, kept per shard, and the micro-batches each
    stage holds, kept per pipeline shape: every stage's breakdown equals estimate_memory's with the
    stage's held micro-batches, whatever was tallied before (schedules, chunks, ZeRO stages)."""
    from trnsim.cluster.pipeline import Schedule, held_microbatches
    from trnsim.cluster.step import _chip_rules, _PlanView, _stage_memory, stage_chunks
    from trnsim.workload.memory import estimate_memory
    from trnsim.workload.options import Precision

    model, system = load_model("llama3-8b"), load_system(system_name)
    passes = _chip_rules(system.chip)[1]
    plans = [make_plan(tp=4, pp=pp, dp=4, zero_stage=zero, micro_batch=1, global_batch=gb, schedule=schedule,
                       interleave=v, sequence_parallel=True, recompute=Recompute.SELECTIVE,
                       first_stage_layers=first, last_stage_layers=first)
             for pp, schedule, v, first in ((4, Schedule.ONE_F_ONE_B, 1, None),
                                            (4, Schedule.GPIPE, 1, None),
                                            (4, Schedule.INTERLEAVED, 2, None),
                                            (4, Schedule.INTERLEAVED, 2, 6),
                                            (2, Schedule.ONE_F_ONE_B, 1, None))
             for zero in (1, 3) for gb in (8, 32)]
    _clear()
    for plan in plans + plans[::-1]:
        view = _PlanView(plan)
        stages = _stage_memory(model, view, SEQ_LEN, Precision.BF16, system)
        for role, stage, shard in step_module._stage_shards(model, view):
            layers = shard.layers or model.num_layers
            chunks = stage_chunks(model, view, stage, layers) if plan.interleave > 1 else None
            held = held_microbatches(plan.schedule, plan.pp, plan.microbatches, plan.interleave, stage,
                                     layers, plan.microbatch_group, chunks)
            head = 1.0 if plan.schedule is Schedule.INTERLEAVED and shard.has_lm_head else None
            expected = estimate_memory(model, shard, plan.dp, plan.effective_zero_stage, 1, SEQ_LEN,
                                       Precision.BF16, plan.recompute, held, plan.flash_attention, True,
                                       passes, head, plan.reshard_after_forward)
            assert stages[role] == expected, (plan.describe(), role)
