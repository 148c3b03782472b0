"""Properties that hold for every placement and size (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trnsim.cluster.collectives import Algorithm, Collective, applicable_algorithms, collective_time
from trnsim.cluster.placement import place_group
from trnsim.cluster.topology import TopologySpec, topology_for_system
from trnsim.hardware.catalog import load_system
from trnsim.workload.models import load_model

_TOPOS: dict[str, tuple[TopologySpec, int]] = {
    name: (topology_for_system(load_system(name)), load_system(name).ranks_per_chip)
    for name in ("trn2", "trn2-ultraserver", "p5", "tpu-v4")
}
powers = st.integers(min_value=0, max_value=14).map(lambda k: 2**k)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(_TOPOS)), stride=powers, size=powers)
def test_a_group_of_powers_of_two_is_placed_exactly(name: str, stride: int, size: int) -> None:
    topo, ranks_per_chip = _TOPOS[name]
    group = place_group(topo, ranks_per_chip, stride, size)
    assert group.size == size
    assert all(level.span > 1 for level in group.levels)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(_TOPOS)), stride=powers, size=powers.filter(lambda s: s > 1),
       n=st.floats(min_value=1.0, max_value=1e10), collective=st.sampled_from(list(Collective)))
def test_costs_grow_with_bytes_and_the_best_is_never_worse(name: str, stride: int, size: int, n: float,
                                                           collective: Collective) -> None:
    topo, ranks_per_chip = _TOPOS[name]
    group = place_group(topo, ranks_per_chip, stride, size if collective is not Collective.SEND_RECV else 2)
    small = collective_time(collective, n, group)
    large = collective_time(collective, 2 * n, group)
    assert 0 < small.time_s < large.time_s
    for algorithm in applicable_algorithms(collective, group):
        assert small.time_s <= collective_time(collective, n, group, algorithm).time_s
    if collective is Collective.ALL_REDUCE:
        assert Algorithm.RING in applicable_algorithms(collective, group)


@given(layers=st.integers(min_value=1, max_value=300), pp=st.integers(min_value=1, max_value=300))
def test_stage_layers_cover_the_model_evenly(layers: int, pp: int) -> None:
    from trnsim.cluster.step import stage_layers

    if pp > layers:
        return
    counts = stage_layers(layers, pp)
    assert sum(counts) == layers and len(counts) == pp
    assert max(counts) - min(counts) <= 1 and min(counts) >= 1
    if pp > 2 and layers % pp and layers % pp <= pp - 2:
        # The end stages (embedding, output layer) are never the longer ones.
        assert counts[0] == counts[-1] == min(counts)


_MODELS = {name: load_model(name) for name in ("llama3-8b", "mixtral-8x7b")}
_SYSTEMS = {name: load_system(name) for name in ("trn1", "trn2", "p5", "tpu-v5p")}


@settings(max_examples=60, deadline=None)
@given(
    model_name=st.sampled_from(sorted(_MODELS)), system_name=st.sampled_from(sorted(_SYSTEMS)),
    tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 4]), dp=st.sampled_from([1, 2, 4, 8]),
    cp=st.sampled_from([1, 2]), ep=st.sampled_from([1, 2]), zero=st.integers(0, 3),
    recompute=st.sampled_from(["none", "selective", "full"]), mb=st.sampled_from([1, 2]),
    accumulation=st.sampled_from([1, 4]), interleave=st.sampled_from([1, 2]),
)
def test_any_plan_is_estimated_or_refused_with_a_reason(
    model_name: str, system_name: str, tp: int, pp: int, dp: int, cp: int, ep: int, zero: int,
    recompute: str, mb: int, accumulation: int, interleave: int,
) -> None:
    from trnsim.cluster import InfeasiblePlanError, InfeasibleReason, check_plan, estimate_step, make_plan

    model, system = _MODELS[model_name], _SYSTEMS[system_name]
    plan = make_plan(
        tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, zero_stage=zero, recompute=recompute, micro_batch=mb,
        global_batch=dp * mb * accumulation * pp, sequence_parallel=tp > 1, interleave=interleave,
        schedule="interleaved" if interleave > 1 else "1f1b",
    )
    ranks = plan.ranks
    try:
        result = estimate_step(model, system, ranks, plan, 4096)
    except InfeasiblePlanError as error:
        assert error.reason is not InfeasibleReason.MEMORY and "\n" not in str(error)
        return
    assert result.step_time_s > 0 and 0 < result.mfu < 1 and 0 < result.goodput <= 1
    assert sum(result.breakdown.values()) == pytest.approx(result.step_time_s)
    assert all(value >= 0 for value in result.breakdown.values())
    try:
        check_plan(model, system, ranks, plan, 4096)
        assert result.fits
    except InfeasiblePlanError as error:
        assert error.reason is InfeasibleReason.MEMORY and not result.fits
