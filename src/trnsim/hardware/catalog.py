"""The hardware catalog: chips and systems loaded from TOML data files, with user overrides.

Every number lives in ``hardware/data/chips/*.toml`` or ``hardware/data/systems/*.toml`` with its
source, date and confidence; this module only reads, checks and converts them. A field is written
either short (``hbm_bytes = "96 GiB"``) or with its provenance::

    [hbm_bw_bytes_per_s]
    value = "2.9 TB/s"
    source = "[T2] about-neuron/arch/neuron-hardware/trainium2.rst"
    date = "2025"
    confidence = "published"
    note = "[AG3] says 3 TB/s"

Users add or override entries with their own files in a directory given by ``catalog_dir=`` or
the ``TRNSIM_CATALOG`` environment variable (subfolders ``chips/`` and ``systems/``). A user file
whose ``name`` matches a shipped entry replaces only the fields it gives; a new name adds an
entry. Fields a user file gives without a source are recorded as coming from that file.

The same overrides can be given in memory (a what-if, :mod:`trnsim.plan.whatif`): ``overrides=``
``{"chips/trn2": {"hbm_bw_bytes_per_s": 5.8e12}, "systems/trn2": {...}}`` (keyed by entry name) on
:func:`load_system`/:func:`load_chip`, or :func:`trnsim.hardware.datafile.overlay` around the
calls; each value so given is recorded with ``origin`` as its source, confidence ``user``.

Parallel ranks: for Trainium the rank is the logical NeuronCore, as in the Neuron distributed
libraries (``neuron_cores / lnc`` per chip: trn1 2, trn2 4 at the default LNC=2); for GPUs a GPU,
for TPUs a chip.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from trnsim.errors import ConfigError, UnknownNameError
from trnsim.hardware.datafile import CATALOG_ENV, overlay_token, overlays_of, read_toml, user_dir
from trnsim.hardware.units import QuantityKind, parse_quantity

__all__ = [
    "CATALOG_ENV",
    "ChipFamily",
    "ChipSpec",
    "Confidence",
    "Provenance",
    "SystemSpec",
    "Vendor",
    "list_chips",
    "list_systems",
    "load_chip",
    "load_system",
]

_DATA_DIR = Path(__file__).parent / "data"


class Vendor(StrEnum):
    AWS = "aws"
    NVIDIA = "nvidia"
    GOOGLE = "google"
    OTHER = "other"


class ChipFamily(StrEnum):
    TRAINIUM = "trainium"
    GPU = "gpu"
    TPU = "tpu"


class Confidence(StrEnum):
    """How far a catalog value can be trusted."""

    PUBLISHED = "published"  # vendor documentation or datasheet
    THIRD_PARTY = "third-party"  # a price list or article, not the vendor
    ESTIMATE = "estimate"  # an analyst's or our own estimate
    DERIVED = "derived"  # computed from published figures (the note says how)
    UNCONFIRMED = "unconfirmed"  # reported but not confirmed by a primary source
    USER = "user"  # given by the user's own file


class Provenance(BaseModel):
    """Where one catalog value comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    date: str | None = None
    confidence: Confidence = Confidence.PUBLISHED
    note: str | None = None


