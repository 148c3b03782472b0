"""Collective costs against hand-derived alpha-beta formulas (topology values from the data files).

Data used (per link, per direction): trn2 torus dimension 128 GB/s, 2 us a hop; p5 NVSwitch
450 GB/s, 1 us; p5 EFA 3.2 Tbps / 8 GPUs = 50 GB/s a GPU, 10 us. Collectives reach a fraction of
the link rate (``bw_efficiency`` in the files: 0.8 on NeuronLink and NVLink, 0.9 on EFA), written
below as TRN, NVL and NET.
"""

from __future__ import annotations

import pytest

from trnsim.cluster.collectives import Algorithm, Collective, collective_time
from trnsim.cluster.placement import place_group
from trnsim.cluster.topology import TopologySpec, load_topology, topology_for_system
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system

GB = 1e9
TRN, NVL, NET = 0.8, 0.8, 0.9


def _topo(name: str) -> TopologySpec:
    return topology_for_system(load_system(name))


def test_efficiencies_are_the_data_files() -> None:
    assert _topo("trn2").dimensions[0].bw_efficiency == TRN
    assert _topo("p5").dimensions[0].bw_efficiency == NVL
    assert _topo("p5").scale_out.bw_efficiency == NET


def test_placement_spans_levels_in_rank_order() -> None:
    trn2 = _topo("trn2")
    # 4 ranks a chip (LNC=2): TP=4 stays on one chip, TP=8 reaches a neighbour on x (open line).
    assert place_group(trn2, 4, 1, 4).describe() == "on_chip x4"
    tp8 = place_group(trn2, 4, 1, 8)
    assert tp8.describe() == "on_chip x4, x x2" and not tp8.levels[1].closed
    # DP with stride 64 ranks (= one instance) spans instances only.
    assert place_group(trn2, 4, 64, 8).describe() == "efa x8"
    # On the UltraServer, a stride of 64 ranks = 16 chips moves along z (the inter-instance ring).
    assert place_group(_topo("trn2-ultraserver"), 4, 64, 4).describe() == "z x4"


def test_strided_members_share_links() -> None:
    # Members 2 chips apart on a ring of 4: 2 groups share each link, each step crosses 2 hops;
    # the pair closes the ring (2 x 2 = 4), so both directions: 2 x 128 GB/s / 2 = 128 GB/s.
    level = place_group(_topo("trn2"), 1, 2, 2).levels[0]
    assert level.step == 2 and level.closed
    assert level.ring_bw_bytes_per_s == pytest.approx(128 * GB * TRN)
    assert level.latency_s == pytest.approx(4e-6)


def test_ring_all_reduce_on_a_torus_ring_vs_a_switch() -> None:
    n = 1 * GB
    # trn2, 4 chips along x (closed ring, both directions): B = 2 x 128 GB/s, a = 2 us.
    # 2 (p-1) a + 2 (p-1)/p n / B = 12 us + 1.5 n / 256 GB/s
    torus = collective_time(Collective.ALL_REDUCE, n, place_group(_topo("trn2"), 1, 1, 4))
    assert torus.algorithm is Algorithm.RING
    assert torus.time_s == pytest.approx(12e-6 + 1.5 * n / (256 * GB * TRN))
    # p5, 4 GPUs on NVSwitch: B = 450 GB/s, a = 1 us -> 6 us + 1.5 n / 450 GB/s (ring beats the
    # tree's 2 n / B at this size).
    switch = collective_time(Collective.ALL_REDUCE, n, place_group(_topo("p5"), 1, 1, 4))
    assert switch.algorithm is Algorithm.RING
    assert switch.time_s == pytest.approx(6e-6 + 1.5 * n / (450 * GB * NVL))
    # 2 chips on the ring of 4 form an open line: one direction each way, B = 128 GB/s.
    line = collective_time(Collective.ALL_REDUCE, n, place_group(_topo("trn2"), 1, 1, 2))
    assert line.time_s == pytest.approx(2 * (2e-6 + 0.5 * n / (128 * GB * TRN)))


def test_hierarchical_beats_flat_ring_across_nodes() -> None:
    n = 1 * GB
    group = place_group(_topo("p5"), 1, 1, 16)  # 2 nodes of 8 GPUs
    # Flat ring: p = 16, slowest level EFA: 2 (15 x 10 us + 15/16 n / 50 GB/s) = 37.8 ms.
    flat = collective_time(Collective.ALL_REDUCE, n, group, Algorithm.RING)
    assert flat.time_s == pytest.approx(2 * (15 * 10e-6 + 15 / 16 * n / (50 * GB * NET)))
    # Hierarchical: reduce-scatter over 8 on NVSwitch, all-reduce of n/8 over 2 on EFA, all-gather:
    # 2 [(7 x 1 us + 7/8 n / 450 GB/s) + (1 x 10 us + 1/2 (n/8) / 50 GB/s)] = 6.42 ms.
    hier = collective_time(Collective.ALL_REDUCE, n, group)
    assert hier.algorithm is Algorithm.HIERARCHICAL
    expected = 2 * ((7e-6 + 7 / 8 * n / (450 * GB * NVL)) + (10e-6 + 0.5 * (n / 8) / (50 * GB * NET)))
    assert hier.time_s == pytest.approx(expected)
    assert flat.time_s / hier.time_s > 5


