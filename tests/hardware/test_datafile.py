"""The one data-file scheme: overrides in memory, provenance per value, units, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from trnsim.errors import ConfigError
from trnsim.hardware.datafile import (
    DataKind,
    apply_overrides,
    normalise_units,
    overlay,
    overlay_token,
    read_toml,
    unit_of,
    validate,
    value_sources,
)

_FILE = """\
source = "file-wide source"
top = 1.5
[link]
source = "link source"
hop_latency_us = 2.0
size = 4
[chip]
hbm_bytes_per_s = { value = 1.0e12, source = "own source", confidence = "documented" }
[[dimension]]
link_gbytes_per_s = 100.0
source = "dim source"
[sources]
top = "named in [sources]"
"""


class _Link(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    hop_latency_us: float
    size: int


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    top: float
    link: _Link


@pytest.fixture
def kind(tmp_path: Path) -> DataKind:
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "x.toml").write_text(_FILE)
    return DataKind("things", tmp_path / "shipped")


def _leaves(data: object, prefix: str = "") -> dict[str, object]:
    if isinstance(data, dict):
        if "value" in data:
            return {prefix: data["value"]}
        out: dict[str, object] = {}
        for k, v in data.items():
            if k not in ("source", "confidence"):
                out.update(_leaves(v, f"{prefix}.{k}" if prefix else k))
        return out
    if isinstance(data, list):
        return {k: v for i, item in enumerate(data) for k, v in _leaves(item, f"{prefix}.{i}").items()}
    return {prefix: data}


def test_in_memory_override_changes_exactly_that_value(kind: DataKind) -> None:
    shipped = kind.load("x")
    changed = kind.load("x", overrides={"link.hop_latency_us": 3.0, "chip": {"hbm_bytes_per_s": 2e12}},
                        origin="what-if w")
    before, after = _leaves(shipped.data), _leaves(changed.data)
    assert {k for k in before if before[k] != after[k]} == {"link.hop_latency_us", "chip.hbm_bytes_per_s"}
    assert after["link.hop_latency_us"] == 3.0 and after["chip.hbm_bytes_per_s"] == 2e12
    sources = {v.key: v.source for v in value_sources(changed)}
    assert sources["link.hop_latency_us"] == "what-if w"
    assert sources["chip.hbm_bytes_per_s"] == "what-if w"
    assert sources["link.size"] == "link source"  # untouched values keep theirs
    assert kind.load("x").data == shipped.data  # the file and later loads are intact


def test_overlay_applies_inside_the_block_only(kind: DataKind) -> None:
    assert overlay_token() == 0
    with overlay({"things/x": {"top": 7.0}, "things/other": {"top": 9.0}}, "test overlay"):
        token = overlay_token()
        assert token != 0
        tree = kind.load("x")
        assert tree.data["top"] == 7.0 and tree.overridden == {"top": "test overlay"}
    assert overlay_token() == 0 and kind.load("x").data["top"] == 1.5


def test_user_file_merges_key_by_key_or_replaces(kind: DataKind, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "user"
    (user / "things").mkdir(parents=True)
    (user / "things" / "x.toml").write_text("[link]\nsize = 8\n")
    monkeypatch.setenv("TRNSIM_CATALOG", str(user))
    merged = kind.load("x")
    assert merged.data["link"]["size"] == 8 and merged.data["link"]["hop_latency_us"] == 2.0
    assert {v.key: v.source for v in value_sources(merged)}["link.size"].startswith("user file ")
    whole = DataKind("things", kind.shipped, merge=False).load("x")
    assert whole.data == {"link": {"size": 8}}


def test_provenance_rules(kind: DataKind) -> None:
    found = {v.key: v for v in value_sources(kind.load("x"))}
    assert found["top"].source == "named in [sources]"
    assert found["link.hop_latency_us"].source == "link source"
    assert found["link.hop_latency_us"].unit == "us"
    assert found["chip.hbm_bytes_per_s"].source == "own source"
    assert found["chip.hbm_bytes_per_s"].confidence == "documented"
    assert found["chip.hbm_bytes_per_s"].unit == "B/s"
    assert found["dimension.0.link_gbytes_per_s"].source == "dim source"
    assert found["dimension.0.link_gbytes_per_s"].unit == "GB/s"


def test_units_convert_to_the_keys_unit() -> None:
    data = normalise_units({"a": {"hop_latency_us": "500 ns", "clock_hz": "1.4 GHz"},
                            "b": {"value": "3.2 Tbps"}, "bw_gbit_per_s": "3.2 Tbps"}, "f.toml")
    assert data["a"]["hop_latency_us"] == pytest.approx(0.5)
    assert data["a"]["clock_hz"] == pytest.approx(1.4e9)
    assert data["b"] == {"value": "3.2 Tbps"}  # a key without a unit suffix is left to its schema
    assert data["bw_gbit_per_s"] == pytest.approx(3200.0)
    assert unit_of("restart_s") == "s" and unit_of("bw_efficiency") == "1"


def _one_line(error: pytest.ExceptionInfo[ConfigError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def test_wrong_unit_names_file_key_and_valid_units() -> None:
    with pytest.raises(ConfigError) as error:
        normalise_units({"link": {"hop_latency_us": "2 GB/s"}}, "topo.toml")
    text = _one_line(error)
    assert text.startswith("topo.toml: key 'link.hop_latency_us'")
    assert "valid units:" in text and "ns" in text


def test_unknown_override_key_names_file_key_and_valid_keys(kind: DataKind) -> None:
    with pytest.raises(ConfigError) as error:
        kind.load("x", overrides={"link.hop_latncy_us": 1.0})
    text = _one_line(error)
    assert "x.toml: override key 'link.hop_latncy_us' does not exist" in text
    assert "did you mean 'hop_latency_us'" in text and "valid keys there: hop_latency_us, size" in text


def test_unknown_key_in_a_validated_file_lists_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text('source = "s"\ntop = 1.0\n[link]\nsource = "s"\nhop_latency_us = 1.0\n'
                    'size = 2\nspeed = 3\n')
    with pytest.raises(ConfigError) as error:
        validate(read_toml(path), _File, str(path))
    valid = "hop_latency_us, size, source"
    assert _one_line(error) == f"{path}: unknown key 'link.speed'; valid keys there: {valid}"


def test_malformed_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("top = = 1\n")
    with pytest.raises(ConfigError) as error:
        read_toml(path)
    assert _one_line(error).startswith(f"{path}: cannot read TOML")


def test_override_of_a_table_with_a_value_is_refused() -> None:
    with pytest.raises(ConfigError) as error:
        apply_overrides({"link": {"size": 1}}, {"link": 3}, where="f.toml", origin="o")
    assert "names a table, not a value; valid keys there: size" in _one_line(error)


def test_catalog_override_in_memory_changes_exactly_that_field() -> None:
    from trnsim.hardware.catalog import Confidence, load_system

    base = load_system("trn2")
    changed = load_system("trn2", overrides={"chips/trn2": {"hbm_bytes": "192 GiB"}}, origin="what-if m")
    assert changed.chip.hbm_bytes == 192 * 2**30  # the quantity string, converted once
    assert changed.hbm_bytes_per_rank == 192 * 2**30 / base.ranks_per_chip
    before = base.chip.model_dump(exclude={"sources"})
    after = changed.chip.model_dump(exclude={"sources"})
    assert {k for k in before if before[k] != after[k]} == {"hbm_bytes"}
    assert changed.chip.sources["hbm_bytes"].source == "what-if m"
    assert changed.chip.sources["hbm_bytes"].confidence is Confidence.USER
    assert changed.chip.sources["peak_flops_bf16"] == base.chip.sources["peak_flops_bf16"]
    assert load_system("trn2") == base  # the shipped catalog is intact
    with overlay({"systems/trn2": {"price_usd_per_node_hour": 1.0}}, "overlay test"):
        assert load_system("trn2").price_usd_per_node_hour == 1.0
    assert load_system("trn2").price_usd_per_node_hour == base.price_usd_per_node_hour


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"chips/trn2": {"hbm_byte": 1.0}}, "unknown field 'hbm_byte' (did you mean 'hbm_bytes'?)"),
        ({"chips/trn2": {"hbm_bytes": "2 TB/s"}}, "field 'hbm_bytes': unit 'TB/s' is wrong for bytes"),
        ({"chips/trn9": {"hbm_bytes": 1.0}}, "unknown chip 'trn9'"),
        ({"gpus/h100": {"hbm_bytes": 1.0}}, "expected 'chips/<name>' or 'systems/<name>'"),
    ],
)
def test_bad_catalog_override_is_one_line(overrides: dict[str, dict[str, object]], needle: str) -> None:
    from trnsim.hardware.catalog import load_system

    with pytest.raises(ConfigError) as error:
        load_system("trn2", overrides=overrides, origin="what-if w")
    assert needle in _one_line(error)


def _kinds() -> list[tuple[DataKind, str]]:
    from trnsim.cluster.topology import TOPOLOGIES
    from trnsim.devicetime.efficiency import EFFICIENCY
    from trnsim.devicetime.fusion import FUSION
    from trnsim.devicetime.param_passes import PARAM_PASSES
    from trnsim.devicetime.trainium_scale import TRAINIUM_SCALE
    from trnsim.hardware.neuroncore import NEURONCORE
    from trnsim.hardware.neuroncore_timing import TIMING
    from trnsim.serve.params import SERVING

    kinds = (EFFICIENCY, FUSION, PARAM_PASSES, TRAINIUM_SCALE, TIMING, NEURONCORE, TOPOLOGIES)
    return [(kind, name) for kind in kinds for name in kind.names()] + [(SERVING, "serving")]


def test_every_shipped_value_has_a_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from trnsim.cluster.error_band import _bands_path
    from trnsim.hardware.catalog import list_chips, list_systems, load_chip, load_system

    monkeypatch.delenv("TRNSIM_CATALOG", raising=False)
    files = _kinds()
    assert len(files) >= 25  # every kind has its files: none silently skipped
    for kind, name in files:
        values = value_sources(kind.load(name))
        assert values, f"{kind.folder}/{name}: no values found"
        assert [v.key for v in values if not v.source.strip()] == [], f"{kind.folder}/{name}"
    bands = value_sources(read_toml(_bands_path()))
    assert bands and all(v.source.startswith("trnsim validate --write-bands") for v in bands)
    # the catalog: every number of every chip and system carries its own provenance
    for spec in [*map(load_chip, list_chips()), *map(load_system, list_systems())]:
        numbers = [k for k, v in spec.model_dump(exclude={"sources", "chip", "nc_timing_overrides"}).items()
                   if isinstance(v, int | float) and not isinstance(v, bool)]
        derived = {"ranks_per_chip", "lnc", "instances_per_node", "chips_per_node"}
        assert [k for k in numbers if k not in spec.sources and k not in derived] == [], spec.name


def test_serving_user_file_is_merged_and_a_typo_is_one_line(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from trnsim.serve.params import SERVING, load_serving_params

    shipped = load_serving_params()
    (tmp_path / "serving.toml").write_text("[overhead.gpu]\nstep_s = 0.002\n")
    monkeypatch.setenv("TRNSIM_CATALOG", str(tmp_path))
    mine = load_serving_params()
    assert mine.overheads["gpu"].step_s == 0.002
    assert mine.overheads["gpu"].source == f"user file {tmp_path / 'serving.toml'}"
    assert mine.overheads["trainium"] == shipped.overheads["trainium"]
    assert mine.reserved_fraction == shipped.reserved_fraction
    (tmp_path / "serving.toml").write_text("[overhead.gpu]\nstep = 0.002\n")
    with pytest.raises(ConfigError) as error:
        SERVING.load("serving")
    text = _one_line(error)
    assert "serving.toml: override key 'overhead.gpu.step' does not exist" in text
    assert "valid keys there: collective_s, request_s, step_s" in text
