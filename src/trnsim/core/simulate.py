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
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from trnsim.core.analysis import classify_bound, critical_path_of_rows, peak_psum_banks
from trnsim.core.collectives import CollectiveCostModel
from trnsim.core.costs import OTHER_KEY_ATTRS, TENSOR_KEY_ATTRS, ComputeCostModel, cost_key
from trnsim.core.deps import Record, RegionTracker, _Table
from trnsim.core.dma import DmaCostModel, DmaPlan, HbmCalendar
from trnsim.core.errors import TimingModelError, wrong_argument
from trnsim.core.psum_groups import ZeroFills, folded_psum_zero_fills
from trnsim.core.result import (
    ROW_INDEX,
    SAME_TIME_PARTS,
    RowTimelineResult,
    ScheduleRow,
    StartReason,
    TimelineResult,
)
from trnsim.hardware.neuroncore_timing import NeuronCoreTiming, known_targets, load_timing
from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace, Region

__all__ = ["SimulationOptions", "simulate_trace"]

_ENGINE_CODE = {Engine.TENSOR: 0, Engine.VECTOR: 1, Engine.SCALAR: 2, Engine.GPSIMD: 3}
_TRACK = {Engine.TENSOR: "tensor", Engine.VECTOR: "vector", Engine.SCALAR: "scalar",
          Engine.GPSIMD: "gpsimd", Engine.DMA: "dma", Engine.COLLECTIVE: "collective"}
#: Engine code of each core's collective queue (after the four compute engines).
_COLLECTIVE_CODE = 4
_PSUM, _HBM = MemorySpace.PSUM, MemorySpace.HBM
_DMA, _NONE, _COLLECTIVE = Engine.DMA, Engine.NONE, Engine.COLLECTIVE
_INF = float("inf")
#: Engine code and track name of each compute engine (one look-up per instruction).
_COMPUTE = {engine: (code, _TRACK[engine]) for engine, code in _ENGINE_CODE.items()}
#: The same for every engine (None for those that are not compute engines): read by a subscript, which
#: CPython 3.11 specialises for a dict (a .get() is a method call).
_ENTRIES: dict[Engine, tuple[int, str] | None] = {engine: _COMPUTE.get(engine) for engine in Engine}
_DEPENDENCY, _QUEUE, _FREE = StartReason.DEPENDENCY, StartReason.QUEUE, StartReason.FREE
#: A compute cost as the scheduler unpacks it: issue, complete, work, dependent overhead and
#: LoadStationary ns, FLOPs, loads-stationary flag, shared ports held (empty where none are shared),
#: positions of the PSUM outputs and of the PSUM inputs (the cost key includes every operand's space),
#: and whether TensorE's PSUM exemption can apply (a TensorE instruction with a PSUM input: its
#: partial sums written by TensorE itself, in queue order, are not waited for).
_Ints = tuple[int, ...]
_Cost = tuple[float, float, float, float, float, float, bool, _Ints, _Ints, _Ints, bool]
#: A placeholder cost (never used: no key equals the None it is stored with).
_NO_COST: _Cost = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, False, (), (), (), False)
#: Engine codes are made unique per core with this stride.
_CORE_STRIDE = 8
#: A dependency table of the inline paths is made by object.__new__ and its __init__ called directly:
#: the same object as _Table(...) without type.__call__'s C detour (argument tuple, nested loop).
_NEW = object.__new__
#: The attribute look-up of an instruction without attributes in the scheduler's cost key: a value no
#: attribute has for each name the cost formulas read (cost_key's ``()``: keys apart from attributes
#: that are all absent, which the formulas may read differently from an explicit None).
_ABSENT = object()
_NO_ATTRS = dict.fromkeys((*TENSOR_KEY_ATTRS, *OTHER_KEY_ATTRS), _ABSENT).get
#: the names one by one (an added name fails to unpack here; a tuple(map(...)) of the names instead
#: measured 7 % more machine instructions on flash attention, one valgrind repeat)
_PERF_MODE, _TRANSPOSE, _IS_TRANSPOSE = TENSOR_KEY_ATTRS
_OP, _OP0, _OP1, _VALUE = OTHER_KEY_ATTRS
_START, _PREDECESSOR = ROW_INDEX["start_ns"], ROW_INDEX["predecessor"]
#: The first item of the scheduler's cost key of a TensorE instruction with two inputs and one output
#: (a key of its own kind: no other key starts with it). Such a cost reads less than cost_key holds
#: (ComputeCostModel._tensor_cost; no shared ports): the opcode, the attributes TensorE reads, the
#: first input's space and shape (the stationary operand, or the data of a transpose), the second's
#: space, shape and dtype (the moving operand), and the output's space (the PSUM positions). Fewer
#: operand items read and compared per multiply; tests/core/test_scheduler_fast_paths.py checks
#: that the cost of such an instruction changes with nothing else.
_TENSOR_KEY = object()


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """Resolution settings of the simulation (not hardware facts)."""

    #: Width of the time buckets HBM bandwidth is booked in.
    hbm_bucket_ns: float = 500.0


class _CoreState:
    """Per-core free times of engines, DMA queues and shared ports."""

    __slots__ = ("collective_free", "engine_free", "engine_last", "last_stationary", "port_free",
                 "port_last", "queue_busy", "queue_free", "queue_last", "queue_order")

    def __init__(self, queues: int) -> None:
        self.engine_free = [0.0] * 4
        self.engine_last = [-1] * 4
        self.queue_free = [0.0] * queues
        self.queue_last = [-1] * queues
        #: Busy time of each DMA queue, summed in the order of the schedule.
        self.queue_busy = [0.0] * queues
        #: The DMA queues in the order they are free (by free time, ties by number), where the last
        #: transfer left it known (:meth:`_Simulation._place_dma`); None: sort them.
        self.queue_order: Sequence[int] | None = None
        self.port_free = [0.0, 0.0]
        self.port_last = [-1, -1]
        self.last_stationary: Region | None = None
        self.collective_free = 0.0


