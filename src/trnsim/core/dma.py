"""DMA transfers: how one DMA instruction is split over a core's queues, and what each part costs.

A DMA instruction (``nl.load``, ``nl.store``, ``nisa.dma_copy``, ``dma_transpose`` ...) moves
``B`` bytes as descriptors of ``c`` contiguous bytes each (one per partition row or less). The
model, from [DMA] and [PG] in hardware.md:

* the transfer is split into ``k = min(queues, ceil(B / min_split_bytes), descriptors)`` equal
  parts, each on the queue that is free first;
* each part occupies its queue for the fixed cost (about 1,300 ns; 600 ns with the v3 hardware
  DGE) and then for its bytes at the queue's throughput times the descriptor efficiency
  ``c / (c + descriptor_overhead_bytes)`` (why small per-partition chunks are slow), times the
  transpose efficiency for transposing DMAs;
* a masked, out-of-bounds-guarded or index-array access carries its exact descriptor count in
  ``attrs["descriptors"]`` (the kernel layer counts the runs of selected elements); ``c`` is then
  the bytes moved over that count;
* parts that read or write HBM also draw on the core's share of the chip's HBM bandwidth
  (:class:`HbmCalendar`); the parts of one transfer share it fairly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import attrgetter

from trnsim.hardware.neuroncore_timing import NeuronCoreTiming
from trnsim.nki.trace import Instruction, MemorySpace

__all__ = ["DmaCostModel", "DmaPlan", "HbmCalendar"]

_TRANSPOSE_OPCODES = frozenset({"dma_transpose", "load_transpose2d"})
#: What a plan depends on of each operand (one C call per operand builds the memo key).
_OPERAND_KEY = attrgetter("space", "nbytes", "contiguous_bytes")


@dataclass(frozen=True, slots=True)
class DmaPlan:
    """How one DMA instruction runs."""

    total_bytes: int
    parts: int
    #: Bytes of one part.
    part_bytes: float
    #: Queue time per part before data flows.
    fixed_ns: float
    #: Bytes per ns of one queue for this transfer (descriptor and transpose efficiency applied).
    rate_bytes_per_ns: float
    #: How many times each byte crosses HBM (0 on-chip only, 1 load or store, 2 HBM to HBM).
    hbm_crossings: int


class DmaCostModel:
    """DMA parameters of one generation turned into per-instruction plans."""

    def __init__(self, timing: NeuronCoreTiming) -> None:
        dma = timing.dma
        self.queues = int(dma.queues_per_core.value)
        self._bytes_per_ns = dma.queue_bandwidth_bytes_per_s.value / 1e9
        self._fixed_ns = dma.fixed_cost_ns.value
        self._hwdge_ns = dma.hwdge_fixed_cost_ns.value
        self._descriptor_bytes = dma.descriptor_overhead_bytes.value
        self._split_bytes = max(1.0, dma.min_split_bytes.value)
        self._transpose_hbm = dma.transpose_efficiency_from_hbm.value
        self._transpose_sbuf = dma.transpose_efficiency_sbuf_to_sbuf.value
        self._cache: dict[tuple[object, ...], DmaPlan] = {}

    def plan(self, instruction: Instruction) -> DmaPlan:
        """Split and cost one DMA instruction (memoised on what the plan depends on)."""
        attrs = instruction.attrs
        ins, outs = instruction.inputs, instruction.outputs
        if len(ins) == 1 and len(outs) == 1 and not attrs:
            # one transfer without attributes (most loads and stores): one flat key, no nested tuples
            # (its length, 7, is no other key's: never the entry of another kind of transfer)
            a, c = ins[0], outs[0]
            flat = (instruction.opcode, a[1], a[4], a[6], c[1], c[4], c[6])
            cached = self._cache.get(flat)
            if cached is None:
                cached = self._cache[flat] = self._plan(instruction)
            return cached
        if len(ins) == 1 and len(outs) == 1:
            # one transfer (most DMA instructions), its operands' keys spelled out: the same tuples
            # as _OPERAND_KEY's (space, nbytes, contiguous_bytes are fields 1, 4 and 6)
            a, c = ins[0], outs[0]
            read: tuple[object, ...] = ((a[1], a[4], a[6]),)
            written: tuple[object, ...] = ((c[1], c[4], c[6]),)
        else:
            read, written = tuple(map(_OPERAND_KEY, ins)), tuple(map(_OPERAND_KEY, outs))
        key = (
            instruction.opcode,
            read,
            written,
            (str(attrs.get("transpose", "")), str(attrs.get("dge_mode", "")), attrs.get("descriptors"))
            if attrs else (),
        )
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._plan(instruction)
        return cached

    def _plan(self, instruction: Instruction) -> DmaPlan:
        ins, outs = instruction.inputs, instruction.outputs
        total = max(sum(o.nbytes for o in outs), sum(o.nbytes for o in ins), 0)
        operands = (*ins, *outs)
        chunk = min((o.contiguous_bytes for o in operands if o.contiguous_bytes > 0), default=total)
        chunk = max(1, min(chunk, total)) if total else 1
        descriptors = max(1, math.ceil(total / chunk)) if total else 1
        counted = instruction.attrs.get("descriptors")
        if counted and total:
            # the kernel layer counted the runs of a masked / guarded / gathered access
            descriptors = int(counted)
            chunk = max(1, total // descriptors)
        parts = max(1, min(self.queues, math.ceil(total / self._split_bytes), descriptors))
        efficiency = chunk / (chunk + self._descriptor_bytes)
        src = ins[0].space if ins else MemorySpace.SBUF
        dst = outs[0].space if outs else MemorySpace.SBUF
        if instruction.opcode in _TRANSPOSE_OPCODES or instruction.attrs.get("transpose"):
            efficiency *= self._transpose_hbm if MemorySpace.HBM in (src, dst) else self._transpose_sbuf
        hwdge = "hwdge" in str(instruction.attrs.get("dge_mode", "") or "")
        crossings = (src == MemorySpace.HBM) + (dst == MemorySpace.HBM)
        return DmaPlan(
            total_bytes=total,
            parts=parts,
            part_bytes=total / parts,
            fixed_ns=self._hwdge_ns if hwdge else self._fixed_ns,
            rate_bytes_per_ns=self._bytes_per_ns * efficiency,
            hbm_crossings=crossings,
        )


class HbmCalendar:
    """A share of HBM bandwidth, drawn on by DMA queues.

    Time is cut into buckets of ``bucket_ns``; each holds ``bandwidth × bucket_ns`` bytes. A
    transfer starting at ``t`` at up to ``rate`` bytes/ns takes what each bucket has left, so
    transfers that overlap in time share the bandwidth, and a transfer that arrives when HBM is
    saturated is slowed down. Buckets are independent of the order in which transfers are
    booked, which lets the scheduler book them in program order rather than time order.
    """

    def __init__(self, bandwidth_bytes_per_ns: float, bucket_ns: float) -> None:
        if bandwidth_bytes_per_ns <= 0 or bucket_ns <= 0:
            raise ValueError("HBM bandwidth and bucket size must be positive")
        self.bucket_ns = bucket_ns
        self.capacity_bytes = bandwidth_bytes_per_ns * bucket_ns
        self._used: dict[int, float] = {}
        self.booked_bytes = 0.0

    def transfer(self, start_ns: float, nbytes: float, rate_bytes_per_ns: float) -> float:
        """Book ``nbytes`` starting at ``start_ns`` at most at ``rate``; return the end time."""
        if nbytes <= 0:
            return start_ns
        self.booked_bytes += nbytes
        width = self.bucket_ns
        cap = self.capacity_bytes
        used = self._used
        t = start_ns
        index = int(t // width)
        remaining = nbytes
        while True:
            bucket_end = (index + 1) * width
            span = bucket_end - t
            if span <= 0.0:  # float rounding at a bucket edge
                index += 1
                continue
            taken = used.get(index, 0.0)
            # Capacity left in the rest of this bucket (bookings are spread evenly over it).
            available = min(cap - taken, cap * span / width)
            if available <= 0.0:
                index += 1
                t = bucket_end
                continue
            movable = min(rate_bytes_per_ns * span, available)
            if remaining <= movable:
                used[index] = taken + remaining
                effective_rate = min(rate_bytes_per_ns, available / span)
                return t + remaining / effective_rate
            used[index] = taken + movable
            remaining -= movable
            index += 1
            t = bucket_end
