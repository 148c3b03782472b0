"""What-if hardware through the data files' own override mechanism, in memory.

A what-if (``scale`` or ``set`` on catalog fields) becomes in-memory catalog overrides
(:mod:`trnsim.hardware.datafile`), applied over the shipped catalog and the user's own
``TRNSIM_CATALOG`` exactly as a user override file would be, without writing one: every changed
value names its source ("what-if <name>") so it stays traceable. Paths are ``chip.<field>`` for
the system's chip and ``system.<field>`` (or a bare field) for the system.

Catalog values reach the GPU/TPU device model and the cluster model, but not Trainium device
times, which come from the NeuronCore chip model and its own timing data. So a what-if also
carries NeuronCore timing overrides (``timing_scale``/``timing_set``, paths of
``hardware/data/neuroncore_timing/<target>.toml``), put on the chip as ``nc_timing_overrides``:
device time then simulates the kernels with that timing (:mod:`trnsim.devicetime.whatif_timing`).
A *knob* scales one piece of hardware consistently in all three places it lives (catalog,
NeuronCore timing, topology file), as :data:`KNOB_PATHS` lists; :func:`apply_whatif` returns the
system and the topology overrides together. What cannot be honoured is an error, never a silent
no-op: a VectorE knob on a GPU, the systolic array's size (the chip model's costs do not use it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from trnsim.cluster.topology import TOPOLOGIES, list_topologies, topology_for_system
from trnsim.devicetime.whatif_timing import whatif_timing
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import ChipFamily, ChipSpec, SystemSpec, load_system
from trnsim.hardware.neuroncore_timing import load_timing
from trnsim.plan.sweep import Knob, WhatIf


def _split(path: str) -> tuple[str, str]:
    scope, _, field = path.rpartition(".")
    scope = scope or "system"
    if scope not in ("chip", "system"):
        raise ConfigError(f"what-if path '{path}': expected 'chip.<field>' or 'system.<field>'")
    return scope, field


def _check_field(spec: ChipSpec | SystemSpec, scope: str, field: str, whatif: WhatIf) -> None:
    if field not in type(spec).model_fields or field in ("name", "sources", "chip"):
        valid = ", ".join(f for f in type(spec).model_fields if f not in ("name", "sources", "chip"))
        raise ConfigError(f"what-if '{whatif.name}': unknown {scope} field '{field}'; valid: {valid}")


def whatif_overrides(system_name: str, whatif: WhatIf,
                     base_dir: str | Path | None = None) -> dict[str, dict[str, float | int | str]]:
    """The in-memory catalog overrides of ``whatif`` for ``system_name``: ``{"chips/<chip>":
    {field: value}, "systems/<system>": {...}}`` (only the entries it changes)."""
    base = load_system(system_name, catalog_dir=base_dir)
    changes: dict[str, dict[str, float | int | str]] = {"chip": {}, "system": {}}
    for path, factor in whatif.scale.items():
        scope, field = _split(path)
        _check_field(base.chip if scope == "chip" else base, scope, field, whatif)
        current = getattr(base.chip if scope == "chip" else base, field)  # a field: _check_field
        if not isinstance(current, int | float) or isinstance(current, bool):
            raise ConfigError(
                f"what-if '{whatif.name}': cannot scale {path}: the catalog has no number there "
                f"(value {current!r})"
            )
        changes[scope][field] = current * factor
    for path, value in whatif.set.items():
        scope, field = _split(path)
        _check_field(base.chip if scope == "chip" else base, scope, field, whatif)
        changes[scope][field] = value
    overrides: dict[str, dict[str, float | int | str]] = {}
    if changes["chip"]:
        overrides[f"chips/{base.chip.name}"] = changes["chip"]
    if changes["system"]:
        overrides[f"systems/{base.name}"] = changes["system"]
    return overrides


def load_system_whatif(system_name: str, whatif: WhatIf, base_dir: str | Path | None = None) -> SystemSpec:
    """The catalog system with the what-if applied in memory (the baseline is the catalog's own)."""
    if whatif.is_baseline:
        return load_system(system_name, catalog_dir=base_dir)
    overrides = whatif_overrides(system_name, whatif, base_dir)
    return load_system(system_name, catalog_dir=base_dir, overrides=overrides,
                       origin=f"what-if '{whatif.name}'")


@dataclass(frozen=True)
class KnobPaths:
    """Where one knob's hardware lives: catalog fields, NeuronCore timing values, topology levels."""

    catalog: tuple[str, ...] = ()
    timing: tuple[str, ...] = ()
    #: Topology levels whose link bandwidth scales: "dimensions", "on_chip" (Trainium core to core).
    topology: tuple[str, ...] = ()


#: Every place a knob scales. HBM bandwidth comes with the DMA queues that carry it: on a NeuronCore
#: the 16 queues (16 x 23 GB/s = 368 GB/s per core, 8 cores = 2.9 TB/s) are what bound a streaming
#: kernel, so scaling HBM alone would change no simulated time. Core-to-core transfers run on the
#: same DMA engines (the topology's on_chip level).
KNOB_PATHS: dict[Knob, KnobPaths] = {
    Knob.HBM_BW: KnobPaths(("chip.hbm_bw_bytes_per_s", "chip.dma_bw_bytes_per_s"),
                           ("chip.hbm_bandwidth_bytes_per_s", "dma.queue_bandwidth_bytes_per_s"),
                           ("on_chip",)),
    Knob.TENSOR: KnobPaths(("chip.peak_flops_bf16", "chip.peak_flops_fp8", "chip.peak_flops_fp16",
                            "chip.peak_flops_fp32"), ("tensor.clock_hz",)),
    Knob.VECTOR: KnobPaths((), ("vector.clock_hz",)),
    Knob.SCALE_UP_BW: KnobPaths(("chip.scale_up_bw_bytes_per_s",), (), ("dimensions",)),
    Knob.SCALE_OUT_BW: KnobPaths(("system.scale_out_bw_bytes_per_s",)),
}

#: Timing values the chip model reads nowhere: changing them would change no time, so a what-if
#: naming them is refused rather than silently ignored.
_UNUSED_TIMING = {
    "tensor.rows": "the kernels tile at 128 partitions (hardware/data/neuroncore) and the chip "
                   "model's matmul cost does not use the array size",
    "tensor.columns": "the kernels tile at 128 partitions (hardware/data/neuroncore) and the chip "
                      "model's matmul cost does not use the array size",
}


@dataclass(frozen=True)
class WhatIfHardware:
    """A system with a what-if applied, the topology overrides it needs, and what changed."""

    system: SystemSpec
    topology_overrides: dict[str, float] = dataclass_field(default_factory=dict)
    changes: tuple[str, ...] = ()


def _number(spec: SystemSpec, path: str) -> float | None:
    """The catalog's number at a knob's ``path`` (a field of the chip or system), None when unknown."""
    scope, name = _split(path)
    value = getattr(spec.chip if scope == "chip" else spec, name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _catalog_scale(base: SystemSpec, whatif: WhatIf) -> dict[str, float]:
    scale = dict(whatif.scale)
    for knob, factor in whatif.knobs.items():
        for path in KNOB_PATHS[knob].catalog:
            if _number(base, path) is not None:  # a value the catalog does not know stays unknown
                scale[path] = scale.get(path, 1.0) * factor
    return scale


def _timing_overrides(base: SystemSpec, whatif: WhatIf) -> dict[str, float]:
    wants_timing = whatif.timing_scale or whatif.timing_set or any(
        KNOB_PATHS[k].timing and not KNOB_PATHS[k].catalog for k in whatif.knobs)
    if base.chip.family is not ChipFamily.TRAINIUM:
        if wants_timing:
            raise ConfigError(
                f"what-if '{whatif.name}': NeuronCore timing changes (timing_scale, timing_set, "
                f"knob 'vector') apply to Trainium only; system '{base.name}' has a "
                f"{base.chip.family.value} chip, whose model has no such value")
        return {}
    target = str(base.chip.nc_target)
    shipped = load_timing(target).model_dump()
    factors: dict[str, float] = dict(whatif.timing_scale)
    for knob, factor in whatif.knobs.items():
        for path in KNOB_PATHS[knob].timing:
            factors[path] = factors.get(path, 1.0) * factor
    values: dict[str, float] = {}
    for path in (*factors, *whatif.timing_set):
        if path in _UNUSED_TIMING:
            raise ConfigError(f"what-if '{whatif.name}': '{path}' cannot be honoured: "
                              f"{_UNUSED_TIMING[path]}; scale TensorE throughput with knob 'tensor'")
        section, _, name = path.partition(".")
        entry = shipped.get(section, {}).get(name) if isinstance(shipped.get(section), dict) else None
        if not isinstance(entry, dict) or "value" not in entry:
            raise ConfigError(f"what-if '{whatif.name}': no NeuronCore timing value '{path}' for "
                              f"{target}; valid: <section>.<field> of hardware/data/neuroncore_timing/"
                              f"{target}.toml, e.g. dma.queue_bandwidth_bytes_per_s")
        if path in whatif.timing_set:
            values[path] = float(whatif.timing_set[path])
        else:
            values[path] = float(entry["value"]) * factors[path]
    if values:
        whatif_timing(target, tuple(sorted(values.items())))  # validates the values
    return values


def _file_scale_out_gbit_per_s(system: SystemSpec) -> float | None:
    """The scale-out bandwidth the system's topology file gives itself, if it does (Gbit/s)."""
    if system.name not in list_topologies():
        return None
    value = TOPOLOGIES.load(system.name).data.get("scale_out", {}).get("bandwidth_gbit_per_s")
    return float(value) if isinstance(value, int | float) else None


def _topology_overrides(base: SystemSpec, changed: SystemSpec, whatif: WhatIf) -> dict[str, float]:
    topology = topology_for_system(base)
    overrides: dict[str, float] = {}
    for knob, factor in whatif.knobs.items():
        levels = KNOB_PATHS[knob].topology
        if "dimensions" in levels:
            for i, dim in enumerate(topology.dimensions):
                gbytes = dim.link_bw_bytes_per_s / 1e9  # the file's unit
                overrides[f"dimension.{i}.link_bandwidth_gbytes_per_s"] = gbytes * factor
        if "on_chip" in levels and topology.on_chip is not None:
            gbytes = topology.on_chip.link_bw_bytes_per_s / 1e9
            overrides["on_chip.link_bandwidth_gbytes_per_s"] = gbytes * factor
    if Knob.SCALE_OUT_BW in whatif.knobs:
        # The topology takes scale-out bandwidth from the catalog unless its file gives its own,
        # which is then scaled in the file's unit.
        own = _file_scale_out_gbit_per_s(base)
        if own is not None:
            overrides["scale_out.bandwidth_gbit_per_s"] = own * whatif.knobs[Knob.SCALE_OUT_BW]
        after = topology_for_system(changed, overrides=overrides or None).scale_out.link_bw_bytes_per_s
        ratio = after / topology.scale_out.link_bw_bytes_per_s
        if not math.isclose(ratio, whatif.knobs[Knob.SCALE_OUT_BW], rel_tol=1e-9):
            raise ConfigError(
                f"what-if '{whatif.name}': knob 'scale_out_bw' cannot be honoured on '{base.name}': "
                "its topology file gives its own scale-out bandwidth; scale it with a topology override")
    return overrides


def apply_whatif(system_name: str, whatif: WhatIf, base_dir: str | Path | None = None) -> WhatIfHardware:
    """The system with ``whatif`` applied in the catalog, the NeuronCore timing and the topology.

    Raises :class:`ConfigError` (one line) for what cannot be honoured.
    """
    base = load_system(system_name, catalog_dir=base_dir)
    if whatif.is_baseline:
        return WhatIfHardware(base)
    scale = _catalog_scale(base, whatif)
    catalog_whatif = WhatIf(name=whatif.name, scale=scale, set=whatif.set)
    changed = load_system_whatif(system_name, catalog_whatif, base_dir)
    timing = _timing_overrides(base, whatif)
    if timing:
        chip = changed.chip.model_copy(update={"nc_timing_overrides": tuple(sorted(timing.items()))})
        changed = changed.model_copy(update={"chip": chip})
    topology = _topology_overrides(base, changed, whatif)
    changes = (
        *(f"catalog {p} x{f:g}" for p, f in sorted(scale.items())),
        *(f"catalog {p} = {v}" for p, v in sorted(whatif.set.items())),
        *(f"NeuronCore timing {p} = {v:g}" for p, v in sorted(timing.items())),
        *(f"topology {p} = {v:g}" for p, v in sorted(topology.items())),
    )
    return WhatIfHardware(changed, topology, changes)
