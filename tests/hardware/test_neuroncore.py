"""NeuronCore spec files load, aliases resolve, overrides apply, bad values give one-line errors."""

from __future__ import annotations

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
