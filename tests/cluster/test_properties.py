"""Properties that hold for every placement and size (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trnsim.cluster.collectives import Algorithm, Collective, applicable_algorithms, collective_time
from trnsim.cluster.placement import place_group
from trnsim.cluster.topology import TopologySpec, topology_for_system
from trnsim.hardware.catalog import load_system

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