class _Models:
    """The cost models of one timing, with their memos (shared by the launches of a shipped target)."""

    __slots__ = ("collectives", "compute", "costs", "dma", "dma_positions")

    def __init__(self, timing: NeuronCoreTiming) -> None:
        self.compute = ComputeCostModel(timing)
        self.dma = DmaCostModel(timing)
        self.collectives = CollectiveCostModel(timing)
        #: Compute costs by cost key, as the tuple the scheduler unpacks (:meth:`_compute_cost`).
        self.costs: dict[tuple[object, ...], _Cost] = {}
        #: PSUM output and input positions of each DMA plan (by the id of the plan, which the
        #: DMA model keeps alive in its memo).
        self.dma_positions: dict[int, tuple[_Ints, _Ints]] = {}


#: The models of each shipped target (by the name the caller gave), reused across launches: costs
#: depend only on the timing and the cost key. Replaced when their memos grow past the limit.
_SHIPPED_MODELS: dict[str, _Models] = {}
_SHIPPED_MODELS_LIMIT = 100_000


def _shipped_models(target: str) -> _Models:
    models = _SHIPPED_MODELS.get(target)
    if models is None or len(models.costs) + len(models.dma_positions) > _SHIPPED_MODELS_LIMIT:
        models = _SHIPPED_MODELS[target] = _Models(_shipped_timing(target))
    return models


class _OtherCore(Exception):
    """An instruction of a launch taken to run on core 0 alone names another core."""