class ChipSpec(BaseModel):
    """Immutable facts about one accelerator chip (one package: a Trainium, a GPU, a TPU chip)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    display_name: str
    vendor: Vendor
    family: ChipFamily
    peak_flops_bf16: float
    peak_flops_fp8: float | None = None
    #: The 8-bit format ``peak_flops_fp8`` is quoted for when it is not plain FP8 (Trn3: 'MXFP8').
    fp8_format: str | None = None
    peak_flops_fp16: float | None = None
    peak_flops_fp32: float | None = None
    hbm_bytes: float
    hbm_bw_bytes_per_s: float
    power_w: float | None = None
    #: Physical NeuronCores per chip (Trainium only).
    neuron_cores: int | None = None
    #: Default logical-NeuronCore size (physical cores per rank), Trainium only.
    default_lnc: int | None = None
    #: Chip-model target of the NeuronCore generation: 'trn1', 'trn2' or 'trn3' (Trainium only).
    nc_target: str | None = None
    sram_bytes: float | None = None
    scale_up_bw_bytes_per_s: float | None = None
    dma_bw_bytes_per_s: float | None = None
    sources: dict[str, Provenance]
    #: What-if values of the NeuronCore timing data (Trainium only): (dotted path in
    #: ``hardware/data/neuroncore_timing/<target>.toml``, value) pairs, sorted. Set by a what-if
    #: (``trnsim.plan.whatif``), never by a catalog file; device times then come from the chip
    #: model run with this timing instead of the shipped tables.
    nc_timing_overrides: tuple[tuple[str, float], ...] = ()

    @property
    def power_confidence(self) -> Confidence | None:
        """Confidence of ``power_w`` (None when the power is not known)."""
        prov = self.sources.get("power_w")
        return prov.confidence if prov and self.power_w is not None else None

    def ranks_per_chip(self, lnc: int | None = None) -> int:
        """Parallel ranks per chip: logical NeuronCores for Trainium, 1 for GPUs and TPUs."""
        if self.family is not ChipFamily.TRAINIUM or self.neuron_cores is None:
            return 1
        size = lnc if lnc is not None else (self.default_lnc or 1)
        if size < 1 or self.neuron_cores % size:
            valid = ", ".join(str(d) for d in range(1, self.neuron_cores + 1) if self.neuron_cores % d == 0)
            raise ConfigError(
                f"chip '{self.name}': LNC={size} does not divide its {self.neuron_cores} NeuronCores; "
                f"valid: {valid}"
            )
        return self.neuron_cores // size

    def peak_flops(self, dtype: str) -> float:
        """Dense peak FLOP/s of the whole chip for a dtype name ('bf16', 'fp8', 'fp16', 'fp32').

        A dtype the chip has no published peak for falls back to BF16: FP8 runs at the BF16 rate
        on chips without FP8 units (A100, TPU v4/v5p), and FP32 matmuls on GPUs run as TF32/BF16
        on the tensor cores in mixed-precision training.
        """
        if dtype not in ("bf16", "fp8", "fp16", "fp32"):
            raise ConfigError(
                f"chip '{self.name}': no peak for dtype '{dtype}'; valid: bf16, fp8, fp16, fp32"
            )
        value = getattr(self, f"peak_flops_{dtype}")
        return float(value) if value is not None else self.peak_flops_bf16


class SystemSpec(BaseModel):
    """A node: the unit one buys and joins to a cluster (an instance, a server, a TPU host)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    display_name: str
    aliases: tuple[str, ...] = ()
    chip: ChipSpec
    chips_per_node: int
    #: Parallel ranks per chip (logical NeuronCores for Trainium, 1 for GPU/TPU).
    ranks_per_chip: int
    #: Logical NeuronCore size used for ``ranks_per_chip`` (Trainium only).
    lnc: int | None = None
    #: Instances joined into this node (a Trn2 UltraServer is 4 trn2u instances).
    instances_per_node: int = 1
    price_usd_per_node_hour: float | None = None
    price_date: str | None = None
    price_source: str | None = None
    node_power_w: float | None = None
    scale_out_bw_bytes_per_s: float | None = None
    sources: dict[str, Provenance]

    @property
    def ranks_per_node(self) -> int:
        return self.chips_per_node * self.ranks_per_chip

    @property
    def hbm_bytes_per_rank(self) -> float:
        return self.chip.hbm_bytes / self.ranks_per_chip


@dataclass(frozen=True)
class _Field:
    kind: QuantityKind | None  # None: a plain string field
    required: bool = False


_CHIP_FIELDS: dict[str, _Field] = {
    "name": _Field(None, True),
    "display_name": _Field(None),
    "vendor": _Field(None, True),
    "family": _Field(None, True),
    "peak_flops_bf16": _Field(QuantityKind.FLOPS, True),
    "peak_flops_fp8": _Field(QuantityKind.FLOPS),
    "fp8_format": _Field(None),
    "peak_flops_fp16": _Field(QuantityKind.FLOPS),
    "peak_flops_fp32": _Field(QuantityKind.FLOPS),
    "hbm_bytes": _Field(QuantityKind.BYTES, True),
    "hbm_bw_bytes_per_s": _Field(QuantityKind.BYTES_PER_S, True),
    "power_w": _Field(QuantityKind.WATTS),
    "neuron_cores": _Field(QuantityKind.COUNT),
    "default_lnc": _Field(QuantityKind.COUNT),
    "nc_target": _Field(None),
    "sram_bytes": _Field(QuantityKind.BYTES),
    "scale_up_bw_bytes_per_s": _Field(QuantityKind.BYTES_PER_S),
    "dma_bw_bytes_per_s": _Field(QuantityKind.BYTES_PER_S),
}

