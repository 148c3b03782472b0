"""The NeuronCore timing data: complete, sourced, overridable, and clear about bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from trnsim.errors import ConfigError, UnknownNameError
from trnsim.hardware.neuroncore_timing import Confidence, Sourced, known_targets, load_timing


def _sourced_values(model: object) -> list[Sourced]:
    found: list[Sourced] = []
    for value in vars(model).values():
        if isinstance(value, Sourced):
            found.append(value)
        elif isinstance(value, dict):
            found.extend(v for v in value.values() if isinstance(v, Sourced))
        elif isinstance(value, BaseModel):
            found.extend(_sourced_values(value))
    return found


@pytest.mark.parametrize("target", ["trn1", "trn2", "trn3"])
def test_every_value_names_its_source(target: str) -> None:
    values = _sourced_values(load_timing(target))
    assert len(values) > 40
    for value in values:
        assert value.source.strip()
        if value.confidence != Confidence.DOCUMENTED:
            assert value.note, f"{target}: inferred/unconfirmed value {value} must say how"


def test_spec_facts_per_generation() -> None:
    # hardware.md: TensorE 128x128 at 2.8 GHz (v2) and 2.4 GHz (v3): 91.75 and 78.64 TFLOPS.
    assert load_timing("trn1").tensor_peak_flops_per_s == pytest.approx(128 * 128 * 2 * 2.8e9)
    assert load_timing("trn2").tensor_peak_flops_per_s == pytest.approx(128 * 128 * 2 * 2.4e9)
    assert load_timing("trn1").memory.shared_access_ports.value == 1
    assert load_timing("trn2").memory.shared_access_ports.value == 0
    assert load_timing("trn2").chip.default_logical_core_size.value == 2


def test_override_from_mapping_is_marked() -> None:
    timing = load_timing("trn1", {"chip": {"hbm_bandwidth_bytes_per_s": 1.64e12}})
    assert timing.chip.hbm_bandwidth_bytes_per_s.value == 1.64e12
    assert "override" in timing.chip.hbm_bandwidth_bytes_per_s.source
    assert timing.chip.cores_per_chip.value == 2  # the rest is untouched


def test_override_from_file(tmp_path: Path) -> None:
    path = tmp_path / "what_if.toml"
    path.write_text('[dma]\nfixed_cost_ns = { value = 650, source = "my measurement" }\n')
    timing = load_timing("trn2", path)
    assert timing.dma.fixed_cost_ns.value == 650
    assert timing.dma.fixed_cost_ns.source == "my measurement"


def test_bad_inputs_give_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match=r"unknown target 'trn9'; known: .*trn2"):
        load_timing("trn9")
    with pytest.raises(ConfigError, match=r"override key 'chip.hbm_bw' does not exist; valid keys"):
        load_timing("trn1", {"chip": {"hbm_bw": 1}})
    with pytest.raises(ConfigError, match=r"chip.cores_per_chip.value"):
        load_timing("trn1", {"chip": {"cores_per_chip": -1}})
    with pytest.raises(ConfigError, match="does not exist"):
        load_timing("trn1", tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[chip\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: cannot read TOML"):
        load_timing("trn1", bad)
    assert "trn3" in known_targets()


def test_override_file_values_report_their_own_source(tmp_path: Path) -> None:
    from trnsim.hardware.datafile import read_toml, value_sources
    from trnsim.hardware.neuroncore_timing import TIMING

    path = tmp_path / "what_if.toml"
    path.write_text('[dma]\nfixed_cost_ns = { value = 650, source = "my measurement" }\n'
                    '[chip]\nhbm_bandwidth_bytes_per_s = "1.64 TB/s"\n')
    timing = load_timing("trn2", path)
    assert timing.chip.hbm_bandwidth_bytes_per_s.value == 1.64e12  # the quantity string, in B/s
    assert timing.chip.hbm_bandwidth_bytes_per_s.source == f"user override ({path})"
    shipped, changed = load_timing("trn2").model_dump(), timing.model_dump()
    moved = {f"{sec}.{k}" for sec, table in shipped.items() if isinstance(table, dict)
             for k in table if table[k] != changed[sec][k]}
    assert moved == {"dma.fixed_cost_ns", "chip.hbm_bandwidth_bytes_per_s"}
    sources = {v.key: v.source for v in value_sources(TIMING.load("trn2", overrides=read_toml(path),
                                                                   origin="mine"))}
    assert sources["dma.fixed_cost_ns"] == "my measurement"
    assert sources["chip.hbm_bandwidth_bytes_per_s"] == "mine"
