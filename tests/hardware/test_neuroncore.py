"""NeuronCore spec files load, aliases resolve, overrides apply, bad values give one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from trnsim.errors import ConfigError, UnknownNameError
from trnsim.hardware.neuroncore import known_targets, load_neuroncore


def test_generations_and_aliases() -> None:
    trn1, trn2, trn3 = (load_neuroncore(t) for t in ("inf2", "gen3", "trn3"))
    assert (trn1.nc_version, trn2.nc_version, trn3.nc_version) == (2, 3, 4)
    # [AG2] 24 MiB / 128 = 192 KiB; [AG3] 28 MiB / 128 = 224 KiB; PSUM 8 x 2 KiB everywhere
    assert trn1.sbuf_bytes_per_partition == 192 * 1024 and trn2.sbuf_bytes_per_partition == 224 * 1024
    assert all(s.psum_banks * s.psum_bank_bytes == 16 * 1024 for s in (trn1, trn2, trn3))
    assert trn3.gemm_moving_fmax_wide_16bit == 8192
    assert {"trn1", "trn2", "trn3", "gen2", "gen3", "gen4", "inf2"} <= set(known_targets())


def test_overrides_and_errors() -> None:
    assert load_neuroncore("trn2", overrides={"pmax": 64}).pmax == 64
    with pytest.raises(UnknownNameError, match="unknown NeuronCore target 'trn9'"):
        load_neuroncore("trn9")
    with pytest.raises(ConfigError, match="psum_banks x psum_bank_bytes"):
        load_neuroncore("trn2", overrides={"psum_banks": 7})


def test_shipped_specs_are_loaded_once_and_follow_overlays_and_file_versions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A launch asks for its target's spec each time: the shipped file is loaded once per version of
    the file and of the in-memory overlay, and an overlay or an edited file still takes effect."""
    import shutil

    from trnsim.hardware import neuroncore
    from trnsim.hardware.datafile import DataKind, overlay

    trn2 = load_neuroncore("trn2")
    assert load_neuroncore("gen3") is trn2  # memoised (aliases too)
    assert trn2 == load_neuroncore("trn2", path=neuroncore.DATA_DIR / "trn2.toml")  # the uncached load
    with overlay({"neuroncore/trn2": {"pmax": 64}}, "test overlay"):
        assert load_neuroncore("trn2").pmax == 64 and load_neuroncore("trn1").pmax == 128
        with overlay({"neuroncore/trn2": {"pmax": 32}}, "inner overlay"):
            assert load_neuroncore("trn2").pmax == 32
        assert load_neuroncore("trn2").pmax == 64
    assert load_neuroncore("trn2") == trn2  # (entering and leaving an overlay clears the memo)
    # an edited shipped file (another modification time and size) is read again
    folder = tmp_path / "neuroncore"
    shutil.copytree(neuroncore.DATA_DIR, folder)
    monkeypatch.setattr(neuroncore, "NEURONCORE", DataKind("neuroncore", folder, user_files=False,
                                                            new_keys_from_depth=0))
    assert load_neuroncore("trn2") == trn2
    file = folder / "trn2.toml"
    file.write_text(file.read_text().replace("pmax = 128", "pmax = 64 "))
    assert load_neuroncore("trn2").pmax == 64