_SYSTEM_FIELDS: dict[str, _Field] = {
    "name": _Field(None, True),
    "display_name": _Field(None),
    "aliases": _Field(None),
    "chip": _Field(None, True),
    "chips_per_node": _Field(QuantityKind.COUNT, True),
    "lnc": _Field(QuantityKind.COUNT),
    "ranks_per_chip": _Field(QuantityKind.COUNT),
    "instances_per_node": _Field(QuantityKind.COUNT),
    "price_usd_per_node_hour": _Field(QuantityKind.USD_PER_HOUR),
    "node_power_w": _Field(QuantityKind.WATTS),
    "scale_out_bw_bytes_per_s": _Field(QuantityKind.BYTES_PER_S),
}

_NC_TARGETS = ("trn1", "trn2", "trn3")


@dataclass(frozen=True)
class _RawEntry:
    """One entry as read from its files: converted values and their provenance."""

    values: Mapping[str, Any]
    sources: Mapping[str, Provenance]
    files: tuple[str, ...]


def _suggest(key: str, known: Mapping[str, _Field]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _read_file(path: Path, fields: Mapping[str, _Field], user: bool) -> _RawEntry:
    """Read one TOML file into converted values and provenance, rejecting unknown keys."""
    return _read_data(read_toml(path), str(path), fields, user, f"user file {path}")


def _read_data(data: Mapping[str, Any], where_file: str, fields: Mapping[str, _Field], user: bool,
               origin: str) -> _RawEntry:
    """One entry's fields (from a file or an in-memory override) as converted values and provenance.

    ``where_file`` names the file (or override) in errors; ``origin`` is the source recorded for a
    user value given without one.
    """
    path = where_file
    values: dict[str, Any] = {}
    sources: dict[str, Provenance] = {}
    for key, raw in data.items():
        # a file by its name; an in-memory override ("what-if 'x' (chips/trn2)") whole
        where = f"{Path(path).name if path.endswith('.toml') else path}: field '{key}'"
        if key not in fields:
            valid = ", ".join(fields)
            # `catalog show` lists the price's date and source as fields: they are given in its table
            hint = ("; a price's date and source go in its table: price_usd_per_node_hour = { value = ..., "
                    "source = ..., date = ... }" if key in ("price_date", "price_source") else "")
            raise ConfigError(f"{path}: unknown field '{key}'{_suggest(key, fields)}; valid fields: {valid}"
                              f"{hint}")
        spec = fields[key]
        value = raw
        if isinstance(raw, dict):
            extra = set(raw) - {"value", "source", "date", "confidence", "note"}
            if "value" not in raw or extra:
                raise ConfigError(
                    f"{where}: a table needs 'value' and may have source, date, confidence, note"
                    + (f"; unexpected {sorted(extra)}" if extra else "")
                )
            value = raw["value"]
            try:
                sources[key] = Provenance(
                    source=str(raw.get("source", origin if user else "")),
                    date=None if raw.get("date") is None else str(raw["date"]),
                    confidence=raw.get("confidence", Confidence.USER if user else Confidence.PUBLISHED),
                    note=raw.get("note"),
                )
            except ValueError:
                valid = ", ".join(c.value for c in Confidence)
                raise ConfigError(
                    f"{where}: confidence {raw.get('confidence')!r} is not one of: {valid}"
                ) from None
            if not sources[key].source:
                raise ConfigError(f"{where}: a shipped catalog value must name its source")
        elif user and spec.kind is not None:
            sources[key] = Provenance(source=origin, confidence=Confidence.USER)
        if spec.kind is None:
            if key == "aliases":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"{where}: expected a list of names")
                values[key] = tuple(value)
            elif not isinstance(value, str):
                raise ConfigError(f"{where}: expected a string, got {value!r}")
            else:
                values[key] = value
        elif value is None or value == "unknown":
            values[key] = None
        else:
            number = parse_quantity(value, spec.kind, where)
            if spec.kind is QuantityKind.COUNT:
                if number != int(number) or number < 1:
                    raise ConfigError(f"{where}: expected a positive whole number, got {value!r}")
                values[key] = int(number)
            else:
                values[key] = number
    for key, spec in fields.items():
        if spec.kind is not None and key in values and values[key] is not None and key not in sources:
            raise ConfigError(f"{path}: field '{key}' has no source; give it as a table with 'source'")
    if "name" not in values:
        raise ConfigError(f"{path}: missing field 'name'")
    return _RawEntry(values, sources, (path,))


def _merge(base: _RawEntry, override: _RawEntry) -> _RawEntry:
    """Field-by-field override: the user's fields replace the shipped ones, the rest stay."""
    return _RawEntry(
        {**base.values, **override.values},
        {**base.sources, **override.sources},
        base.files + override.files,
    )


