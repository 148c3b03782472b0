"""Per-generation NeuronCore facts the kernel layer checks tiles against.

The numbers live in ``data/neuroncore/<target>.toml`` with their sources; this module only loads
and validates them. Timing facts belong to ``neuroncore_timing`` (chip model), not here.

Targets and aliases: ``trn1`` (``inf2``, ``gen2``), ``trn2`` (``gen3``), ``trn3`` (``gen4``).
Every field can be overridden: ``load_neuroncore("trn2", overrides={"psum_banks": 7})`` (in
memory, :mod:`trnsim.hardware.datafile`) or a user TOML file with the same keys via ``path=``.
A value's source is its entry in the file's ``[sources]`` table, else the file's ``source``.
A shipped generation without overrides is loaded once per version of its file and in-memory
overlay (a kernel launch asks for it each time: about 70 us a load, a 4-instruction launch's
largest fixed cost).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from trnsim.errors import UnknownNameError
from trnsim.hardware.datafile import (
    DataKind,
    ShippedMemo,
    apply_overrides,
    read_toml,
    validate,
)

DATA_DIR = Path(__file__).parent / "data" / "neuroncore"
#: The per-generation files; user files come through ``path=``, not a catalog folder (the kernel
#: layer's tile checks and the op tables rest on the shipped ones).
NEURONCORE = DataKind("neuroncore", DATA_DIR, user_files=False, new_keys_from_depth=0)


class NeuronCoreSpec(BaseModel):
    """Immutable facts of one NeuronCore generation (bytes per partition, tile limits)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    aliases: tuple[str, ...] = ()
    nc_version: int
    cores_per_chip: int
    partitions: int
    sbuf_bytes_per_partition: int
    sbuf_reserved_bytes_per_partition: int
    psum_bytes_per_partition: int
    psum_banks: int
    psum_bank_bytes: int
    pmax: int
    psum_fmax: int
    gemm_stationary_fmax: int
    gemm_moving_fmax: int
    bn_stats_fmax: int
    gemm_moving_fmax_wide_fp32: int
    gemm_moving_fmax_wide_16bit: int
    #: Address alignment of SBUF / PSUM tensors (assumed: undocumented, see the data files).
    sbuf_min_align_bytes: int
    psum_min_align_bytes: int
    #: The file's sources (a value without its own entry in ``sources`` rests on these).
    source: str = ""
    sources: dict[str, str] = {}
    confidence: dict[str, str] = {}

    @model_validator(mode="after")
    def _consistent(self) -> NeuronCoreSpec:
        if self.psum_banks * self.psum_bank_bytes != self.psum_bytes_per_partition:
            raise ValueError(
                f"psum_banks x psum_bank_bytes = {self.psum_banks * self.psum_bank_bytes}"
                f" but psum_bytes_per_partition = {self.psum_bytes_per_partition}"
            )
        if self.sbuf_reserved_bytes_per_partition >= self.sbuf_bytes_per_partition:
            raise ValueError("sbuf_reserved_bytes_per_partition must be below sbuf_bytes_per_partition")
        return self

    @property
    def sbuf_usable_bytes_per_partition(self) -> int:
        """SBUF bytes per partition a kernel may allocate (capacity minus the compiler's reserve)."""
        return self.sbuf_bytes_per_partition - self.sbuf_reserved_bytes_per_partition


def _target_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(DATA_DIR.glob("*.toml"))}


@cache
def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for name, path in _target_files().items():
        table[name] = name
        for alias in read_toml(path).get("aliases", []):
            table[str(alias)] = name
    return table


def known_targets() -> list[str]:
    """Every accepted target name (generations and their aliases)."""
    return sorted(_alias_table())


def canonical_target(target: str) -> str:
    """Map an alias (``gen3``, ``inf2``...) to its file name (``trn2``...)."""
    name = _alias_table().get(str(target).strip().lower())
    if name is None:
        raise UnknownNameError("NeuronCore target", str(target), known_targets())
    return name


def load_neuroncore(
    target: str = "trn2", overrides: Mapping[str, Any] | None = None, path: Path | None = None
) -> NeuronCoreSpec:
    """Load one generation's spec, applying user overrides (a mapping and/or a TOML file)."""
    if path is None and not overrides:
        return _shipped(canonical_target(target))
    if path is None:
        tree = NEURONCORE.load(canonical_target(target), overrides=overrides)
        data, where = tree.data, tree.files[-1]
    else:
        data, where = read_toml(path), str(path)
        if overrides:
            data, _ = apply_overrides(data, overrides, where=where, origin="override",
                                      new_keys_from_depth=0)
    return validate(data, NeuronCoreSpec, where)


def _load_shipped(name: str) -> NeuronCoreSpec:
    tree = NEURONCORE.load(name)
    return validate(tree.data, NeuronCoreSpec, tree.files[-1])


#: Specs of shipped files loaded without overrides, per version of the file and of the overlay.
_shipped = ShippedMemo(lambda: NEURONCORE, _load_shipped)
