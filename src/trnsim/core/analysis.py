"""What bounds a kernel: the critical path through the schedule and its breakdown.

Every scheduled instruction remembers the instruction that decided its start (the previous
instruction of its queue, or the producer it waited for). Walking these links back from the
instruction that finishes last gives the critical path; each step's time is split into
compute, instruction overhead, DMA fixed cost, DMA data time and waiting for HBM.

The verdict (:class:`~trnsim.core.result.Bound`): the kind of time with at least half of the
path, where DMA data time counts as HBM-bound if the chip's HBM was at least 90 % busy over the
run and as DMA-bandwidth-bound otherwise; when no kind reaches half, the engines are waiting for
each other along a chain of dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import attrgetter, itemgetter

import numpy as np

from trnsim.core.result import ROW_INDEX, Bound, PathCategory, ScheduledInstruction, ScheduleRow

__all__ = ["classify_bound", "critical_path_breakdown", "critical_path_of_rows", "peak_psum_banks"]

#: Share of the critical path one kind of time needs to be called the bound.
DOMINANT_SHARE = 0.5
#: HBM utilisation over the run above which memory time is blamed on HBM rather than DMA queues.
HBM_SATURATED = 0.9
# Members as module names (a class attribute of an enum costs ~0.3 us on Python 3.11; these are
# looked up once per step of the critical path).
_COMPUTE, _OVERHEAD = PathCategory.COMPUTE, PathCategory.OVERHEAD
_DMA_FIXED, _DMA_DATA, _HBM_WAIT = PathCategory.DMA_FIXED, PathCategory.DMA_DATA, PathCategory.HBM_WAIT


#: A scheduled instruction as its row (every field, in order).
_ROW = attrgetter(*ROW_INDEX)
_START, _READY, _PREDECESSOR = (ROW_INDEX[name] for name in ("start_ns", "ready_ns", "predecessor"))
_COMPUTE_NS, _DMA_FIXED_NS, _DMA_DATA_NS, _HBM_WAIT_NS, _PARTS, _COLLECTIVE_NS = (
    ROW_INDEX[name]
    for name in ("compute_ns", "dma_fixed_ns", "dma_data_ns", "hbm_wait_ns", "parts", "collective_ns"))


def critical_path_breakdown(schedule: Sequence[ScheduledInstruction],
                            readies: Sequence[float] | None = None,
                            collectives: bool | None = None) -> dict[PathCategory, float]:
    """Time along the critical path by category, in ns (sums to the latency).

    ``readies`` may pass the instructions' ``ready_ns`` in order, and ``collectives`` whether any
    instruction is a collective (it adds that category), when the caller has them (with False, the
    walk reads no collective time: the instructions must have none).
    """
    return critical_path_of_rows([_ROW(item) for item in schedule], readies, collectives)


def critical_path_of_rows(schedule: Sequence[ScheduleRow], readies: Sequence[float] | None = None,
                          collectives: bool | None = None,
                          last: int | None = None) -> dict[PathCategory, float]:
    """:func:`critical_path_breakdown` of a schedule given as rows (as the scheduler records it).

    ``last`` may pass the position of the first row to finish last (``readies``' first maximum), when
    the caller kept it while scheduling.
    """
    totals: dict[PathCategory, float] = {c: 0.0 for c in PathCategory if c is not PathCategory.COLLECTIVE}
    if collectives is None:
        collectives = any(row[_COLLECTIVE_NS] for row in schedule)
    if collectives:
        totals[PathCategory.COLLECTIVE] = 0.0
    if not schedule:
        return totals
    if last is not None:
        index = last
        segment_end = schedule[last][_READY]
    else:
        if readies is None:
            readies = [row[_READY] for row in schedule]
        segment_end = max(readies)
        index = readies.index(segment_end)  # the first to finish last
    # _attribute, inline: each category summed in the order of the walk, as there
    compute = overhead = dma_fixed = dma_data = hbm_wait = collective = 0.0
    # the row positions as locals (a global look-up per step costs more than a local one)
    start_at, parts_at, compute_at, collective_at, predecessor_at = (
        _START, _PARTS, _COMPUTE_NS, _COLLECTIVE_NS, _PREDECESSOR)
    # (``while True`` and a break, not ``while index >= 0``: CPython 3.11 specialises a function's
    # code after 8 calls or unconditional backward jumps, and a loop closed by a conditional jump
    # never counts: this walk, run once per launch, stayed unspecialised, at 2-3x the cost)
    while True:
        row = schedule[index]
        start = row[start_at]
        left = segment_end - start
        if left < 0.0:
            left = 0.0
        if row[parts_at]:
            amount = row[_DMA_FIXED_NS]
            used = left if left < amount else amount  # min(amount, left)
            dma_fixed += used
            left -= used
            amount = row[_DMA_DATA_NS]
            used = left if left < amount else amount
            dma_data += used
            left -= used
            amount = row[_HBM_WAIT_NS]
            used = left if left < amount else amount
            hbm_wait += used
            left -= used
            # the rest is waiting for a busy queue: more DMA data ahead of this transfer
            dma_data += left
        elif collectives and row[collective_at]:  # (no row has a collective time where none ran)
            amount = row[collective_at]
            used = left if left < amount else amount
            collective += used
            overhead += left - used
        else:
            amount = row[compute_at]
            used = amount if amount < left else left
            compute += used
            overhead += left - used
        segment_end = start
        index = row[predecessor_at]
        if index < 0:
            break
    if segment_end > 0.0:
        overhead += segment_end
    totals[_COMPUTE] = compute
    totals[_OVERHEAD] = overhead
    totals[_DMA_FIXED] = dma_fixed
    totals[_DMA_DATA] = dma_data
    totals[_HBM_WAIT] = hbm_wait
    if collectives:
        totals[PathCategory.COLLECTIVE] = collective
    return totals


def classify_bound(path: dict[PathCategory, float], hbm_utilization: float) -> Bound:
    """The profiler's verdict from the critical-path breakdown."""
    total = sum(path.values())
    if total <= 0.0:
        return Bound.INSTRUCTION_OVERHEAD
    memory = path[PathCategory.DMA_DATA] + path[PathCategory.HBM_WAIT]
    candidates = {
        Bound.COMPUTE: path[PathCategory.COMPUTE],
        Bound.INSTRUCTION_OVERHEAD: path[PathCategory.OVERHEAD],
        Bound.DMA_FIXED_COST: path[PathCategory.DMA_FIXED],
        Bound.DMA_BANDWIDTH: memory,
        Bound.COLLECTIVE: path.get(PathCategory.COLLECTIVE, 0.0),
    }
    bound, amount = max(candidates.items(), key=lambda kv: kv[1])
    if amount < DOMINANT_SHARE * total:
        return Bound.DEPENDENCY_CHAIN
    if bound == Bound.DMA_BANDWIDTH and hbm_utilization >= HBM_SATURATED:
        return Bound.HBM
    return bound


def peak_psum_banks(live: dict[tuple[int, int, int], list[float]], one_core: bool = False) -> int:
    """Most PSUM banks of one core holding live data at the same time.

    ``live`` maps (core, allocation, bank within the allocation) to the span from its first to
    its last access. A span that ends when another starts does not overlap it. ``one_core`` says
    that every key names the same core, when the caller knows it (no pass over the keys).
    """
    if not live:
        return 0
    # (start, end) rows; the floats of the flattened spans read in C (np.array of the nested
    # lists costs four times as much)
    spans = np.fromiter(chain.from_iterable(live.values()), np.float64, 2 * len(live)).reshape(-1, 2)
    if one_core:
        return _peak_of(spans)
    cores = {key[0] for key in live}
    if len(cores) == 1:
        return _peak_of(spans)
    of_core = np.fromiter(map(itemgetter(0), live), np.int64, len(live))
    return max(_peak_of(spans[of_core == core]) for core in cores)


def _peak_of(spans: np.ndarray) -> int:
    """Most of ``spans`` (rows of start, end) open at once, ends counted before starts at equal
    times.

    The count only rises at a start, so the peak is the count just after some start: the starts
    up to it in time order less the ends at or before it (two sorts of floats and a bisection per
    start, in numpy, not a sort of (time, step) pairs).
    """
    starts = np.sort(spans[:, 0])
    ends = np.sort(spans[:, 1])
    open_after = np.arange(1, len(starts) + 1) - np.searchsorted(ends, starts, side="right")
    return max(0, int(open_after.max()))