def _check_required(entry: _RawEntry, fields: Mapping[str, _Field], kind: str) -> None:
    missing = [k for k, f in fields.items() if f.required and entry.values.get(k) is None]
    if missing:
        raise ConfigError(f"{kind} '{entry.values['name']}' ({entry.files[-1]}): missing field(s) {missing}")


def _user_dir(catalog_dir: str | Path | None) -> str | None:
    path = user_dir(catalog_dir)
    if path is None:
        return None
    if not path.is_dir():
        origin = f"${CATALOG_ENV}" if catalog_dir is None else "--catalog"
        what = "is a file, not a directory" if path.exists() else "does not exist"
        raise ConfigError(f"catalog directory '{path}' {what} (given by {origin}); "
                          "give a directory that holds systems/, chips/ ...")
    return str(path.resolve())


@lru_cache(maxsize=32)
def _scan(sub: str, user_dir: str | None) -> dict[str, _RawEntry]:
    """Shipped entries of ``sub`` with the user directory's files merged (cached: do not change)."""
    fields = _CHIP_FIELDS if sub == "chips" else _SYSTEM_FIELDS
    entries: dict[str, _RawEntry] = {}
    for path in sorted((_DATA_DIR / sub).glob("*.toml")):
        entry = _read_file(path, fields, user=False)
        name = entry.values["name"]
        if name in entries:
            raise ConfigError(f"{path}: {sub[:-1]} '{name}' is defined twice")
        entries[name] = entry
    if user_dir is not None:
        for path in sorted((Path(user_dir) / sub).glob("*.toml")):
            entry = _read_file(path, fields, user=True)
            name = entry.values["name"]
            entries[name] = _merge(entries[name], entry) if name in entries else entry
    return entries


#: In-memory overrides, frozen: ((kind/name, ((field, value), ...), origin), ...).
_Layers = tuple[tuple[str, tuple[tuple[str, Any], ...], str], ...]


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and value and all(isinstance(v, tuple) and len(v) == 2
                                                   and isinstance(v[0], str) for v in value):
        return {k: _thaw(v) for k, v in value}
    return list(value) if isinstance(value, tuple) else value


def _layers(overrides: Mapping[str, Mapping[str, Any]] | None, origin: str) -> _Layers:
    """The overlay in force and ``overrides``, as a hashable key of the catalog cache."""
    if not overrides and overlay_token() == 0:
        return ()  # the common case, kept cheap: load_system is called per plan evaluated
    found = [(f"{kind}/{name}", _freeze(table), layer_origin)
             for kind in ("chips", "systems") for name, table, layer_origin in overlays_of(kind)]
    for file, table in (overrides or {}).items():
        kind, _, _name = file.partition("/")
        if kind not in ("chips", "systems") or not _name:
            raise ConfigError(f"catalog override '{file}': expected 'chips/<name>' or 'systems/<name>'")
        found.append((file, _freeze(table), origin))
    return tuple(found)


def _with_layers(sub: str, entries: dict[str, _RawEntry], layers: _Layers) -> dict[str, _RawEntry]:
    fields = _CHIP_FIELDS if sub == "chips" else _SYSTEM_FIELDS
    out = dict(entries)
    for file, table, origin in layers:
        kind, _, name = file.partition("/")
        if kind != sub:
            continue
        if name not in out:
            raise UnknownNameError(kind[:-1], name, list(out))
        data = {**_thaw(table), "name": name}
        out[name] = _merge(out[name], _read_data(data, f"{origin} ({file})", fields, True, origin))
    return out


@lru_cache(maxsize=64)
def _catalog(user_dir: str | None, layers: _Layers = ()
             ) -> tuple[dict[str, ChipSpec], dict[str, SystemSpec], dict[str, str]]:
    """Load, merge and validate every chip and system (cached per user directory and overrides)."""
    chips: dict[str, ChipSpec] = {}
    for name, entry in _with_layers("chips", _scan("chips", user_dir), layers).items():
        _check_required(entry, _CHIP_FIELDS, "chip")
        chips[name] = _build_chip(entry)
    systems: dict[str, SystemSpec] = {}
    aliases: dict[str, str] = {}
    for name, entry in _with_layers("systems", _scan("systems", user_dir), layers).items():
        _check_required(entry, _SYSTEM_FIELDS, "system")
        chip_name = entry.values["chip"]
        if chip_name not in chips:
            raise UnknownNameError("chip", chip_name, list(chips))
        system = _build_system(entry, chips[chip_name])
        systems[name] = system
        for alias in (name, *system.aliases):
            if alias in aliases and aliases[alias] != name:
                raise ConfigError(f"system name '{alias}' is used by both '{aliases[alias]}' and '{name}'")
            aliases[alias] = name
    return chips, systems, aliases


