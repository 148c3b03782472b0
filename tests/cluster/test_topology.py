"""Topology data files load, keep their sources, convert units once, and accept overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from trnsim.cluster.topology import LinkKind, list_topologies, load_topology, topology_for_system
from trnsim.errors import ConfigError, UnknownNameError
from trnsim.hardware.catalog import list_systems, load_system


def test_every_catalog_system_has_a_topology_whose_domain_holds_whole_nodes() -> None:
    for name in list_systems():
        system = load_system(name)
        topo = topology_for_system(system)
        # A scale-up domain is one node (instance, UltraServer) or a whole number of them (TPU slice).
        assert topo.chips_per_domain % system.chips_per_node == 0, name
        for level in (*topo.dimensions, topo.scale_out):
            assert level.source and level.link_bw_bytes_per_s > 0


def test_trn2_units_are_converted_from_the_file() -> None:
    topo = topology_for_system(load_system("trn2"))
    # File: 128 GB/s per link per direction, 2 us a hop; 4 x 4 torus.
    assert [d.kind for d in topo.dimensions] == [LinkKind.TORUS, LinkKind.TORUS]
    assert topo.chips_per_domain == 16
    assert topo.dimensions[0].link_bw_bytes_per_s == pytest.approx(128e9)
    assert topo.dimensions[0].hop_latency_s == pytest.approx(2e-6)
    # Scale-out from the catalog: 3.2 Tbps per instance / 8 bits / 16 chips = 25 GB/s a chip.
    assert topo.scale_out.link_bw_bytes_per_s == pytest.approx(3.2e12 / 8 / 16)


def test_ultraserver_is_a_4x4x4_torus_with_a_slower_third_dimension() -> None:
    topo = topology_for_system(load_system("trn2-ultraserver"))
    assert [d.size for d in topo.dimensions] == [4, 4, 4]
    assert topo.dimensions[2].link_bw_bytes_per_s < topo.dimensions[0].link_bw_bytes_per_s


def test_overrides_replace_one_value_and_leave_the_rest() -> None:
    base = load_topology("tpu-v4")
    changed = load_topology("tpu-v4", {"dimension.2.size": 8, "scale_out.hop_latency_us": 40.0})
    assert changed.chips_per_domain == 2048 and base.chips_per_domain == 4096
    assert changed.scale_out.hop_latency_s == pytest.approx(40e-6)
    assert changed.dimensions[0] == base.dimensions[0]


def test_bad_override_and_unknown_name_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match=r"override key .dimension\.7\.size. does not exist"):
        load_topology("trn2", {"dimension.7.size": 2}, node_scale_out_bw_bytes_per_s=1e9, chips_per_node=1)
    with pytest.raises(UnknownNameError, match=r"known: .*trn2"):
        load_topology("trn9")
    with pytest.raises(ConfigError, match="size"):
        load_topology("tpu-v4", {"dimension.0.size": 0})


def test_missing_scale_out_bandwidth_without_a_system_is_explained() -> None:
    with pytest.raises(ConfigError, match="topology_for_system"):
        load_topology("trn2")


def test_bundled_names() -> None:
    assert {"trn1", "trn2", "trn2-ultraserver", "p5", "gb200-nvl72", "tpu-v4"} <= set(list_topologies())


def test_an_alias_with_its_own_topology_gets_its_network() -> None:
    # dgx-h100 is a catalog alias of p5: same chips and NIC bandwidth, InfiniBand instead of EFA.
    system = load_system("dgx-h100")
    assert system.name == "p5"
    ib = topology_for_system(system, "dgx-h100")
    efa = topology_for_system(system, "p5.48xlarge")  # an alias without its own file: the system's
    assert ib.scale_out.name == "infiniband" and efa.scale_out.name == "efa"
    assert ib.scale_out.link_bw_bytes_per_s == efa.scale_out.link_bw_bytes_per_s
    assert ib.scale_out.hop_latency_s < efa.scale_out.hop_latency_s


def test_scale_out_bandwidth_can_be_given_where_the_file_leaves_it_to_the_catalog() -> None:
    system = load_system("trn2-ultraserver")
    derived = topology_for_system(system)
    table = topology_for_system(
        system, overrides={"scale_out.bandwidth_gbit_per_s": 3200, "scale_out.chips_sharing": 64})
    # 12.8 Tbps (4 instances x 3.2) / 8 / 64 chips = 25 GB/s a chip, the same as trn2.48xlarge's
    # 3.2 Tbps / 8 / 16; the docs table's 3.2 Tbps per UltraServer would give 6.25 GB/s a chip.
    assert derived.scale_out.link_bw_bytes_per_s == pytest.approx(12.8e12 / 8 / 64)
    assert derived.scale_out.link_bw_bytes_per_s == pytest.approx(
        topology_for_system(load_system("trn2")).scale_out.link_bw_bytes_per_s)
    assert system.sources["scale_out_bw_bytes_per_s"].confidence.value == "derived"
    assert table.scale_out.link_bw_bytes_per_s == pytest.approx(3.2e12 / 8 / 64)
    with pytest.raises(ConfigError, match=r"unknown key 'bandwith_gbit_per_s'; valid keys there: bandwidth"):
        topology_for_system(system, overrides={"scale_out.bandwith_gbit_per_s": 1})


def test_a_size_override_whose_domain_is_not_whole_nodes_is_refused() -> None:
    """4 x 3 = 12-chip domains on 16-chip trn2 nodes placed a 64-rank group on 2 x 3 x 11 = 66 positions."""
    system = load_system("trn2")
    with pytest.raises(ConfigError, match=r"4 x 3 = 12 chips.*multiple of 16"):
        topology_for_system(system, overrides={"dimension.1.size": 3})
    # a domain of whole nodes is the rule, not one size: 4 x 8 = 32 chips is two nodes
    assert topology_for_system(system, overrides={"dimension.1.size": 8}).chips_per_domain == 32


def test_a_copy_of_a_bundled_file_loads_as_the_bundled_one(tmp_path: Path) -> None:
    """A user's copy of trn2.toml (scale-out bandwidth left to the catalog) loads with the system's
    figures, and is held to the same whole-nodes rule."""
    from trnsim.cluster.topology import TOPOLOGIES, load_topology_file

    system = load_system("trn2")
    text = TOPOLOGIES.shipped_file("trn2").read_text()
    (tmp_path / "t.toml").write_text(text)
    bw = system.scale_out_bw_bytes_per_s
    copy = load_topology_file(tmp_path / "t.toml", node_scale_out_bw_bytes_per_s=bw, chips_per_node=16)
    assert copy == topology_for_system(system)
    with pytest.raises(ConfigError, match="5 x 4 = 20 chips"):
        load_topology_file(tmp_path / "t.toml", {"dimension.0.size": 5}, node_scale_out_bw_bytes_per_s=bw,
                           chips_per_node=16)
