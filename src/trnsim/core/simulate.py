"""Event simulation of one kernel launch on the NeuronCores of one chip.

Each engine (TensorE, VectorE, ScalarE, GpSimdE) and each DMA queue executes its instructions in
order. For in-order queues a single pass over the instructions in program order is an exact
event simulation: an instruction starts at the latest of

* the time its engine (or, for a DMA part, the queue it is given) is free,
* the time its inputs are produced and the tiles it overwrites are no longer read by another
  engine (semaphores; :mod:`trnsim.core.deps`), plus the pipeline-drain overhead of a dependent
  instruction,
* on v2, the time the shared SBUF port (VectorE/GpSimdE) or PSUM port (VectorE/ScalarE) is free.

So there is no event heap per instruction. The cores of an SPMD launch are interleaved by a
small heap keyed by each core's progress (so that a producer on one core is usually placed before
its consumer on another). HBM bandwidth is divided equally among the cores of the launch that
use it (:class:`~trnsim.core.dma.HbmCalendar` per core): exact for symmetric SPMD kernels,
pessimistic when one core moves data while the others compute.

Known simplifications: ports are in-order resources (a later instruction never fills an earlier
gap); a dependency between cores is seen only if the producer was scheduled first; instructions
with ``Engine.NONE`` take no time, nor do PSUM zero-fills that open a matmul accumulation group
(:mod:`trnsim.core.psum_groups`).
"""

from __future__ import annotations

import gc
import heapq
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from trnsim.core.analysis import classify_bound, critical_path_breakdown, peak_psum_banks
from trnsim.core.collectives import CollectiveCostModel
from trnsim.core.costs import ComputeCostModel
from trnsim.core.deps import Record, RegionTracker
from trnsim.core.dma import DmaCostModel, HbmCalendar
from trnsim.core.errors import TimingModelError
from trnsim.core.psum_groups import folded_psum_zero_fills
from trnsim.core.result import ScheduledInstruction, StartReason, TimelineResult
from trnsim.hardware.neuroncore_timing import NeuronCoreTiming, load_timing
from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace, Region

__all__ = ["SimulationOptions", "simulate_trace"]

_ENGINE_CODE = {Engine.TENSOR: 0, Engine.VECTOR: 1, Engine.SCALAR: 2, Engine.GPSIMD: 3}
_TRACK = {Engine.TENSOR: "tensor", Engine.VECTOR: "vector", Engine.SCALAR: "scalar",
          Engine.GPSIMD: "gpsimd", Engine.DMA: "dma", Engine.COLLECTIVE: "collective"}
#: Engine code of each core's collective queue (after the four compute engines).
_COLLECTIVE_CODE = 4
_PSUM, _HBM = MemorySpace.PSUM, MemorySpace.HBM
_DMA, _NONE = Engine.DMA, Engine.NONE
_INF = float("inf")
#: Engine code and track name of each compute engine (one look-up per instruction).
_COMPUTE = {engine: (code, _TRACK[engine]) for engine, code in _ENGINE_CODE.items()}
_DEPENDENCY, _QUEUE, _FREE = StartReason.DEPENDENCY, StartReason.QUEUE, StartReason.FREE
#: Engine codes are made unique per core with this stride.
_CORE_STRIDE = 8


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """Resolution settings of the simulation (not hardware facts)."""

    #: Width of the time buckets HBM bandwidth is booked in.
    hbm_bucket_ns: float = 500.0


class _CoreState:
    """Per-core free times of engines, DMA queues and shared ports."""

    __slots__ = ("collective_free", "engine_free", "engine_last", "last_stationary", "port_free",
                 "port_last", "queue_free", "queue_last")

    def __init__(self, queues: int) -> None:
        self.engine_free = [0.0] * 4
        self.engine_last = [-1] * 4
        self.queue_free = [0.0] * queues
        self.queue_last = [-1] * queues
        self.port_free = [0.0, 0.0]
        self.port_last = [-1, -1]
        self.last_stationary: Region | None = None
        self.collective_free = 0.0


