"""Timing parameters of one NeuronCore generation, loaded from data files with their sources.

Every number the NeuronCore performance model (:mod:`trnsim.core`) uses lives in
``hardware/data/neuroncore_timing/<target>.toml``: clocks, instruction cost parameters, DMA
queues, HBM bandwidth and so on. Each value is written as ``{ value = ..., source = "..." }``
(optionally ``confidence`` and ``note``), so that a reader can check where it came from.

A user changes any value with a TOML file of the same shape (plain values are accepted there):

.. code-block:: toml

    [chip]
    hbm_bandwidth_bytes_per_s = 1.64e12   # what if HBM were twice as fast?

``load_timing("trn1", overrides=Path("what_if.toml"))`` (or a mapping of the same shape) merges
it over the shipped data in memory (:mod:`trnsim.hardware.datafile`) and records the override in
the value's ``source``. A ``$TRNSIM_CATALOG`` folder does not apply here: the shipped op-time
tables were simulated with the shipped timing, so a change must travel as an explicit override
(a what-if's ``nc_timing_overrides``) that device time can see and regenerate tables for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from trnsim.errors import UnknownNameError
from trnsim.hardware.datafile import (
    DataKind,
    ShippedMemo,
    normalise_units,
    read_toml,
    validate,
)

__all__ = [
    "ChipTiming",
    "CollectiveTiming",
    "Confidence",
    "DmaTiming",
    "EngineTiming",
    "MemoryTiming",
    "NeuronCoreTiming",
    "Sourced",
    "TensorEngineTiming",
    "known_targets",
    "load_timing",
    "timing_data_digest",
]

_DATA_DIR = "data/neuroncore_timing"
#: The timing files: overridden only by explicit overrides (see the module docstring).
TIMING = DataKind("neuroncore_timing", Path(__file__).parent / _DATA_DIR, user_files=False,
                  override_confidence="unconfirmed")
#: Names a user may type for a target, mapped to the data file that describes it.
_ALIASES = {"trn1": "trn1", "inf2": "trn1", "gen2": "trn1", "trn2": "trn2", "gen3": "trn2",
            "trn3": "trn3", "gen4": "trn3"}


class Confidence(StrEnum):
    """How far a value can be trusted."""

    #: Stated in the cited document.
    DOCUMENTED = "documented"
    #: Derived or chosen by trnsim from documented facts (the note says how).
    INFERRED = "inferred"
    #: A third-party or contradicted figure.
    UNCONFIRMED = "unconfirmed"


class Sourced(BaseModel):
    """One number with the document it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(ge=0)
    source: str = Field(min_length=1)
    confidence: Confidence = Confidence.DOCUMENTED
    note: str = ""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChipTiming(_Section):
    """What the cores of one chip share."""

    cores_per_chip: Sourced
    #: Physical cores per logical core by default (LNC=2 on trn2).
    default_logical_core_size: Sourced
    hbm_bandwidth_bytes_per_s: Sourced


class DmaTiming(_Section):
    """DMA queues of one core."""

    queues_per_core: Sourced
    queue_bandwidth_bytes_per_s: Sourced
    #: Fixed cost of one DMA transfer on its queue (descriptor generation, round trip).
    fixed_cost_ns: Sourced
    #: Fixed cost when the hardware descriptor-generation engine is used (``dge_mode=hwdge``).
    hwdge_fixed_cost_ns: Sourced
    #: Per-descriptor cost, in bytes of queue time: why small contiguous chunks are slow.
    descriptor_overhead_bytes: Sourced
    #: A transfer is split over queues in parts of at least this many bytes.
    min_split_bytes: Sourced
    #: Fraction of queue throughput a transposing DMA reaches, by direction.
    transpose_efficiency_from_hbm: Sourced
    transpose_efficiency_sbuf_to_sbuf: Sourced


class CollectiveTiming(_Section):
    """The chip's collective engine: alpha-beta costs between the NeuronCores of one chip."""

    #: Bandwidth a rank's collective traffic gets between the cores of one chip.
    link_bandwidth_bytes_per_s: Sourced
    #: Fraction of that bandwidth collectives reach.
    bandwidth_efficiency: Sourced
    #: Latency of one algorithm step (alpha).
    step_latency_ns: Sourced


class MemoryTiming(_Section):
    """SBUF and PSUM facts that change instruction timing."""

    #: 1 where VectorE/GpSimdE share the SBUF port and VectorE/ScalarE the PSUM port (v2).
    shared_access_ports: Sourced
    psum_banks: Sourced
    psum_bank_bytes_per_partition: Sourced
    #: An inner stride above this many bytes slows SBUF/PSUM access by ``stride_penalty_factor``.
    stride_penalty_threshold_bytes: Sourced
    stride_penalty_factor: Sourced


