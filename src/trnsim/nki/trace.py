"""The instruction trace: what the kernel layer records and the chip model consumes.

Every instruction a kernel executes (in value mode or in timing-only mode) becomes one
:class:`Instruction`. The record holds what a performance model needs and nothing it does not:
which engine runs it, what it reads and writes (memory space, shape, dtype, bytes, the partition
range and the byte range inside the allocation, so that read-after-write and write-after-read
dependencies can be found), and where in the kernel's source it came from.

This module is the contract between ``trnsim.nki`` (producer) and ``trnsim.core`` (consumer);
change it in both places at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class Engine(StrEnum):
    """The queue an instruction is issued to."""

    TENSOR = "tensor"
    VECTOR = "vector"
    SCALAR = "scalar"
    GPSIMD = "gpsimd"
    #: DMA transfers (nl.load/store, nisa.dma_copy, dma_transpose...) issued through the Sync engine.
    DMA = "dma"
    #: Collectives between the ranks of an SPMD launch (trnsim.nki.collectives_impl).
    COLLECTIVE = "collective"
    #: Bookkeeping with no hardware cost (allocation, barriers inside one core).
    NONE = "none"


class MemorySpace(StrEnum):
    """Where an operand lives."""

    HBM = "hbm"
    SBUF = "sbuf"
    PSUM = "psum"
    #: A compile-time constant or an engine register (no memory traffic).
    IMMEDIATE = "imm"


class Region(NamedTuple):
    """The part of one allocation an operand touches, as a box.

    On-chip tensors: partitions ``[partition_start, partition_stop)`` and bytes
    ``[byte_start, byte_stop)`` within each partition. HBM tensors are linear: a single
    "partition" ``[0, 1)`` and the byte range within the tensor. Two operands conflict when they
    have the same ``alloc_id`` and their boxes intersect.

    An immutable named tuple rather than a frozen dataclass: the kernel layer builds several per
    instruction and the chip model hashes them (both in C for a tuple).
    """

    alloc_id: int
    partition_start: int
    partition_stop: int
    byte_start: int
    byte_stop: int

    def overlaps(self, other: Region) -> bool:
        """True when both regions are in the same allocation and their boxes intersect."""
        return (
            self.alloc_id == other.alloc_id
            and self.partition_start < other.partition_stop
            and other.partition_start < self.partition_stop
            and self.byte_start < other.byte_stop
            and other.byte_start < self.byte_stop
        )


class Operand(NamedTuple):
    """One tensor access of an instruction.

    ``shape`` is the shape of the accessed tile (partition dimension first for on-chip tiles),
    ``nbytes`` the bytes actually moved, ``contiguous_bytes`` the length of the longest run of
    consecutive bytes in one partition (or in HBM) of the access: DMA efficiency and SBUF stride
    penalties depend on it. ``inner_stride_bytes`` is the byte stride of the innermost dimension.
    An immutable named tuple (cheap to build, shared between instructions).
    """

    name: str
    space: MemorySpace
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    region: Region | None
    contiguous_bytes: int
    inner_stride_bytes: int

    @property
    def partitions(self) -> int:
        """Partition count of an on-chip tile (1 for HBM)."""
        if self.space in (MemorySpace.SBUF, MemorySpace.PSUM) and self.shape:
            return self.shape[0]
        return 1

    @property
    def free_elements(self) -> int:
        """Elements per partition (on-chip) or in total (HBM)."""
        n = 1
        dims = self.shape[1:] if self.space in (MemorySpace.SBUF, MemorySpace.PSUM) else self.shape
        for d in dims:
            n *= d
        return n


@dataclass(slots=True)
class Instruction:
    """One executed instruction.

    ``opcode`` is the NKI instruction name as the user wrote it (``nc_matmul``, ``activation``,
    ``tensor_tensor``, ``dma_copy``, ``load``, ``store``...). ``attrs`` holds what changes its cost:
    ``op`` (ALU or activation function name), ``accumulate`` (PSUM accumulation), ``transpose``,
    ``perf_mode``, ``reduce`` and so on; the producer documents each key it sets. Instructions
    recorded from one call template share one ``attrs`` dict (trnsim.nki.templates): replace an
    instruction's ``attrs`` to change it, never write into it.
    """

    seq: int
    engine: Engine
    opcode: str
    inputs: tuple[Operand, ...]
    outputs: tuple[Operand, ...]
    kernel: str
    source_file: str
    source_line: int
    program_id: tuple[int, ...] = ()
    core: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class KernelTrace:
    """The trace of one kernel launch: its instructions in program order, per core."""

    kernel: str
    target: str
    instructions: list[Instruction] = field(default_factory=list)
    #: Number of physical NeuronCores the launch spans (SPMD over ``nl.nc(k)`` or LNC=2).
    num_cores: int = 1
    #: Grid of the launch (``kernel[g0, g1](...)``); empty for a plain call.
    grid: tuple[int, ...] = ()
    #: Bytes the automatic allocator spilled to HBM and reloaded (``spill_save`` /
    #: ``spill_reload`` DMAs in ``instructions``; trnsim.nki.spill).
    spill_save_bytes: int = 0
    spill_reload_bytes: int = 0

    def __post_init__(self) -> None:
        # Every launch creates one trace: hand it to whoever is collecting (trnsim kernel profile).
        for sink, _ in _COLLECTORS.get():
            sink.append(self)

    def append(self, instruction: Instruction) -> None:
        """Record one instruction."""
        self.instructions.append(instruction)

    def __len__(self) -> int:
        return len(self.instructions)


_COLLECTORS: ContextVar[tuple[tuple[list[KernelTrace], bool], ...]] = ContextVar(
    "trnsim_trace_collectors", default=()
)


@contextmanager
def collect_traces(timing_only: bool = False) -> Iterator[list[KernelTrace]]:
    """Collect every :class:`KernelTrace` created while the block runs (one per kernel launch).

    The list fills as launches start; each trace is complete once its launch returns. With
    ``timing_only`` the launches inside compute no values (outputs come back zero-filled), which
    is all a profile of the trace needs. This is the one observer of launches.
    """
    sink: list[KernelTrace] = []
    token = _COLLECTORS.set((*_COLLECTORS.get(), (sink, timing_only)))
    try:
        yield sink
    finally:
        _COLLECTORS.reset(token)


def timing_only_requested() -> bool:
    """True when the innermost :func:`collect_traces` asks launches to skip values."""
    collectors = _COLLECTORS.get()
    return bool(collectors) and collectors[-1][1]