class _Simulation:
    def __init__(self, trace: KernelTrace, timing: NeuronCoreTiming, options: SimulationOptions) -> None:
        self.trace = trace
        self.timing = timing
        self.compute = ComputeCostModel(timing)
        self.dma = DmaCostModel(timing)
        self.collectives = CollectiveCostModel(timing)
        #: Open collective meetings: member arrivals (out index, tracker key, reads).
        self.meetings: dict[str, list[tuple[int, int, list[Record]]]] = {}
        #: Set by a collective arrival: the meeting is still open (its core must wait).
        self.parked = False
        #: Set when a meeting completes: the cores of its members (they may go on).
        self.released: list[int] = []
        # HBM is divided equally among the cores of the launch that use it (exact for symmetric
        # SPMD kernels; a core cannot borrow the share of a core that is idle).
        hbm_cores: set[int] = set()
        for i in trace.instructions:
            if i.engine == _DMA and i.core not in hbm_cores and any(
                    o.space == _HBM for o in (*i.inputs, *i.outputs)):
                hbm_cores.add(i.core)
        self.hbm_share_bytes_per_ns = (
            timing.chip.hbm_bandwidth_bytes_per_s.value / 1e9 / max(1, len(hbm_cores)))
        # A core whose queues together cannot exceed its share never waits for HBM: no booking.
        queues_max_bytes_per_ns = self.dma.queues * timing.dma.queue_bandwidth_bytes_per_s.value / 1e9
        self.hbm: dict[int, HbmCalendar] = {}
        if queues_max_bytes_per_ns > self.hbm_share_bytes_per_ns:
            self.hbm = {core: HbmCalendar(self.hbm_share_bytes_per_ns, options.hbm_bucket_ns)
                        for core in hbm_cores}
        self.tracker = RegionTracker()
        self.ports = timing.memory.shared_access_ports.value >= 1
        self.cores: dict[int, _CoreState] = {}
        self.out: list[ScheduledInstruction] = []
        self.psum_live: dict[tuple[int, int, int], list[float]] = {}
        #: The bank spans of each (core, PSUM region) touched so far.
        self.psum_spans: dict[tuple[int, Region], list[list[float]]] = {}
        self.psum_bank_bytes = int(timing.memory.psum_bank_bytes_per_partition.value)
        self.folded_zero_fills = 0

    # -- dependencies --------------------------------------------------------------------------
    def _record(self, instruction: Instruction, key: int, index: int, reads: list[Record],
                read_done: float, ready: float, core: int, start: float) -> None:
        self.tracker.finish(reads, read_done, instruction.outputs, ready, key, index)
        for operand in instruction.outputs:
            if operand.space == _PSUM and operand.region is not None:
                self._psum_touch(core, operand.region, start, ready)
        for operand in instruction.inputs:
            if operand.space == _PSUM and operand.region is not None:
                self._psum_touch(core, operand.region, start, read_done)

    def _psum_touch(self, core: int, region: Region, start: float, end: float) -> None:
        spans = self.psum_spans.get((core, region))
        if spans is None:
            spans = self.psum_spans[(core, region)] = self._psum_bank_spans(core, region)
        for span in spans:
            if start < span[0]:
                span[0] = start
            if end > span[1]:
                span[1] = end

    def _psum_bank_spans(self, core: int, region: Region) -> list[list[float]]:
        """The live spans of the PSUM banks ``region`` touches (created unset: +inf, -inf)."""
        bank_bytes = self.psum_bank_bytes
        first = region[3] // bank_bytes
        last = max(first, (region[4] - 1) // bank_bytes)
        live = self.psum_live
        spans = []
        for bank in range(first, last + 1):
            span = live.get((core, region[0], bank))
            if span is None:
                span = live[(core, region[0], bank)] = [_INF, -_INF]
            spans.append(span)
        return spans

    # -- one instruction -----------------------------------------------------------------------
    def schedule(self, instruction: Instruction) -> float:
        """Place one instruction; return its start time."""
        core = instruction.core
        state = self.cores.get(core)
        if state is None:
            limit = int(self.timing.chip.cores_per_chip.value)
            if not 0 <= core < limit:
                raise TimingModelError(
                    f"instruction {instruction.seq} ({instruction.opcode}, {instruction.source_file}:"
                    f"{instruction.source_line}) runs on core {core}, but a {self.timing.target} chip "
                    f"has cores 0..{limit - 1}")
            state = self.cores[core] = _CoreState(self.dma.queues)
        engine = instruction.engine
        if engine in _ENGINE_CODE:
            return self._schedule_compute(instruction, state, core)
        if engine == Engine.DMA:
            return self._schedule_dma(instruction, state, core)
        if engine == Engine.COLLECTIVE:
            return self._schedule_collective(instruction, state, core)
        return self._schedule_compute(instruction, state, core)

    def _schedule_collective(self, instruction: Instruction, state: _CoreState, core: int) -> float:
        """Arrive at a collective; the last member starts it for all (:mod:`trnsim.core.collectives`)."""
        index = len(self.out)
        key = core * _CORE_STRIDE + _COLLECTIVE_CODE
        dep_ready, dep_pred, reads = self.tracker.wait(instruction.inputs, instruction.outputs, key,
                                                       False, False)
        if dep_pred >= 0 and dep_ready >= state.collective_free:
            arrival, pred, reason = dep_ready, dep_pred, StartReason.DEPENDENCY
        elif state.collective_free > 0.0:
            arrival, pred, reason = state.collective_free, -1, StartReason.QUEUE
        else:
            arrival, pred, reason = 0.0, -1, StartReason.FREE
        self.out.append(ScheduledInstruction(instruction, "collective", core, arrival, arrival, arrival,
                                             pred, reason))
        meeting = str(instruction.attrs.get("meeting", f"seq{instruction.seq}"))
        members = self.meetings.setdefault(meeting, [])
        members.append((index, key, reads))
        if len(members) < max(1, len(instruction.attrs.get("group", ()))):
            self.parked = True
            return arrival
        del self.meetings[meeting]
        # Everyone starts when the last member arrives; its wait decides the start of all.
        last = max(members, key=lambda m: self.out[m[0]].start_ns)[0]
        begin = self.out[last].start_ns
        cost = self.collectives.cost_ns(instruction)
        finish = begin + cost
        self.released = []
        for member, member_key, member_reads in members:
            item = self.out[member]
            if member != last:
                item.predecessor, item.reason = self.out[last].predecessor, StartReason.DEPENDENCY
            item.start_ns, item.end_ns, item.ready_ns, item.collective_ns = begin, finish, finish, cost
            self.cores[item.core].collective_free = finish
            self._record(item.instruction, member_key, member, member_reads, finish, finish, item.core, begin)
            self.released.append(item.core)
        return begin

    def _schedule_compute(self, instruction: Instruction, state: _CoreState, core: int) -> float:
        code, track = _COMPUTE[instruction.engine]
        key = core * _CORE_STRIDE + code
        out = self.out
        index = len(out)
        cost = self.compute.cost(instruction)
        inputs, outputs = instruction.inputs, instruction.outputs
        dep_ready, dep_pred, reads = self.tracker.wait(inputs, outputs, key, code == 0, False)
        engine_free = state.engine_free[code]
        if dep_pred >= 0 and dep_ready + cost.dependent_overhead_ns >= engine_free:
            start, pred, reason = dep_ready + cost.dependent_overhead_ns, dep_pred, _DEPENDENCY
        elif engine_free > 0.0:
            start, pred, reason = engine_free, state.engine_last[code], _QUEUE
        else:
            start, pred, reason = 0.0, -1, _FREE
        ports = cost.ports if self.ports else ()
        if ports:
            for port in ports:
                if state.port_free[port] > start:
                    start, pred, reason = state.port_free[port], state.port_last[port], _QUEUE
        extra = 0.0
        if cost.loads_stationary:
            stationary = inputs[0].region
            # LoadStationary overlaps the multiply running before it; on an idle array (the first
            # matmul, or one that waited for data) it is exposed.
            if stationary is None or stationary != state.last_stationary:
                if start > engine_free or state.engine_last[code] < 0:
                    extra = cost.load_stationary_ns
                state.last_stationary = stationary
        end = start + cost.issue_ns + extra
        ready = start + cost.complete_ns + extra
        state.engine_free[code] = end
        state.engine_last[code] = index
        for port in ports:
            state.port_free[port] = end
            state.port_last[port] = index
        out.append(ScheduledInstruction(
            instruction, track, core, start, end, ready, pred, reason,
            cost.work_ns, 0.0, 0.0, 0.0, (), cost.flops,
        ))
        # _record, inline (the hot path), and _psum_touch inline for a region seen before
        self.tracker.finish(reads, end, outputs, ready, key, index)
        spans_of = self.psum_spans
        # a PSUM bank is busy from the start until its outputs are ready and its inputs read
        for operands, until in ((outputs, ready), (inputs, end)):
            for operand in operands:
                if operand.space == _PSUM and operand.region is not None:
                    spans = spans_of.get((core, operand.region))
                    if spans is None:
                        self._psum_touch(core, operand.region, start, until)
                        continue
                    for span in spans:
                        if start < span[0]:
                            span[0] = start
                        if until > span[1]:
                            span[1] = until
        return start

    def _schedule_dma(self, instruction: Instruction, state: _CoreState, core: int) -> float:
        index = len(self.out)
        key = -(index + 1)  # DMA parts are not ordered by one queue: never exempt
        plan = self.dma.plan(instruction)
        dep_ready, dep_pred, reads = self.tracker.wait(instruction.inputs, instruction.outputs, key,
                                                       False, True)
        queue_free = state.queue_free
        order = sorted(range(len(queue_free)), key=queue_free.__getitem__)[: plan.parts]
        rate = plan.rate_bytes_per_ns
        nominal_ns = plan.part_bytes / rate
        calendar = self.hbm.get(core) if plan.hbm_crossings else None
        if calendar is not None:
            # The parts of one transfer share the core's HBM bandwidth fairly.
            hbm_rate = min(rate * plan.hbm_crossings, self.hbm_share_bytes_per_ns / plan.parts)
        parts: list[tuple[int, float, float]] = []
        start_min = float("inf")
        last_end = -1.0
        pred, reason, hbm_wait = -1, _FREE, 0.0
        for queue in order:
            free = queue_free[queue]
            start = max(free, dep_ready)
            data_start = start + plan.fixed_ns
            if calendar is not None:
                end = calendar.transfer(data_start, plan.part_bytes * plan.hbm_crossings, hbm_rate)
            else:
                end = data_start + nominal_ns
            if end > last_end:
                last_end = end
                hbm_wait = max(0.0, end - data_start - nominal_ns)
                if dep_pred >= 0 and dep_ready >= free:
                    pred, reason = dep_pred, _DEPENDENCY
                elif free > 0.0:
                    pred, reason = state.queue_last[queue], _QUEUE
                else:
                    pred, reason = -1, _FREE
            start_min = min(start_min, start)
            queue_free[queue] = end
            state.queue_last[queue] = index
            parts.append((queue, start, end))
        hbm_bytes = plan.total_bytes * plan.hbm_crossings
        self.out.append(ScheduledInstruction(
            instruction=instruction, track="dma", core=core, start_ns=start_min, end_ns=last_end,
            ready_ns=last_end, predecessor=pred, reason=reason, dma_fixed_ns=plan.fixed_ns,
            dma_data_ns=nominal_ns, hbm_wait_ns=hbm_wait, parts=tuple(parts),
            nbytes=plan.total_bytes, hbm_bytes=hbm_bytes,
        ))
        self._record(instruction, key, index, reads, last_end, last_end, core, start_min)
        return start_min

    # -- the launch ----------------------------------------------------------------------------
    def run(self) -> TimelineResult:
        by_core: dict[int, list[Instruction]] = defaultdict(list)
        folded = folded_psum_zero_fills(self.trace)
        self.folded_zero_fills = len(folded)
        instructions = self.trace.instructions
        if all(i.core == 0 for i in instructions):
            self._run_one_core(instructions, folded)
            return self._result()
        for position, instruction in enumerate(instructions):
            if instruction.engine != _NONE and position not in folded:
                by_core[instruction.core].append(instruction)
        if len(by_core) == 1:
            schedule = self.schedule
            for instruction in next(iter(by_core.values())):
                schedule(instruction)
        elif by_core:
            self._run_cores(by_core)
        return self._result()

    def _run_one_core(self, instructions: list[Instruction], folded: set[int]) -> None:
        """Schedule a launch on core 0 straight from the trace (the common case).

        What :meth:`schedule` does per instruction, with its look-ups done once: compute engines
        and DMA go to their paths directly, anything else (and the first instruction, which
        creates the core's state) through :meth:`schedule`.
        """
        schedule, compute, dma = self.schedule, self._schedule_compute, self._schedule_dma
        state = None
        for position, instruction in enumerate(instructions):
            engine = instruction.engine
            if engine == _NONE or (folded and position in folded):
                continue
            if state is None:
                schedule(instruction)
                state = self.cores.get(0)
            elif engine in _COMPUTE:
                compute(instruction, state, 0)
            elif engine == _DMA:
                dma(instruction, state, 0)
            else:
                schedule(instruction)

    def _run_cores(self, by_core: dict[int, list[Instruction]]) -> None:
        """Advance the core that is furthest behind, so HBM is booked about in time order.

        A core that arrived at a collective waits (parked) until the last member arrives. If every
        remaining core is parked, the earliest goes on: several ranks share that core, and its
        next instructions belong to a rank that has yet to arrive (the trace order guarantees it).
        """
        heap = [(0.0, core, 0) for core in sorted(by_core)]
        parked: dict[int, tuple[float, int]] = {}
        while heap or parked:
            if not heap:
                core = min(parked, key=lambda c: parked[c])
                start, position = parked.pop(core)
                heapq.heappush(heap, (start, core, position))
            _, core, position = heapq.heappop(heap)
            stream = by_core[core]
            self.parked, self.released = False, []
            start = self.schedule(stream[position])
            for other in self.released:
                if other in parked:
                    at, resume = parked.pop(other)
                    heapq.heappush(heap, (max(at, start), other, resume))
            if position + 1 < len(stream):
                if self.parked:
                    parked[core] = (start, position + 1)
                else:
                    heapq.heappush(heap, (start, core, position + 1))

    def _result(self) -> TimelineResult:
        out = self.out
        timing = self.timing
        readies = [s.ready_ns for s in out]
        latency = max(readies, default=0.0)
        engine_busy: dict[str, float] = {"tensor": 0.0, "vector": 0.0, "scalar": 0.0, "gpsimd": 0.0}
        queue_busy: dict[str, float] = {}
        flops = 0.0
        dma_bytes = hbm_bytes = 0
        # busy time per (core, queue) first, named at the end (same sums, in the same order)
        busy: dict[tuple[int, int], float] = {}
        for s in out:
            if s.parts:
                core = s.core
                for queue, start, end in s.parts:
                    busy[core, queue] = busy.get((core, queue), 0.0) + (end - start)
                dma_bytes += s.nbytes
                hbm_bytes += s.hbm_bytes
            elif s.track in engine_busy:
                engine_busy[s.track] += s.end_ns - s.start_ns
                flops += s.flops
        for (core, queue), busy_ns in busy.items():
            queue_busy[f"core{core}/q{queue}"] = busy_ns
        num_cores = max(1, len(self.cores))
        for core in sorted(self.cores):
            for queue in range(self.dma.queues):
                queue_busy.setdefault(f"core{core}/q{queue}", 0.0)
        path = critical_path_breakdown(out, readies)
        hbm_bw = timing.chip.hbm_bandwidth_bytes_per_s.value
        hbm_utilization = hbm_bytes / (hbm_bw * latency * 1e-9) if latency > 0 else 0.0
        return TimelineResult(
            kernel=self.trace.kernel,
            target=timing.target,
            latency_ns=latency,
            num_cores=num_cores,
            engine_busy_ns=engine_busy,
            queue_busy_ns=dict(sorted(queue_busy.items(), key=lambda kv: _queue_sort_key(kv[0]))),
            bound=classify_bound(path, hbm_utilization),
            critical_path_ns=path,
            flops=flops,
            dma_bytes=dma_bytes,
            hbm_bytes=hbm_bytes,
            tensor_peak_flops_per_s=timing.tensor_peak_flops_per_s * num_cores,
            hbm_bandwidth_bytes_per_s=hbm_bw,
            dma_queues_per_core=self.dma.queues,
            psum_banks_used=peak_psum_banks(self.psum_live),
            folded_psum_zero_fills=self.folded_zero_fills,
            instructions=out,
        )


def _queue_sort_key(name: str) -> tuple[int, int]:
    core, queue = name.split("/")
    return int(core.removeprefix("core")), int(queue.removeprefix("q"))


@cache
def _shipped_timing(target: str) -> NeuronCoreTiming:
    """The shipped (not overridden) timing data of a target, loaded once: it is immutable."""
    return load_timing(target)


def simulate_trace(
    trace: KernelTrace,
    timing: NeuronCoreTiming | str,
    *,
    options: SimulationOptions | None = None,
) -> TimelineResult:
    """Predict the timeline of one kernel launch.

    ``timing`` is a loaded :class:`NeuronCoreTiming` (use :func:`load_timing` with overrides for
    what-if studies) or a target name (``"trn1"``, ``"trn2"``, ``"trn3"``).
    """
    if isinstance(timing, str):
        timing = _shipped_timing(timing)
    # The schedule adds a few objects per instruction next to the trace's ~10: the cyclic
    # collector would rescan the whole trace again and again (a third of the time on a 14k
    # instruction matmul). Nothing here makes reference cycles; the trace launch does the same.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Simulation(trace, timing, options or SimulationOptions()).run()
    finally:
        if gc_was_enabled:
            gc.enable()