def _build_chip(entry: _RawEntry) -> ChipSpec:
    values = dict(entry.values)
    where = f"chip '{values['name']}' ({entry.files[-1]})"
    try:
        values["vendor"] = Vendor(values["vendor"])
        values["family"] = ChipFamily(values["family"])
    except ValueError:
        raise ConfigError(
            f"{where}: vendor must be one of {[v.value for v in Vendor]} and family one of "
            f"{[f.value for f in ChipFamily]}, got {values['vendor']!r}/{values['family']!r}"
        ) from None
    values.setdefault("display_name", values["name"])
    if values["family"] is ChipFamily.TRAINIUM and (
        values.get("nc_target") not in _NC_TARGETS or not values.get("neuron_cores")
    ):
        raise ConfigError(f"{where}: a Trainium chip needs neuron_cores and nc_target in {_NC_TARGETS}")
    for key in ("peak_flops_bf16", "hbm_bytes", "hbm_bw_bytes_per_s"):
        if not values[key]:
            raise ConfigError(f"{where}: {key} must be positive")
    spec = ChipSpec(**values, sources=dict(entry.sources))
    spec.ranks_per_chip()  # checks that the default LNC divides the core count
    return spec


def _build_system(entry: _RawEntry, chip: ChipSpec) -> SystemSpec:
    values = dict(entry.values)
    values.pop("chip")
    values.setdefault("display_name", values["name"])
    lnc = values.get("lnc")
    derived = chip.ranks_per_chip(lnc)
    if values.get("ranks_per_chip") is not None and values["ranks_per_chip"] != derived:
        raise ConfigError(
            f"system '{values['name']}': ranks_per_chip={values['ranks_per_chip']} disagrees with chip "
            f"'{chip.name}' at LNC={lnc or chip.default_lnc} ({derived}); set lnc instead"
        )
    values["ranks_per_chip"] = derived
    if chip.family is ChipFamily.TRAINIUM:
        values["lnc"] = lnc or chip.default_lnc
    price = entry.sources.get("price_usd_per_node_hour")
    if values.get("price_usd_per_node_hour") is not None and price is not None:
        values["price_date"] = price.date
        values["price_source"] = price.source
    return SystemSpec(**values, chip=chip, sources=dict(entry.sources))


def list_chips(catalog_dir: str | Path | None = None) -> list[str]:
    """Names of every chip in the catalog (shipped and user), sorted."""
    return sorted(_catalog(_user_dir(catalog_dir), _layers(None, ""))[0])


def list_systems(catalog_dir: str | Path | None = None) -> list[str]:
    """Names of every system in the catalog (shipped and user), sorted; aliases not included."""
    return sorted(_catalog(_user_dir(catalog_dir), _layers(None, ""))[1])


def load_chip(name: str, catalog_dir: str | Path | None = None,
              overrides: Mapping[str, Mapping[str, Any]] | None = None, origin: str = "override") -> ChipSpec:
    """The chip called ``name``; a system name or alias gives that system's chip.

    ``overrides`` changes catalog fields in memory (see the module docstring), recorded as ``origin``.
    """
    chips, systems, aliases = _catalog(_user_dir(catalog_dir), _layers(overrides, origin))
    if name in chips:
        return chips[name]
    if name in aliases:
        return systems[aliases[name]].chip
    raise UnknownNameError("chip", name, list(chips))


def load_system(name: str, catalog_dir: str | Path | None = None, lnc: int | None = None,
                overrides: Mapping[str, Mapping[str, Any]] | None = None, origin: str = "override"
                ) -> SystemSpec:
    """The system called ``name`` (or one of its aliases, e.g. ``trn2.48xlarge``).

    ``lnc`` sets the logical NeuronCore size of a Trainium system (trn2: 2 gives 64 ranks per
    instance, 1 gives 128). ``overrides`` changes catalog fields in memory (see the module
    docstring), recorded as ``origin``.
    """
    _, systems, aliases = _catalog(_user_dir(catalog_dir), _layers(overrides, origin))
    if name not in aliases:
        raise UnknownNameError("system", name, list(systems))
    system = systems[aliases[name]]
    if lnc is None or lnc == system.lnc:
        return system
    if system.chip.family is not ChipFamily.TRAINIUM:
        raise ConfigError(f"system '{name}': lnc applies to Trainium systems only")
    return system.model_copy(update={"lnc": lnc, "ranks_per_chip": system.chip.ranks_per_chip(lnc)})