class EngineTiming(_Section):
    """A compute engine with an in-order queue (VectorE, ScalarE, GpSimdE)."""

    clock_hz: Sourced
    #: Minimum issue interval between two instructions.
    min_issue_interval_cycles: Sourced
    #: Cycles every instruction occupies the engine beyond its elements (GpSimdE's 150).
    fixed_cycles: Sourced
    #: Cycles from the end of issue until the result is in SBUF/PSUM (memory access latency).
    access_latency_cycles: Sourced
    #: Extra cycles when an instruction waits for a result (pipeline drained).
    dependent_overhead_cycles: Sourced
    #: Elements per partition per cycle for 2-byte float data in the engine's fast modes.
    fast_16bit_rate: Sourced
    #: Elements per partition per cycle for other 2-byte float data.
    rate_16bit: Sourced
    #: Elements per partition per cycle for everything else.
    rate_default: Sourced


class TensorEngineTiming(_Section):
    """The systolic array."""

    clock_hz: Sourced
    rows: Sourced
    columns: Sourced
    min_issue_interval_cycles: Sourced
    #: Pipeline latency from issue to the result in PSUM (MM_INIT_LATENCY).
    fill_latency_cycles: Sourced
    #: FP32 operands take this many times the BF16 cycles.
    fp32_cycle_factor: Sourced
    #: FP8 moving data streams this many times faster than BF16.
    fp8_rate: Sourced
    #: MX-format (microscaled FP8/FP4) moving data streams this many times faster than BF16.
    mx_rate: Sourced
    #: LoadStationary is this many times faster than a multiply of the same size.
    load_stationary_speedup: Sourced


class NeuronCoreTiming(BaseModel):
    """All timing parameters of one generation (one target)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str
    generation: str
    chip: ChipTiming
    dma: DmaTiming
    collective: CollectiveTiming
    memory: MemoryTiming
    tensor: TensorEngineTiming
    vector: EngineTiming
    scalar: EngineTiming
    gpsimd: EngineTiming
    #: Element factor per opcode (cycles per element relative to one pass), from the ISA cost notes.
    opcode_element_factor: dict[str, Sourced]
    #: Extra issue cycles per opcode (e.g. the second MIN_II of activation_reduce).
    opcode_extra_cycles: dict[str, Sourced]
    #: Opcodes with their own minimum issue interval (dynamic-offset copies).
    opcode_min_issue_interval_cycles: dict[str, Sourced]

    @property
    def tensor_peak_flops_per_s(self) -> float:
        """BF16 peak of one TensorE: rows × columns multiply-adds per cycle."""
        t = self.tensor
        return 2.0 * t.rows.value * t.columns.value * t.clock_hz.value


def timing_data_digest() -> str:
    """A short digest of the shipped timing data files: changes whenever any value changes."""
    digest = hashlib.sha256()
    for name in sorted(set(_ALIASES.values())):
        text = resources.files("trnsim.hardware").joinpath(f"{_DATA_DIR}/{name}.toml").read_bytes()
        digest.update(text)
    return digest.hexdigest()[:12]


def known_targets() -> list[str]:
    """Target names ``load_timing`` accepts."""
    return sorted(_ALIASES)


def load_timing(
    target: str, overrides: Path | str | Mapping[str, Any] | None = None
) -> NeuronCoreTiming:
    """Load the timing parameters of ``target`` (trn1, trn2, trn3), optionally overridden.

    ``overrides`` is a TOML file path or a mapping of the same shape as the data file; plain
    numbers are accepted and recorded as user overrides.
    """
    name = _ALIASES.get(target.strip().lower())
    if name is None:
        raise UnknownNameError("target", target, known_targets())
    if overrides is None or (isinstance(overrides, Mapping) and not overrides):
        return _shipped(name)
    if isinstance(overrides, Mapping):
        tree = TIMING.load(name, overrides=overrides, origin="user override (mapping)")
    else:
        tree = TIMING.load(name, overrides=read_toml(overrides), origin=f"user override ({overrides})")
    return _validated(tree.data, name)


def _validated(data: Mapping[str, Any], name: str) -> NeuronCoreTiming:
    where = f"timing data for '{name}'"
    return validate(normalise_units(data, where), NeuronCoreTiming, where)


def _load_shipped(name: str) -> NeuronCoreTiming:
    return _validated(TIMING.load(name).data, name)


#: Timing of shipped files loaded without overrides, per version of the file and of the overlay:
#: validating one costs about 0.75 ms, which a kernel asking for its target's timing
#: (``kernels.matmul.dma_run_overhead_bytes``) paid at every launch. The models are frozen, so
#: sharing one is safe.
_shipped = ShippedMemo(lambda: TIMING, _load_shipped)
