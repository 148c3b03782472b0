"""The hardware catalog: shipped data, ranks per chip, user overrides and bad files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from trnsim.errors import ConfigError, UnknownNameError
from trnsim.hardware import catalog
from trnsim.hardware.catalog import (
    ChipFamily,
    Confidence,
    list_chips,
    list_systems,
    load_chip,
    load_system,
)
from trnsim.hardware.units import QuantityKind, parse_quantity

REQUIRED_SYSTEMS = [
    "trn1", "trn1n", "trn2", "trn2-ultraserver", "trn3-ultraserver",
    "p4d", "p5", "p5e", "b200", "tpu-v4", "tpu-v5p",
]


def test_required_names_exist() -> None:
    assert set(REQUIRED_SYSTEMS) <= set(list_systems())
    assert {"trn1", "trn2", "trn3", "a100", "h100", "h200", "b200", "tpu-v4", "tpu-v5p"} <= set(list_chips())


def test_every_shipped_value_has_a_source_and_date() -> None:
    for sub in ("chips", "systems"):
        for path in (catalog._DATA_DIR / sub).glob("*.toml"):
            data = tomllib.loads(path.read_text())
            for key, value in data.items():
                if key in ("name", "display_name", "vendor", "family", "nc_target", "chip", "aliases"):
                    continue
                assert isinstance(value, dict), f"{path.name}: {key} has no source table"
                assert value.get("source") and value.get("date"), f"{path.name}: {key}"


def test_units_are_converted_from_the_spec_strings() -> None:
    trn2 = load_chip("trn2")
    # "96 GiB" and "2.9 TB/s" [T2]; 667 TFLOPS dense BF16.
    assert trn2.hbm_bytes == 96 * 2**30
    assert trn2.hbm_bw_bytes_per_s == 2.9e12
    assert trn2.peak_flops_bf16 == 667e12
    # Network links are quoted in bits: 3.2 Tbps = 400 GB/s.
    assert load_system("trn2").scale_out_bw_bytes_per_s == pytest.approx(400e9)


def test_trainium_ranks_are_logical_neuron_cores() -> None:
    # trn1.32xlarge: 16 chips x 2 NeuronCore-v2 = 32 ranks.
    assert load_system("trn1.32xlarge").ranks_per_node == 32
    # trn2.48xlarge: 16 chips x 8 cores / LNC=2 = 64 ranks; LNC=1 gives 128.
    trn2 = load_system("trn2.48xlarge")
    assert (trn2.ranks_per_chip, trn2.ranks_per_node, trn2.lnc) == (4, 64, 2)
    assert load_system("trn2", lnc=1).ranks_per_node == 128
    # 96 GiB per chip over 4 logical cores.
    assert trn2.hbm_bytes_per_rank == 24 * 2**30
    assert load_system("p5").ranks_per_node == 8
    assert load_system("tpu-v5p").ranks_per_chip == 1


def test_unknown_prices_stay_unknown_and_known_ones_carry_date_and_source() -> None:
    assert load_system("trn2").price_usd_per_node_hour is None
    p5 = load_system("p5")
    assert p5.price_usd_per_node_hour == 98.32
    assert p5.price_date == "2024" and p5.price_source
    assert p5.sources["price_usd_per_node_hour"].confidence is Confidence.UNCONFIRMED


def test_estimated_power_is_flagged() -> None:
    # Trn2's 500 W is a third-party analyst's estimate, not an AWS figure.
    assert load_chip("trn2").power_confidence is Confidence.ESTIMATE
    assert load_chip("trn1").power_w is None
    assert load_chip("trn1").power_confidence is None


def test_unknown_names_list_what_exists() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown system 'trn9'.*trn2"):
        load_system("trn9")
    with pytest.raises(UnknownNameError, match="unknown chip"):
        load_chip("v100")


def test_bad_lnc_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="LNC=3 does not divide"):
        load_system("trn2", lnc=3)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_user_override_is_field_by_field(tmp_path: Path) -> None:
    _write(tmp_path / "systems" / "trn2.toml", 'name = "trn2"\nprice_usd_per_node_hour = "40 USD/h"\n')
    _write(tmp_path / "chips" / "trn2.toml", 'name = "trn2"\nhbm_bw_bytes_per_s = "3 TB/s"\n')
    system = load_system("trn2.48xlarge", catalog_dir=tmp_path)
    assert system.price_usd_per_node_hour == 40.0
    assert "user file" in (system.price_source or "")
    assert system.chip.hbm_bw_bytes_per_s == 3e12
    assert system.chip.peak_flops_bf16 == 667e12  # untouched fields stay
    assert system.chip.sources["hbm_bw_bytes_per_s"].confidence is Confidence.USER
    assert load_system("trn2").price_usd_per_node_hour is None  # the shipped catalog is unchanged


def test_user_adds_a_chip_and_system_through_the_environment(tmp_path: Path, monkeypatch) -> None:
    _write(
        tmp_path / "chips" / "mi300x.toml",
        'name = "mi300x"\nvendor = "other"\nfamily = "gpu"\npeak_flops_bf16 = "1307 TFLOPS"\n'
        'hbm_bytes = "192 GB"\nhbm_bw_bytes_per_s = "5.3 TB/s"\n',
    )
    _write(tmp_path / "systems" / "mi300x.toml", 'name = "mi300x-8"\nchip = "mi300x"\nchips_per_node = 8\n')
    monkeypatch.setenv(catalog.CATALOG_ENV, str(tmp_path))
    system = load_system("mi300x-8")
    assert system.chip.family is ChipFamily.GPU
    assert system.chip.hbm_bytes == 192e9
    assert "mi300x" in list_chips()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "trn2"\nhbm_gb = 96\n', "unknown field 'hbm_gb'"),
        ('name = "trn2"\nhbm_bytes = "2.9 TB/s"\n', "unit 'TB/s' is wrong for bytes"),
        ('name = "trn2"\nhbm_bytes = "lots"\n', "cannot read 'lots' as a quantity"),
        ('name = "trn2"\nhbm_bytes = -5\n', "must not be negative"),
        ('name = "trn2"\nneuron_cores = 2.5\n', "positive whole number"),
        ('name = "x"\nvendor = "aws"\nfamily = "gpu"\n', "missing field"),
        ('name = "trn2"\n[hbm_bytes]\nvalue = 1\nconfidence = "sure"\n', "confidence 'sure' is not one of"),
    ],
)
def test_bad_user_files_get_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path / "chips" / "bad.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_chip("trn2", catalog_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_missing_catalog_dir_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        list_chips(catalog_dir=tmp_path / "nope")


def test_parse_quantity_units() -> None:
    assert parse_quantity("1.28 TB/s", QuantityKind.BYTES_PER_S, "x") == 1.28e12
    assert parse_quantity("800 Gbps", QuantityKind.BYTES_PER_S, "x") == 100e9
    assert parse_quantity("32 GiB", QuantityKind.BYTES, "x") == 32 * 2**30
    assert parse_quantity(5, QuantityKind.WATTS, "x") == 5.0
    with pytest.raises(ConfigError, match="valid units"):
        parse_quantity("5 GB", QuantityKind.FLOPS, "x")


def test_trn3_fp8_peak_is_labelled_mxfp8() -> None:
    trn3 = load_chip("trn3")
    assert trn3.fp8_format == "MXFP8" and trn3.peak_flops_fp8 == 2517e12
    assert load_chip("trn2").fp8_format is None  # plain FP8
    # [T3i] 2,048 GiB/s chip-to-chip per device
    assert trn3.scale_up_bw_bytes_per_s == 2048 * 2**30