def test_torus_dimension_ordered_on_a_2d_torus() -> None:
    n = 1 * GB
    # 16 chips of a trn2 (4 x 4 torus): ring over x on n, then over y on n/4, then back.
    cost = collective_time(Collective.ALL_REDUCE, n, place_group(_topo("trn2"), 1, 1, 16))
    assert cost.algorithm is Algorithm.TORUS
    per_pass = (3 * 2e-6 + 0.75 * n / (256 * GB * TRN)) + (3 * 2e-6 + 0.75 * (n / 4) / (256 * GB * TRN))
    assert cost.time_s == pytest.approx(2 * per_pass)


def test_tree_wins_small_messages_at_scale_ring_wins_large() -> None:
    group = place_group(_topo("p5"), 1, 8, 64)  # one GPU in each of 64 nodes: EFA only
    small = collective_time(Collective.ALL_REDUCE, 1e3, group)
    # tree 2 log2(64) x 10 us = 120 us vs ring 2 x 63 x 10 us = 1.26 ms of latency
    assert small.algorithm is Algorithm.TREE
    assert small.time_s == pytest.approx(2 * 6 * 10e-6 + 2 * 1e3 / (50 * GB * NET))
    big = collective_time(Collective.ALL_REDUCE, 4 * GB, group)
    # n = 4 GB: ring 2 x 63/64 n / B + 1.26 ms = 158.8 ms < tree 2 n / B + 0.12 ms = 160.1 ms
    # (at 1 GB the ring's 1.26 ms of latency still loses: 40.6 ms vs 40.1 ms)
    assert big.algorithm is Algorithm.RING


def test_reduce_scatter_and_all_gather_are_half_an_all_reduce() -> None:
    group = place_group(_topo("p5"), 1, 1, 8)
    n = 256e6
    ar = collective_time(Collective.ALL_REDUCE, n, group, Algorithm.RING).time_s
    rs = collective_time(Collective.REDUCE_SCATTER, n, group).time_s
    ag = collective_time(Collective.ALL_GATHER, n, group).time_s
    assert rs == pytest.approx(ar / 2) and ag == pytest.approx(ar / 2)


def test_all_to_all_for_moe() -> None:
    n = 1 * GB
    # EP = 8 on one p5 node: each GPU sends 7/8 n through its switch port: 7 x 1 us + 7/8 n / 450 GB/s.
    ep8 = collective_time(Collective.ALL_TO_ALL, n, place_group(_topo("p5"), 1, 1, 8))
    assert ep8.time_s == pytest.approx(7e-6 + 7 / 8 * n / (450 * GB * NVL))
    # EP = 4 on a trn2 ring of 4 chips: n/4 to each of 3 peers at distances 1, 2, 1 -> n link-bytes
    # a rank over its 2 outgoing links of 128 GB/s: n / 256 GB/s, plus 3 x 2 us.
    ring = collective_time(Collective.ALL_TO_ALL, n, place_group(_topo("trn2"), 1, 1, 4))
    assert ring.time_s == pytest.approx(6e-6 + n / (256 * GB * TRN))
    # EP = 16 over 2 p5 nodes: half of each GPU's data leaves the node at 50 GB/s (slower than the
    # 7/16 n inside at 450 GB/s): 15 x 10 us + (n/2) / 50 GB/s.
    ep16 = collective_time(Collective.ALL_TO_ALL, n, place_group(_topo("p5"), 1, 1, 16))
    assert ep16.time_s == pytest.approx(15 * 10e-6 + 0.5 * n / (50 * GB * NET))


def test_send_recv_pays_the_link_it_crosses() -> None:
    n = 64e6
    inside = collective_time(Collective.SEND_RECV, n, place_group(_topo("p5"), 1, 1, 2))
    across = collective_time(Collective.SEND_RECV, n, place_group(_topo("p5"), 1, 8, 2))
    assert inside.time_s == pytest.approx(1e-6 + n / (450 * GB * NVL))
    assert across.time_s == pytest.approx(10e-6 + n / (50 * GB * NET))


def test_one_rank_costs_nothing_and_bad_requests_are_one_line() -> None:
    single = place_group(_topo("p5"), 1, 1, 1)
    assert collective_time(Collective.ALL_REDUCE, 1e9, single).time_s == 0.0
    with pytest.raises(ConfigError, match="valid: ring"):
        collective_time(Collective.ALL_REDUCE, 1e9, place_group(_topo("trn2"), 1, 1, 4), Algorithm.TREE)
    with pytest.raises(ConfigError, match=">= 0 bytes"):
        collective_time(Collective.ALL_GATHER, -1, single)