class _Simulation:
    def __init__(self, trace: KernelTrace, timing: NeuronCoreTiming, options: SimulationOptions,
                 models: _Models | None = None, core_ids: set[int] | None = None) -> None:
        self.trace = trace
        self.timing = timing
        self.options = options
        models = self.models = models or _Models(timing)
        self.compute = models.compute
        self.dma = models.dma
        self.collectives = models.collectives
        self.costs = models.costs
        self.dma_positions = models.dma_positions
        #: Open collective meetings: member arrivals (out index, tracker key, reads).
        self.meetings: dict[str, list[tuple[int, int, list[Record]]]] = {}
        #: Set by a collective arrival: the meeting is still open (its core must wait).
        self.parked = False
        #: Set by the first collective arrival (the critical path then has that category).
        self.any_collective = False
        #: Set when a meeting completes: the cores of its members (they may go on).
        self.released: list[int] = []
        # HBM is divided equally among the cores of the launch that use it (exact for symmetric
        # SPMD kernels; a core cannot borrow the share of a core that is idle).
        #: The cores the trace's instructions name. A one-core launch (``num_cores``) is taken to run
        #: on core 0 without a pass over the trace to check it: its schedule checks each instruction's
        #: core as it comes and, if one names another core, :meth:`run` starts again with the set
        #: (:class:`_OtherCore`; a hand-made trace).
        if core_ids is None:
            core_ids = {0} if trace.num_cores == 1 else {i.core for i in trace.instructions}
        self.core_ids = core_ids
        hbm_cores: set[int] = set()
        if len(self.core_ids) == 1:
            # one core: its share is the whole bandwidth, booked only by its HBM transfers if any
            hbm_cores = self.core_ids
        else:
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
        self.tables = self.tracker.tables
        #: Answer exact-box dependency queries inline (off with the tracker's fast paths, in tests).
        self.exact = self.tracker.exact_lookups
        self.ports = timing.memory.shared_access_ports.value >= 1
        self.cores: dict[int, _CoreState] = {}
        #: The scheduled instructions, as rows (the result makes the objects when they are read).
        self.out: list[ScheduleRow] = []
        self.psum_live: dict[tuple[int, int, int], list[float]] = {}
        #: The bank spans of each (core, PSUM region) touched so far.
        self.psum_spans: dict[int, dict[Region, list[list[float]]]] = {}
        self.psum_bank_bytes = int(timing.memory.psum_bank_bytes_per_partition.value)
        self.folded_zero_fills = 0
        #: Totals of the result, summed while scheduling: issue time per engine code (all cores),
        #: TensorE FLOPs, DMA and HBM bytes (the DMA queues' busy time is in each core's state).
        self.engine_busy = [0.0, 0.0, 0.0, 0.0]
        self.flops = 0.0
        self.dma_bytes = 0
        self.hbm_bytes = 0
        #: The latest ready time scheduled so far and the first row with it (the latency and the end
        #: of the critical path, as max() and index() of the rows' ready times would find them;
        #: collectives rewrite their rows afterwards, so _result then looks at the rows instead).
        self.latest_ready = -_INF
        self.latest_row = -1

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
        of_core = self.psum_spans.setdefault(core, {})
        spans = of_core.get(region)
        if spans is None:
            spans = of_core[region] = self._psum_bank_spans(core, region)
        for span in spans:
            if start < span[0]:
                span[0] = start
            if end > span[1]:
                span[1] = end

    def _psum_bank_spans(self, core: int, region: Region) -> list[list[float]]:
        """The live spans of the PSUM banks ``region`` touches (created unset: +inf, -inf)."""
        bank_bytes = self.psum_bank_bytes
        first = region[3] // bank_bytes
        last = (region[4] - 1) // bank_bytes
        live = self.psum_live
        if last <= first:  # one bank (most PSUM tiles)
            key = (core, region[0], first)
            span = live.get(key)
            if span is None:
                span = live[key] = [_INF, -_INF]
            return [span]
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
        return self._run_stream((instruction,), instruction.core)

    def _state(self, core: int, instruction: Instruction) -> _CoreState:
        """The state of ``core``, created (and the core checked) by its first instruction."""
        state = self.cores.get(core)
        if state is None:
            limit = int(self.timing.chip.cores_per_chip.value)
            if not 0 <= core < limit:
                raise TimingModelError(
                    f"instruction {instruction.seq} ({instruction.opcode}, {instruction.source_file}:"
                    f"{instruction.source_line}) runs on core {core}, but a {self.timing.target} chip "
                    f"has cores 0..{limit - 1}")
            state = self.cores[core] = _CoreState(self.dma.queues)
        return state

    def _schedule_collective(self, instruction: Instruction, state: _CoreState, core: int) -> float:
        """Arrive at a collective; the last member starts it for all (:mod:`trnsim.core.collectives`)."""
        index = len(self.out)
        self.any_collective = True
        key = core * _CORE_STRIDE + _COLLECTIVE_CODE
        dep_ready, dep_pred, reads = self.tracker.wait(instruction.inputs, instruction.outputs, key,
                                                       False, False)
        if dep_pred >= 0 and dep_ready >= state.collective_free:
            arrival, pred, reason = dep_ready, dep_pred, StartReason.DEPENDENCY
        elif state.collective_free > 0.0:
            arrival, pred, reason = state.collective_free, -1, StartReason.QUEUE
        else:
            arrival, pred, reason = 0.0, -1, StartReason.FREE
        self.out.append((instruction, "collective", core, arrival, arrival, arrival, pred, reason, 0.0, 0.0,
                         0.0, 0.0, (), 0.0, 0, 0, 0.0))
        meeting = str(instruction.attrs.get("meeting", f"seq{instruction.seq}"))
        members = self.meetings.setdefault(meeting, [])
        members.append((index, key, reads))
        if len(members) < max(1, len(instruction.attrs.get("group", ()))):
            self.parked = True
            return arrival
        del self.meetings[meeting]
        # Everyone starts when the last member arrives; its wait decides the start of all.
        out = self.out
        last = max(members, key=lambda m: out[m[0]][_START])[0]
        begin = out[last][_START]
        cost = self.collectives.cost_ns(instruction)
        finish = begin + cost
        self.released = []
        for member, member_key, member_reads in members:
            row = out[member]
            pred, reason = row[_PREDECESSOR], row[7]
            if member != last:
                pred, reason = out[last][_PREDECESSOR], StartReason.DEPENDENCY
            member_core = row[2]
            out[member] = (row[0], "collective", member_core, begin, finish, finish, pred, reason, 0.0, 0.0,
                           0.0, 0.0, (), 0.0, 0, 0, cost)
            self.cores[member_core].collective_free = finish
            self._record(row[0], member_key, member, member_reads, finish, finish, member_core, begin)
            self.released.append(member_core)
        return begin

    def _compute_cost(self, instruction: Instruction, key: tuple[object, ...] | None) -> _Cost:
        """The cost of a compute instruction as the scheduler unpacks it, memoised under ``key`` (the
        scheduler's key of the instruction, see :meth:`_run_stream`; None where it is not hashable)."""
        c = self.compute.cost(instruction)
        psum_outputs, psum_inputs = _psum_positions(instruction)
        exempt = _ENGINE_CODE.get(instruction.engine) == 0 and bool(psum_inputs)
        cost = (c.issue_ns, c.complete_ns, c.work_ns, c.dependent_overhead_ns, c.load_stationary_ns,
                c.flops, c.loads_stationary, c.ports if self.ports else (), psum_outputs, psum_inputs,
                exempt)
        if key is not None:
            self.costs[key] = cost
        return cost

    def _run_stream(self, instructions: Iterable[Instruction], core: int,
                    fills: ZeroFills | None = None) -> float:
        """Schedule instructions of one core in order; return the start of the last.

        With ``fills``, ``instructions`` is the whole trace (on core 0: an instruction on another core
        raises :class:`_OtherCore`), and the PSUM zero-fills it folds are skipped here as they come
        (:mod:`trnsim.core.psum_groups`), and counted.

        The simulator's inner loop, with its look-ups hoisted out of it: the tracker's answers
        inline (remembered ones, one box or a slice of one box of a disjoint table, the tracker's
        full query per operand otherwise), then the placement on the engine (here) or on the DMA
        queues (:meth:`_place_dma`), then the tracker's bookkeeping and the PSUM bank spans
        inline. Collectives go to their own path.
        """
        out = self.out
        append = out.append
        new, table_init = _NEW, _Table.__init__
        costs_get = self.costs.get
        #: the last cost key and cost of each engine (code)
        last_keys: list[object] = [None] * 4
        last_costs: list[_Cost] = [_NO_COST] * 4
        #: the attributes of each engine's last compute instruction, and the values its key holds
        last_attrs: list[object] = [_ABSENT] * 4  # (equal to no attributes, not even None)
        last_named: list[tuple[object, ...]] = [()] * 4
        #: the same of the engine's attributes set before those (a loop alternating two sets of
        #: attributes, as an accumulation group's first matmul and the others, finds both here)
        other_attrs: list[object] = [_ABSENT] * 4
        other_named: list[tuple[object, ...]] = [()] * 4
        plan_of = self.dma.plan
        dma_positions = self.dma_positions
        tables_get = self.tables.get
        tracker = self.tracker
        tables = self.tables
        singles = tracker.singles
        singles_get = singles.get
        unwritten = tracker.unwritten
        materialize = tracker.materialize
        read_missed = tracker.read_missed
        table_of = tracker.table
        found_in = tracker._found
        resolved = tracker.resolved
        exact = self.exact
        #: remembered answers (query box -> the one record), tracker-wide (deps.Resolved)
        resolved_reads = resolved.reads
        resolved_rewrites = resolved.rewrites
        read_of = resolved_reads.get
        rewrite_of = resolved_rewrites.get
        meetings = self.meetings
        psum_spans = self.psum_spans.setdefault(core, {})
        spans_get = psum_spans.get
        psum_live = self.psum_live
        live_get = psum_live.get
        bank_bytes = self.psum_bank_bytes
        #: the PSUM region touched last and its bank spans (an accumulation group writes one region
        #: again and again, and the next instruction reads it: one identity test, no hashing)
        last_psum: Region | None = None
        last_spans: list[list[float]] = []
        #: its one span where it touches one bank (most PSUM tiles): updated without a loop
        last_span: list[float] | None = None
        span: list[float] | None
        #: a pair's regions (none of them None) and the records its two inputs read (a tuple of records
        #: where one reads several): typed loosely, the pair path checks them itself
        region_a: Any
        region_b: Any
        region_c: Any
        ra: Any
        rb: Any
        spans: list[list[float]] | None
        busy = self.engine_busy
        state: _CoreState | None = None
        engine_free: list[float] = []
        engine_last: list[int] = []
        port_free: list[float] = []
        port_last: list[int] = []
        stride_key = core * _CORE_STRIDE
        start = 0.0
        total_flops = self.flops
        latest, latest_row = self.latest_ready, self.latest_row
        folds = None if fills is None else fills.folds
        #: the compute cost whose values the locals issue_ns ... exempt (and unordered) hold: a run of
        #: one engine's instructions with one cost unpacks it once (a DMA overwrites some: None)
        unpacked: _Cost | None = None
        #: the engine of the last instruction placed or skipped past it (its entry, code, track, key)
        last_engine: Engine | None = None
        entry: tuple[int, str] | None = None
        #: the instructions skipped so far (no engine, folded): a trace position is a row index
        #: plus these (with ``fills``, every instruction that is not skipped adds one row)
        skipped = 0
        for instruction in instructions:
            if instruction.core and folds is not None:
                raise _OtherCore  # (the whole trace, taken to run on core 0: see _Simulation.core_ids)
            if instruction.opcode == "memset" and folds and folds(instruction, len(out) + skipped):
                skipped += 1
                self.folded_zero_fills += 1
                continue
            if state is None:
                if instruction.engine is _NONE:
                    skipped += 1
                    continue  # (the core's state is made by its first instruction that runs)
                state = self._state(core, instruction)
                engine_free, engine_last = state.engine_free, state.engine_last
                port_free, port_last = state.port_free, state.port_last
            engine = instruction.engine
            if engine is not last_engine:
                # (the engine of the instruction before: its entry, code, track and key still hold;
                # only a DMA or a collective changes code or key, and their engines differ)
                last_engine = engine
                try:
                    entry = _ENTRIES[engine]
                except KeyError:  # not an engine of the model: the error below
                    entry = None
                if entry is not None:
                    code, track = entry
                    key = stride_key + code
            index = len(out)
            inputs, outputs = instruction.inputs, instruction.outputs
            if entry is not None:
                # The cost memo's key, for one output and one to three inputs: what cost_key holds, as one
                # flat tuple (each operand's space, shape, dtype, bytes and inner stride, then the
                # attribute values the engine's formula reads), so that a hit compares items that are
                # mostly the same objects instead of nested tuples; cost_key's tuple otherwise; less
                # for a TensorE instruction with two inputs (_TENSOR_KEY). The engine's previous key
                # is tried first (a loop's instructions repeat it: no hashing).
                ck: tuple[object, ...] | None
                pair = False
                try:
                    attrs = instruction.attrs
                    if attrs == last_attrs[code]:  # (equal attributes: the same values, read before)
                        named = last_named[code]
                    elif attrs == other_attrs[code]:
                        # (the other set: they stay in place, so that a group's first multiply and the
                        # rest, alternating, find theirs without moving them; a third set evicts this)
                        named = other_named[code]
                    else:
                        get = attrs.get if attrs else _NO_ATTRS
                        if code:
                            named = (get(_OP), get(_OP0), get(_OP1), get(_VALUE))
                        else:
                            named = (get(_PERF_MODE), get(_TRANSPOSE), get(_IS_TRANSPOSE))
                        other_attrs[code], other_named[code] = last_attrs[code], last_named[code]
                        last_attrs[code], last_named[code] = attrs, named
                    if len(outputs) == 1 and len(inputs) == 2:
                        a, b = inputs
                        c = outputs[0]
                        pair = exact  # (its dependencies below without loops, in exact mode)
                        if not code:
                            # a TensorE multiply or transpose: what its cost reads (_TENSOR_KEY)
                            ck = (_TENSOR_KEY, instruction.opcode, a[1], a[2], b[1], b[2], b[3], c[1], named)
                        else:
                            ck = (engine, instruction.opcode, a[1], a[2], a[3], a[4], a[7], b[1], b[2], b[3],
                                  b[4], b[7], c[1], c[2], c[3], c[4], c[7], named)
                    elif len(outputs) == 1 and len(inputs) == 1:
                        a = inputs[0]
                        c = outputs[0]
                        ck = (engine, instruction.opcode, a[1], a[2], a[3], a[4], a[7], c[1], c[2], c[3],
                              c[4], c[7], named)
                    elif len(outputs) == 1 and len(inputs) == 3:
                        a, b, d = inputs
                        c = outputs[0]
                        ck = (engine, instruction.opcode, a[1], a[2], a[3], a[4], a[7], b[1], b[2], b[3],
                              b[4], b[7], d[1], d[2], d[3], d[4], d[7], c[1], c[2], c[3], c[4], c[7], named)
                    else:
                        ck = cost_key(instruction)
                    if ck == last_keys[code]:
                        cost = last_costs[code]
                    else:
                        known = costs_get(ck)
                        cost = self._compute_cost(instruction, ck) if known is None else known
                        last_keys[code] = ck
                        last_costs[code] = cost
                except (TypeError, ValueError):
                    # an attribute value that cannot be hashed or compared (an array): not memoised
                    # here (the cost model keys it on its text)
                    cost = self._compute_cost(instruction, None)
                if cost is not unpacked:  # (else its values are in the locals: the engine's last cost)
                    (issue_ns, complete_ns, work_ns, overhead_ns, load_stationary_ns, flops, loads_stationary,
                     ports, psum_outputs, psum_inputs, exempt) = cost
                    unordered = False
                    unpacked = cost
            elif engine == _DMA:
                code = -1
                key = -(index + 1)  # DMA parts are not ordered by one queue: never exempt
                plan = plan_of(instruction)
                positions = dma_positions.get(id(plan))  # plans are memoised: one per key
                if positions is None:
                    positions = dma_positions[id(plan)] = _psum_positions(instruction)
                psum_outputs, psum_inputs = positions
                exempt, unordered, pair = False, True, False
                unpacked = None  # (a compute cost's locals overwritten)
            elif engine == _COLLECTIVE:
                start = self._schedule_collective(instruction, state, core)
                continue
            elif engine is _NONE:
                skipped += 1
                continue  # no queue: takes no time
            else:
                raise TimingModelError(
                    f"instruction {instruction.seq} ({instruction.opcode}) runs on engine "
                    f"'{engine}', which has no queue in the timing model")
            # RegionTracker.wait, inline: each access looked up in the remembered answers first,
            # then by the cheapest exact route, then by the tracker's full query
            dep_ready = 0.0
            dep_pred = -1
            #: the records read (None where the two inputs of a pair read one record each: ra, rb)
            reads: list[Record] | None = None
            record: Record | None
            #: the record of the one output where it is rewritten in place (same box, same place)
            rewritten: Record | None = None
            #: the disjoint table of the one output where its box overlaps no record (a new box)
            fresh: _Table | None = None
            fresh_box: Region
            #: the one output's box where its allocation has no record yet (a new tile, non-empty)
            new_tile: Region | None = None
            if pair:
                region_a, region_b, region_c = a[5], b[5], c[5]
                if region_a is None or region_b is None or region_c is None:
                    pair = False  # (an operand without a region: the loops below)
            if pair:
                # two inputs and one output (most compute instructions): the loops below written
                # out, without a list of the reads (ra and rb); the same look-ups in the same order
                ra = read_of(region_a)
                if ra is None:
                    alloc = region_a[0]
                    single = singles_get(alloc)
                    if single is None:
                        table = tables_get(alloc)
                        if table is not None and table.disjoint and len(table.records) > 1:
                            # a first read of a slice inside one box: _Table.enclosing, inline (its
                            # frame per first read measured 3.6 M on the blocked matmul)
                            _, p0, p1, b0, b1 = region_a
                            i = bisect_right(table.starts, b0) - 1
                            if i >= 0 and p0 < p1 and b0 < b1:
                                box = table.boxes[i]
                                if box[1] <= p0 and p1 <= box[2] and b1 <= box[4]:
                                    ra = resolved_reads[region_a] = table.records[box]
                                    table.cached.append(region_a)
                        if ra is None:
                            ra = read_missed(region_a, table, outputs)
                    else:
                        box = single[0]
                        if box == region_a or (box[1] <= region_a[1] < region_a[2] <= box[2]
                                               and box[3] <= region_a[3] < region_a[4] <= box[4]):
                            ra = single[1]
                        else:
                            ra = read_missed(region_a, table_of(alloc), outputs)
                rb = read_of(region_b)
                if rb is None:
                    alloc = region_b[0]
                    single = singles_get(alloc)
                    if single is None:
                        table = tables_get(alloc)
                        if table is not None and table.disjoint and len(table.records) > 1:
                            # a first read of a slice inside one box: _Table.enclosing, inline (its
                            # frame per first read measured 3.6 M on the blocked matmul)
                            _, p0, p1, b0, b1 = region_b
                            i = bisect_right(table.starts, b0) - 1
                            if i >= 0 and p0 < p1 and b0 < b1:
                                box = table.boxes[i]
                                if box[1] <= p0 and p1 <= box[2] and b1 <= box[4]:
                                    rb = resolved_reads[region_b] = table.records[box]
                                    table.cached.append(region_b)
                        if rb is None:
                            rb = read_missed(region_b, table, outputs)
                    else:
                        box = single[0]
                        if box == region_b or (box[1] <= region_b[1] < region_b[2] <= box[2]
                                               and box[3] <= region_b[3] < region_b[4] <= box[4]):
                            rb = single[1]
                        else:
                            rb = read_missed(region_b, table_of(alloc), outputs)
                if ra.__class__ is tuple or rb.__class__ is tuple:
                    # a read across several boxes (their records, a tuple): a list of the reads
                    reads = []
                    for operand, found in ((a, ra), (b, rb)):
                        psum_exempt = exempt and operand[1] == _PSUM
                        for record in (found if found.__class__ is tuple else (found,)):
                            if record[0] > dep_ready and not (psum_exempt and record[1] == key):
                                dep_ready, dep_pred = record[0], record[2]
                            reads.append(record)
                else:
                    if ra[0] > 0.0 and not (exempt and ra[1] == key and a[1] == _PSUM):
                        dep_ready, dep_pred = ra[0], ra[2]
                    if rb[0] > dep_ready and not (exempt and rb[1] == key and b[1] == _PSUM):
                        dep_ready, dep_pred = rb[0], rb[2]
                # the output: a tile written once and rewritten whole, a remembered rewrite or a new
                # tile here, any other case by the loop below
                outputs_left = False
                alloc = region_c[0]
                single = singles_get(alloc)
                if single is None:
                    record = rewrite_of(region_c)
                    if record is None:
                        if tables_get(alloc) is None and alloc not in unwritten:
                            if region_c[1] < region_c[2] and region_c[3] < region_c[4]:
                                new_tile = region_c
                        else:
                            outputs_left = True
                elif single[0] == region_c:
                    record = single[1]
                else:
                    record = None
                    outputs_left = True
                if record is not None:
                    rewritten = record
                    if record[0] > dep_ready and record[1] != key:
                        dep_ready, dep_pred = record[0], record[2]
                    if record[3] > dep_ready:
                        dep_ready, dep_pred = record[3], record[4]
            elif exact:
                reads = []
                for operand in inputs:
                    region = operand[5]
                    if region is None:
                        continue
                    record = read_of(region)
                    if record is None:
                        alloc = region[0]
                        single = singles_get(alloc)
                        if single is None:
                            ra = read_missed(region, tables_get(alloc), outputs)
                        else:
                            # a tile written once: its box itself or a slice inside it
                            box = single[0]
                            if box == region or (box[1] <= region[1] < region[2] <= box[2]
                                                 and box[3] <= region[3] < region[4] <= box[4]):
                                ra = single[1]
                            else:  # another box of the allocation: it needs a table
                                ra = read_missed(region, table_of(alloc), outputs)
                        if ra.__class__ is tuple:  # a read across several boxes: their records
                            psum_exempt = exempt and operand[1] == _PSUM
                            for record in ra:
                                if record[0] > dep_ready and not (psum_exempt and record[1] == key):
                                    dep_ready, dep_pred = record[0], record[2]
                            reads.extend(ra)
                            continue
                        record = ra
                    if record[0] > dep_ready and not (exempt and record[1] == key and operand[1] == _PSUM):
                        dep_ready, dep_pred = record[0], record[2]
                    reads.append(record)
                outputs_left = True
            else:
                dep_ready, dep_pred, reads = tracker.wait(inputs, outputs, key, exempt, unordered)
                outputs_left = False
            if outputs_left:
                for operand in outputs:
                    region = operand[5]
                    if region is None:
                        continue
                    # a tile written once first (no remembered answer names its box: it has no table)
                    alloc = region[0]
                    single = singles_get(alloc)
                    if single is None:
                        record = rewrite_of(region)
                        if record is None:
                            table = tables_get(alloc)
                    elif single[0] == region:
                        # a tile written once, rewritten whole: in place (its only box)
                        record = single[1]
                    else:
                        record = None
                        table = table_of(alloc)
                    if record is None:
                        if table is None and alloc in unwritten:
                            table = materialize(alloc)  # its reads, logged (read before written)
                        if table is None:  # a new tile: a single box once written, if not empty
                            if region[1] < region[2] and region[3] < region[4]:
                                new_tile = region
                            continue
                        records = table.records
                        record = records.get(region)
                        if record is None or not (table.disjoint or len(records) == 1):
                            # the tracker's full query: every record the box overlaps
                            if record is None and table.disjoint:
                                # a new box of a disjoint table (a load into a buffer's next tile):
                                # the boxes it overlaps, not remembered in the table's memo (_found
                                # would: its insert below drops the memo)
                                boxes = table.overlapping_boxes(region)
                                if not boxes:
                                    fresh, fresh_box = table, region
                                    continue
                                found = [records[o] for o in boxes]
                            else:
                                found = found_in(table, region)
                            unordered_here = unordered and operand[1] == _HBM
                            for record in found:
                                if (record[0] > dep_ready and record[1] != key
                                        and not (unordered_here and record[1] < 0)):
                                    dep_ready, dep_pred = record[0], record[2]
                                if record[3] > dep_ready:
                                    dep_ready, dep_pred = record[3], record[4]
                            continue
                        if table.disjoint:
                            # rewritten in place unless another box starts at the same byte
                            # (RegionTracker.write then moves it after that box)
                            starts = table.starts
                            i = 1 if len(starts) == 1 else bisect_left(starts, region[3]) + 1
                            if i == len(starts) or starts[i] != region[3]:
                                resolved_rewrites[region] = record
                                table.cached.append(region)
                                rewritten = record
                    else:
                        rewritten = record
                    if record[0] > dep_ready and record[1] != key and not (
                            unordered and record[1] < 0 and operand[1] == _HBM):
                        dep_ready, dep_pred = record[0], record[2]
                    if record[3] > dep_ready:
                        dep_ready, dep_pred = record[3], record[4]
                if len(outputs) != 1:
                    rewritten = fresh = new_tile = None
            if code < 0:
                start, end = self._place_dma(instruction, plan, state, core, index, dep_ready, dep_pred)
                ready = end
            else:
                free = engine_free[code]
                if dep_pred >= 0 and dep_ready + overhead_ns >= free:
                    start, pred, reason = dep_ready + overhead_ns, dep_pred, _DEPENDENCY
                elif free > 0.0:
                    start, pred, reason = free, engine_last[code], _QUEUE
                else:
                    start, pred, reason = 0.0, -1, _FREE
                if ports:
                    for port in ports:
                        if port_free[port] > start:
                            start, pred, reason = port_free[port], port_last[port], _QUEUE
                exposed = False
                if loads_stationary:
                    stationary = region_a if pair else inputs[0][5]  # (a tuple index, not the named field)
                    # LoadStationary overlaps the multiply running before it; on an idle array (the
                    # first matmul, or one that waited for data) it is exposed.
                    if stationary is None or stationary != state.last_stationary:
                        exposed = start > free or engine_last[code] < 0
                        state.last_stationary = stationary
                if exposed:
                    end = start + issue_ns + load_stationary_ns
                    ready = start + complete_ns + load_stationary_ns
                else:
                    # (no "+ 0.0": the same floats, two additions and their objects fewer; a sum of
                    # times is never -0.0, the one value "+ 0.0" would change)
                    end = start + issue_ns
                    ready = start + complete_ns
                engine_free[code] = end
                engine_last[code] = index
                if ports:  # (most engines share none: no iterator over an empty tuple)
                    for port in ports:
                        port_free[port] = end
                        port_last[port] = index
                # the ScheduledInstruction as its row (every field in order; the object is made when
                # the result's instructions are read)
                append((instruction, track, core, start, end, ready, pred, reason, work_ns, 0.0, 0.0, 0.0, (),
                        flops, 0, 0, 0.0))
                # the busy time and FLOPs of _result, summed here in the same order
                busy[code] += end - start
                total_flops += flops
            if ready > latest:  # (strictly: the first row to finish last)
                latest, latest_row = ready, index
            # RegionTracker.finish, inline: the reads last until the end, the writes are ready at
            # ready; rewriting one box of a disjoint table replaces its record in place.
            if reads is None:  # (a pair's two reads)
                if end > ra[3]:
                    ra[3] = end
                    ra[4] = index
                if end > rb[3]:
                    rb[3] = end
                    rb[4] = index
            else:
                for record in reads:
                    if end > record[3]:
                        record[3] = end
                        record[4] = index
            if rewritten is not None and not meetings:
                # the one output's box, found above: rewritten in place, the same list, so that
                # the remembered answers naming it stay true (an open collective meeting may hold
                # the old record in its reads: then a new list, as below)
                rewritten[0] = ready
                rewritten[1] = key
                rewritten[2] = index
                rewritten[3] = 0.0
                rewritten[4] = -1
            elif fresh is not None:
                # a new box of a disjoint table that overlaps no record (found above; nothing
                # changed the table since): RegionTracker.write would drop nothing and insert it
                fresh.insert(fresh_box, [ready, key, index, 0.0, -1])
            elif new_tile is not None:
                # the one output's new tile (found above; nothing made its allocation since)
                singles[new_tile[0]] = (new_tile, [ready, key, index, 0.0, -1])
            else:
                for operand in outputs:
                    region = operand[5]
                    if region is None:
                        continue
                    table = tables_get(region[0])
                    if table is None:
                        if region[0] in singles:
                            table = table_of(region[0])
                            assert table is not None  # (made of the single box)
                        else:  # a fresh tile (RegionTracker.write, inline): a single box if not empty
                            record = [ready, key, index, 0.0, -1]
                            if exact and region[1] < region[2] and region[3] < region[4]:
                                singles[region[0]] = (region, record)
                            else:
                                table = tables[region[0]] = new(_Table)  # _Table(...), as above
                                table_init(table, resolved, region, record)
                            continue
                    if table.disjoint:
                        records = table.records
                        if region in records:
                            # rewriting one box of a disjoint table: in place unless another box
                            # starts at the same byte (RegionTracker.write)
                            starts = table.starts
                            i = bisect_left(starts, region[3])
                            if i + 1 == len(starts) or starts[i + 1] != region[3]:
                                records[region] = [ready, key, index, 0.0, -1]
                                if table.cached:
                                    table.forget()  # another record object for the box
                                continue
                    tracker.write(region, [ready, key, index, 0.0, -1])
            # _psum_touch, inline for a region seen before: a PSUM bank is busy from the start
            # until its outputs are ready and its inputs read
            if psum_outputs:
                for j in psum_outputs:
                    region = region_c if pair else outputs[j][5]
                    if region is last_psum:
                        span = last_span
                        if span is not None:
                            if start < span[0]:
                                span[0] = start
                            if ready > span[1]:
                                span[1] = ready
                            continue
                        spans = last_spans
                        if len(spans) == 1:  # (found again: its one span, for the next time)
                            last_span = spans[0]
                    elif region is None:
                        continue
                    else:
                        spans = spans_get(region)
                        if spans is None:
                            first_bank = region[3] // bank_bytes
                            if (region[4] - 1) // bank_bytes <= first_bank:
                                # a new PSUM tile in one bank (most, written first): its span, as
                                # _psum_bank_spans makes it, without the call
                                live_key = (core, region[0], first_bank)
                                span = live_get(live_key)
                                if span is None:
                                    span = psum_live[live_key] = [_INF, -_INF]
                                spans = psum_spans[region] = [span]
                                # its one span, for the next time (as a region found again keeps it)
                                last_psum, last_spans, last_span = region, spans, span
                                if start < span[0]:
                                    span[0] = start
                                if ready > span[1]:
                                    span[1] = ready
                                continue
                            else:
                                spans = psum_spans[region] = self._psum_bank_spans(core, region)
                        last_psum, last_spans, last_span = region, spans, None
                    for span in spans:
                        if start < span[0]:
                            span[0] = start
                        if ready > span[1]:
                            span[1] = ready
            if psum_inputs:
                for j in psum_inputs:
                    region = (region_b if j else region_a) if pair else inputs[j][5]
                    if region is last_psum:
                        span = last_span
                        if span is not None:
                            if start < span[0]:
                                span[0] = start
                            if end > span[1]:
                                span[1] = end
                            continue
                        spans = last_spans
                        if len(spans) == 1:  # (found again: its one span, for the next time)
                            last_span = spans[0]
                    elif region is None:
                        continue
                    else:
                        spans = spans_get(region)
                        if spans is None:
                            spans = psum_spans[region] = self._psum_bank_spans(core, region)
                        last_psum, last_spans, last_span = region, spans, None
                    for span in spans:
                        if start < span[0]:
                            span[0] = start
                        if end > span[1]:
                            span[1] = end
        self.flops = total_flops
        self.latest_ready, self.latest_row = latest, latest_row
        return start

    def _place_dma(self, instruction: Instruction, plan: DmaPlan, state: _CoreState, core: int, index: int,
                   dep_ready: float, dep_pred: int) -> tuple[float, float]:
        """Place the parts of a DMA transfer on the queues free first; return its start and end."""
        queue_free = state.queue_free
        queue_last = state.queue_last
        count = plan.parts
        rate = plan.rate_bytes_per_ns
        fixed_ns = plan.fixed_ns
        nominal_ns = plan.part_bytes / rate
        calendar = self.hbm.get(core) if plan.hbm_crossings else None
        if calendar is not None:
            # The parts of one transfer share the core's HBM bandwidth fairly.
            hbm_rate = min(rate * plan.hbm_crossings, self.hbm_share_bytes_per_ns / count)
            hbm_part_bytes = plan.part_bytes * plan.hbm_crossings
        busy = state.queue_busy
        first = queue_free[0]
        known = state.queue_order
        if known is not None:
            # the queues in the order they are free, as the last transfer left them (no sort)
            order: Sequence[int] = known[:count]
            first, last = queue_free[order[0]], queue_free[order[-1]]
        elif queue_free.count(first) == len(queue_free):
            # Every queue free at the same time (as after a transfer split over all of them): the
            # parts take the first queues (a stable sort of equal times).
            known = range(len(queue_free))
            order = range(count)
            last = first
        else:
            # the queues free first (a stable sort: ties by queue number)
            known = sorted(range(len(queue_free)), key=queue_free.__getitem__)
            order = known[:count]
            first, last = queue_free[order[0]], queue_free[order[-1]]
        start = dep_ready if dep_ready > first else first  # max(first, dep_ready)
        if calendar is None and start == (dep_ready if dep_ready > last else last):
            # Every part starts at the same time (the queues' free times are sorted, so the first
            # and last part start together only if all do) and so runs alike: what the loop
            # below decides at its first part (the others change nothing).
            data_start = start + fixed_ns
            end = data_start + nominal_ns
            start_min = start if start < _INF else _INF
            last_end = -1.0
            pred, reason, hbm_wait = -1, _FREE, 0.0
            if end > last_end:
                last_end = end
                waited = end - data_start - nominal_ns
                hbm_wait = waited if waited > 0.0 else 0.0
                if dep_pred >= 0 and dep_ready >= first:
                    pred, reason = dep_pred, _DEPENDENCY
                elif first > 0.0:
                    pred, reason = queue_last[order[0]], _QUEUE
            span = end - start
            for queue in order:
                queue_free[queue] = end
                queue_last[queue] = index
                busy[queue] += span
            # The order for the next transfer, without a sort: the other queues keep theirs, and
            # the ones just taken, all free at ``end``, follow those free earlier, by number among
            # those free at ``end`` too; where another queue is free later, a sort next time.
            rest = known[count:]
            if not rest or queue_free[rest[-1]] < end:
                state.queue_order = [*rest, *sorted(order)]
            else:
                i = len(rest)
                while i and queue_free[rest[i - 1]] == end:
                    i -= 1
                state.queue_order = [*rest[:i], *sorted([*rest[i:], *order])] if i < len(rest) else None
            # the parts as one tuple (result.SAME_TIME_PARTS: their tuples are made when read)
            parts: Any = (SAME_TIME_PARTS, order, start, end)
        else:
            parts = []
            start_min = _INF
            last_end = -1.0
            pred, reason, hbm_wait = -1, _FREE, 0.0
            for queue in order:
                free = queue_free[queue]
                start = dep_ready if dep_ready > free else free  # max(free, dep_ready)
                data_start = start + fixed_ns
                if calendar is not None:
                    end = calendar.transfer(data_start, hbm_part_bytes, hbm_rate)
                else:
                    end = data_start + nominal_ns
                if end > last_end:
                    last_end = end
                    waited = end - data_start - nominal_ns
                    hbm_wait = waited if waited > 0.0 else 0.0  # max(0.0, waited)
                    if dep_pred >= 0 and dep_ready >= free:
                        pred, reason = dep_pred, _DEPENDENCY
                    elif free > 0.0:
                        pred, reason = queue_last[queue], _QUEUE
                    else:
                        pred, reason = -1, _FREE
                if start < start_min:
                    start_min = start
                queue_free[queue] = end
                queue_last[queue] = index
                parts.append((queue, start, end))
                # the queue busy time of _result, summed here in the same order
                busy[queue] += end - start
            parts = tuple(parts)
            state.queue_order = None  # (the parts end at different times: a sort next time)
        self.dma_bytes += plan.total_bytes
        hbm_bytes = plan.total_bytes * plan.hbm_crossings
        self.hbm_bytes += hbm_bytes
        self.out.append((instruction, "dma", core, start_min, last_end, last_end, pred, reason, 0.0, fixed_ns,
                         nominal_ns, hbm_wait, parts, 0.0, plan.total_bytes, hbm_bytes, 0.0))
        return start_min, last_end

    # -- the launch ----------------------------------------------------------------------------
    def run(self) -> TimelineResult:
        by_core: dict[int, list[Instruction]] = defaultdict(list)
        instructions = self.trace.instructions
        if self.core_ids <= {0}:
            # core 0 straight from the trace (the common case), the zero-fills folded as they come
            try:
                self._run_stream(instructions, 0, ZeroFills(self.trace))
            except _OtherCore:  # (taken to run on core 0 alone: it does not) the launch by core
                return _Simulation(self.trace, self.timing, self.options, self.models,
                                   {i.core for i in instructions}).run()
            return self._result()
        folded = folded_psum_zero_fills(self.trace)
        self.folded_zero_fills = len(folded)
        for position, instruction in enumerate(instructions):
            if instruction.engine != _NONE and position not in folded:
                by_core[instruction.core].append(instruction)
        if len(by_core) == 1:
            core, stream = next(iter(by_core.items()))
            self._run_stream(stream, core)
        elif by_core:
            self._run_cores(by_core)
        return self._result()

    def _run_cores(self, by_core: dict[int, list[Instruction]]) -> None:
        """Advance the core that is furthest behind, so HBM is booked about in time order.

        A core that arrived at a collective waits (parked) until the last member arrives. If every
        remaining core is parked, the earliest goes on: several ranks share that core, and its
        next instructions belong to a rank that has yet to arrive (the trace order guarantees it).
        """
        heap = [(0.0, core, 0) for core in sorted(by_core)]
        parked: dict[int, tuple[float, int]] = {}
        # (while True, not while heap or parked: CPython 3.11 specialises the code of a function
        # called once only after unconditional backward jumps, see analysis.critical_path_of_rows)
        while True:
            if not heap:
                if not parked:
                    break
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
        if self.any_collective or not out:
            readies = [row[5] for row in out]  # (ready_ns)
            latency = max(readies, default=0.0)
            last = None
        else:  # tracked while scheduling (the same float and row as max() and index() find)
            latency, last = self.latest_ready, self.latest_row
        # summed while scheduling, in the order of the schedule
        engine_busy = dict(zip(("tensor", "vector", "scalar", "gpsimd"), self.engine_busy, strict=True))
        flops, dma_bytes, hbm_bytes = self.flops, self.dma_bytes, self.hbm_bytes
        # every queue of every core that ran, by core and queue number
        queue_busy = {f"core{core}/q{queue}": busy_ns for core in sorted(self.cores)
                      for queue, busy_ns in enumerate(self.cores[core].queue_busy)}
        num_cores = max(1, len(self.cores))
        path = (critical_path_of_rows(out, readies, None) if last is None
                else critical_path_of_rows(out, None, False, last))
        hbm_bw = timing.chip.hbm_bandwidth_bytes_per_s.value
        hbm_utilization = hbm_bytes / (hbm_bw * latency * 1e-9) if latency > 0 else 0.0
        return RowTimelineResult(
            rows=out,
            kernel=self.trace.kernel,
            target=timing.target,
            latency_ns=latency,
            num_cores=num_cores,
            engine_busy_ns=engine_busy,
            queue_busy_ns=queue_busy,
            bound=classify_bound(path, hbm_utilization),
            critical_path_ns=path,
            flops=flops,
            dma_bytes=dma_bytes,
            hbm_bytes=hbm_bytes,
            tensor_peak_flops_per_s=timing.tensor_peak_flops_per_s * num_cores,
            hbm_bandwidth_bytes_per_s=hbm_bw,
            dma_queues_per_core=self.dma.queues,
            psum_banks_used=peak_psum_banks(self.psum_live, len(self.cores) == 1),  # (a key's core ran)
            folded_psum_zero_fills=self.folded_zero_fills,
        )


