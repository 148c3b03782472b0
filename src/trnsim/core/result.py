"""What a simulation of one kernel launch returns."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from trnsim.nki.trace import Instruction

__all__ = ["ROW_INDEX", "SAME_TIME_PARTS", "Bound", "PathCategory", "RowTimelineResult", "ScheduleRow",
           "ScheduledInstruction", "StartReason", "TimelineResult", "row_values"]


class Bound(StrEnum):
    """What limits a kernel's latency (the profiler's verdict)."""

    #: Engine arithmetic on the critical path (TensorE, or the Vector/Scalar/GpSimd engines).
    COMPUTE = "compute"
    #: DMA data time stretched because all cores together saturate the chip's HBM bandwidth.
    HBM = "hbm"
    #: DMA data time at the core's own queue throughput (the core cannot pull HBM any faster).
    DMA_BANDWIDTH = "dma-bandwidth"
    #: Fixed per-transfer DMA costs (many small transfers).
    DMA_FIXED_COST = "dma-fixed-cost"
    #: Issue intervals, fixed latencies and pipeline drains between dependent instructions.
    INSTRUCTION_OVERHEAD = "instruction-overhead"
    #: No single kind of work dominates: engines wait for each other along a chain of dependencies.
    DEPENDENCY_CHAIN = "dependency-chain"
    #: Collectives between the cores of the launch.
    COLLECTIVE = "collective"


class PathCategory(StrEnum):
    """Kinds of time along the critical path."""

    COMPUTE = "compute"
    OVERHEAD = "overhead"
    DMA_FIXED = "dma_fixed"
    DMA_DATA = "dma_data"
    HBM_WAIT = "hbm_wait"
    #: Collectives between the cores of the launch (reported only when the launch has any).
    COLLECTIVE = "collective"


class StartReason(StrEnum):
    """Why an instruction started when it did."""

    #: At time 0 (nothing to wait for).
    FREE = "free"
    #: Its engine, DMA queue or shared port was busy with the previous instruction.
    QUEUE = "queue"
    #: It waited for an instruction producing its input or still reading its output.
    DEPENDENCY = "dependency"


@dataclass(slots=True)
class ScheduledInstruction:
    """One instruction placed in time."""

    instruction: Instruction
    #: "tensor", "vector", "scalar", "gpsimd" or "dma".
    track: str
    core: int
    start_ns: float
    #: When the engine/queue is free again (compute) or the last part of a DMA ends.
    end_ns: float
    #: When dependents may use the result (end plus the engine's result latency).
    ready_ns: float
    #: The scheduled instruction that decided the start (index in the result list; -1 none).
    predecessor: int
    reason: StartReason
    #: Time of this instruction by kind, for the critical-path breakdown.
    compute_ns: float = 0.0
    dma_fixed_ns: float = 0.0
    dma_data_ns: float = 0.0
    hbm_wait_ns: float = 0.0
    #: DMA parts: (queue index, start ns, end ns).
    parts: tuple[tuple[int, float, float], ...] = ()
    flops: float = 0.0
    nbytes: int = 0
    hbm_bytes: int = 0
    #: Time of a collective (alpha-beta cost), for the critical-path breakdown.
    collective_ns: float = 0.0


@dataclass(slots=True)
class TimelineResult:
    """The predicted timeline of one kernel launch and what bounds it."""

    kernel: str
    target: str
    latency_ns: float
    num_cores: int
    #: Issue time per engine summed over the cores that ran, ns (key "tensor", "vector"...).
    engine_busy_ns: dict[str, float]
    #: Busy time per DMA queue, keyed "core0/q3" and so on.
    queue_busy_ns: dict[str, float]
    bound: Bound
    #: Critical-path time by category, ns.
    critical_path_ns: dict[PathCategory, float]
    flops: float
    #: Bytes moved by DMA (all directions).
    dma_bytes: int
    #: Bytes read from or written to HBM.
    hbm_bytes: int
    #: TensorE peak of the cores that ran, FLOP/s.
    tensor_peak_flops_per_s: float
    hbm_bandwidth_bytes_per_s: float
    dma_queues_per_core: int
    #: Distinct PSUM banks the kernel touched (per core, at most the generation's bank count).
    psum_banks_used: int
    #: PSUM zero-fills skipped because they open a matmul accumulation group (no hardware memset).
    folded_psum_zero_fills: int = 0
    instructions: list[ScheduledInstruction] = field(default_factory=list)

    @property
    def latency_s(self) -> float:
        """Latency in seconds."""
        return self.latency_ns * 1e-9

    @property
    def achieved_flops_per_s(self) -> float:
        """Useful TensorE FLOPs over the latency."""
        return self.flops / self.latency_s if self.latency_ns > 0 else 0.0

    @property
    def tensor_utilization(self) -> float:
        """Achieved FLOP/s over the TensorE peak of the cores that ran."""
        peak = self.tensor_peak_flops_per_s
        return self.achieved_flops_per_s / peak if peak > 0 else 0.0

    @property
    def hbm_bandwidth_used_bytes_per_s(self) -> float:
        """HBM bytes over the latency."""
        return self.hbm_bytes / self.latency_s if self.latency_ns > 0 else 0.0

    def engine_busy_fraction(self) -> dict[str, float]:
        """Busy time of each engine over (latency × cores)."""
        span = self.latency_ns * self.num_cores
        return {name: (busy / span if span > 0 else 0.0) for name, busy in self.engine_busy_ns.items()}

    def queue_busy_fraction(self) -> dict[str, float]:
        """Busy time of each DMA queue over the latency."""
        span = self.latency_ns
        return {name: (busy / span if span > 0 else 0.0) for name, busy in self.queue_busy_ns.items()}


#: A scheduled instruction as the scheduler records it: the values of every field of
#: :class:`ScheduledInstruction`, in field order (``ScheduledInstruction(*row)`` is the object),
#: except that the parts of a DMA transfer that all start and end together may be held as
#: ``(SAME_TIME_PARTS, queues, start, end)`` (:func:`row_values` gives the field values).
ScheduleRow = tuple[Any, ...]
#: Position of each field of :class:`ScheduledInstruction` in a :data:`ScheduleRow`.
ROW_INDEX = {f.name: i for i, f in enumerate(fields(ScheduledInstruction))}
#: The first item of a row's parts held as (SAME_TIME_PARTS, queues, start, end): one tuple instead
#: of a tuple per part (most transfers' parts start together; their part tuples are made when the
#: instructions are read). A real parts tuple starts with a (queue, start, end) tuple, never this.
SAME_TIME_PARTS: Any = object()
_PARTS = ROW_INDEX["parts"]


def row_values(row: ScheduleRow) -> ScheduleRow:
    """The values of every field of the scheduled instruction ``row`` records, in field order."""
    parts = row[_PARTS]
    if parts and parts[0] is SAME_TIME_PARTS:
        _, queues, start, end = parts
        return (*row[:_PARTS], tuple([(queue, start, end) for queue in queues]), *row[_PARTS + 1:])
    return row
#: The slot that holds a result's scheduled instructions (read and written around the property below).
_INSTRUCTIONS: Any = TimelineResult.__dict__["instructions"]
_NEW = object.__new__
_INIT = ScheduledInstruction.__init__


class RowTimelineResult(TimelineResult):
    """A :class:`TimelineResult` that makes its scheduled instructions when they are first read.

    The scheduler records each placed instruction as a :data:`ScheduleRow` (a tuple: cheaper to
    make than the object) and works out the totals and the critical path from the rows. Most
    callers want only those (``predict_latency_ns``, ``nki.benchmark``, the op tables); the first
    read of ``instructions`` makes the objects from the rows, in order, and keeps them (later
    reads return the same list). Fields, equality, pickling and ``dataclasses.replace`` see the
    instructions as on a :class:`TimelineResult`.
    """

    __slots__ = ("_rows",)

    def __init__(self, *args: Any, rows: list[ScheduleRow] | None = None, **values: Any) -> None:
        super().__init__(*args, **values)
        self._rows: list[ScheduleRow] | None = rows

    @property
    def instructions(self) -> list[ScheduledInstruction]:
        rows = self._rows
        if rows is not None:
            self._rows = None
            made = []
            for row in rows:
                # ScheduledInstruction(*row), its __init__ called from here (no type.__call__)
                item = _NEW(ScheduledInstruction)
                parts = row[_PARTS]
                _INIT(item, *(row_values(row) if parts and parts[0] is SAME_TIME_PARTS else row))
                made.append(item)
            _INSTRUCTIONS.__set__(self, made)
        result: list[ScheduledInstruction] = _INSTRUCTIONS.__get__(self)
        return result

    @instructions.setter
    def instructions(self, value: list[ScheduledInstruction]) -> None:
        self._rows = None
        _INSTRUCTIONS.__set__(self, value)