def test_tpu_v4_pods_joined_by_the_data_centre_network() -> None:
    # A TPU v4 pod is 4,096 chips (16 x 16 x 16 torus). A data-parallel group of one chip per pod
    # (stride 4,096) crosses only the DCN; 8,192 chips are two pods.
    topo = _topo("tpu-v4")
    assert place_group(topo, 1, 4096, 2).describe() == "dcn x2"
    assert place_group(topo, 1, 1, 256).describe() == "x x16, y x16"
    assert place_group(topo, 1, 1, 8192).describe() == "x x16, y x16, z x16, dcn x2"
    # Apple's layout, 8 slices of 1,024 (8 x 8 x 16), is an override of the pod shape.
    slices = load_topology("tpu-v4", {"dimension.0.size": 8, "dimension.1.size": 8})
    assert place_group(slices, 1, 1024, 8).describe() == "dcn x8"


def test_tpu_v5p_pod_is_8960_chips() -> None:
    topo = _topo("tpu-v5p")
    assert topo.chips_per_domain == 16 * 20 * 28 == 8960
    # 6,144 chips (the largest MLPerf slice) stay on ICI: 16 x 20 = 320 chips per z step,
    # 6,144 / 320 = 19.2 -> 20 of the 28 z positions, no DCN.
    assert "dcn" not in place_group(topo, 1, 1, 6144).describe()


def test_tpu_v4_ici_link_is_half_of_v5p() -> None:
    # 2,400 Gbps per v4 chip vs 4,800 Gbps per v5p chip, both over 6 links, both halved per direction.
    v4, v5p = _topo("tpu-v4"), _topo("tpu-v5p")
    assert v4.dimensions[0].link_bw_bytes_per_s == pytest.approx(2400e9 / 8 / 6 / 2)
    assert v5p.dimensions[0].link_bw_bytes_per_s == pytest.approx(4800e9 / 8 / 6 / 2)


def test_trn3_ultraserver_is_a_hierarchy_not_one_switch() -> None:
    # 36 servers x 4 chips: 4 a server, 18 servers a rack, 2 racks; per-chip 256 / 320 / 128 GB/s,
    # counted as both directions -> 128 / 160 / 64 GB/s per direction.
    topo = _topo("trn3-ultraserver")
    assert [d.size for d in topo.dimensions] == [4, 18, 2] and topo.chips_per_domain == 144
    assert [d.link_bw_bytes_per_s for d in topo.dimensions] == pytest.approx([128e9, 160e9, 64e9])
    # A TP group of 4 chips (16 ranks at LNC=2) stays in the server; 8 chips cross servers, and an
    # all-reduce on the 8 then runs level by level, the across-servers level on n/4 of the data.
    assert place_group(topo, 4, 1, 16).describe() == "on_chip x4, server x4"
    eight = place_group(topo, 1, 1, 8)
    assert eight.describe() == "server x4, servers x2"
    n = 64e6
    bw0, bw1 = 128e9 * 0.8, 160e9 * 0.8
    hier = 2 * ((3 * 2e-6 + 3 / 4 * n / bw0) + (1 * 2e-6 + 1 / 2 * (n / 4) / bw1))
    ring = 2 * (7 * 2e-6 + 7 / 8 * n / bw0)
    tree = 2 * 3 * 2e-6 + 2 * n / bw0
    got = collective_time(Collective.ALL_REDUCE, n, eight)
    assert got.time_s == pytest.approx(min(hier, ring, tree))


def test_gb200_nvl72_keeps_wide_expert_parallelism_on_nvlink() -> None:
    topo = load_topology("gb200-nvl72")  # no catalog system of its own: the file gives its scale-out
    assert place_group(topo, 1, 1, 64).describe() == "nvswitch x64"
    assert place_group(topo, 1, 1, 144).describe() == "nvswitch x72, infiniband x2"


def test_a_group_on_the_ultraservers_inter_instance_ring_pays_for_it() -> None:
    topo = _topo("trn2-ultraserver")
    n = 256e6
    # 4 chips along x (128 GB/s links) vs 4 chips along z (the ring across the 4 instances, 64 GB/s):
    # same ring algorithm, half the bandwidth: 2 x 3/4 n / (2 x 64 GB/s x TRN) + 6 x 3 us.
    along_x = collective_time(Collective.ALL_REDUCE, n, place_group(topo, 1, 1, 4))
    along_z = collective_time(Collective.ALL_REDUCE, n, place_group(topo, 1, 16, 4))
    assert place_group(topo, 1, 16, 4).describe() == "z x4"
    assert along_z.time_s == pytest.approx(6 * 3e-6 + 1.5 * n / (2 * 64 * GB * TRN))
    assert along_z.time_s > 1.9 * along_x.time_s


def test_ranks_of_one_chip_share_its_links() -> None:
    trn2 = _topo("trn2")
    # 4 ranks a chip: on-chip DMA 3.5 TB/s x 0.8 and each torus link 128 GB/s x 0.8 are shared by
    # the 4 ranks, which all communicate at once (every group of a kind runs concurrently).
    on_chip = place_group(trn2, 4, 1, 4).levels[0]
    assert on_chip.ring_bw_bytes_per_s == pytest.approx(3500 * GB * TRN / 4)
    x = place_group(trn2, 4, 4, 4).levels[0]  # one rank on each of 4 chips along x, closed ring
    assert x.name == "x" and x.ring_bw_bytes_per_s == pytest.approx(2 * 128 * GB * TRN / 4)