def _psum_positions(instruction: Instruction) -> tuple[_Ints, _Ints]:
    """Positions of the PSUM outputs and of the PSUM inputs of an instruction."""
    return (tuple(i for i, o in enumerate(instruction.outputs) if o.space == _PSUM),
            tuple(i for i, o in enumerate(instruction.inputs) if o.space == _PSUM))


@cache
def _shipped_timing(target: str) -> NeuronCoreTiming:
    """The shipped (not overridden) timing data of a target, loaded once: it is immutable."""
    return load_timing(target)


def check_simulate_arguments(trace: object, timing: object, options: object = None,
                             function: str = "simulate_trace") -> None:
    """One clear line for a wrong kind of argument (a public API misuse), before any work."""
    if not isinstance(trace, KernelTrace):
        raise wrong_argument(function, "trace", "a KernelTrace (trnsim.nki.trace_kernel)", trace)
    if not isinstance(timing, str | NeuronCoreTiming):
        raise wrong_argument(function, "timing", f"a target name ({', '.join(known_targets())}) or a "
                             "NeuronCoreTiming (load_timing)", timing)
    if options is not None and not isinstance(options, SimulationOptions):
        raise wrong_argument(function, "options", "a SimulationOptions or None", options)


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
    check_simulate_arguments(trace, timing, options)
    models = None
    if isinstance(timing, str):
        models = _shipped_models(timing)
        timing = _shipped_timing(timing)
    # The schedule adds a few objects per instruction next to the trace's ~10: the cyclic
    # collector would rescan the whole trace again and again (a third of the time on a 14k
    # instruction matmul). Nothing here makes reference cycles; the trace launch does the same.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Simulation(trace, timing, options or SimulationOptions(), models).run()
    finally:
        if gc_was_enabled:
            gc.enable()
