"""Perfetto extras for a predicted timeline: dependency flow arrows and counter tracks.

- A flow arrow runs from the instruction whose result (or whose reading of an output) made an
  instruction wait (``StartReason.DEPENDENCY``, ``predecessor``) to the waiting instruction.
- Counter tracks per core: SBUF and PSUM bytes in use over time and the core's HBM bandwidth.
  An on-chip allocation counts as in use from the start of the first instruction touching it to
  the end of the last one, at the size of the bounding box of its accesses (partitions × bytes per
  partition): the trace records accesses, not allocation calls. HBM bandwidth spreads each DMA's
  HBM bytes evenly over its span.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from trnsim.core.result import ScheduledInstruction, StartReason, TimelineResult
from trnsim.nki.trace import MemorySpace

__all__ = ["counter_events", "flow_events", "slice_anchor"]


def slice_anchor(item: ScheduledInstruction, engine_tids: dict[str, int],
                 queue_tid0: int) -> tuple[int, float]:
    """The track (tid) and start time (µs) of an instruction's first slice."""
    if item.parts:
        queue, start, _ = item.parts[0]
        return queue_tid0 + queue, start / 1e3
    return engine_tids[item.track], item.start_ns / 1e3


def _last_slice(item: ScheduledInstruction, engine_tids: dict[str, int],
                queue_tid0: int) -> tuple[int, float]:
    if item.parts:
        queue, start, end = max(item.parts, key=lambda p: p[2])
        return queue_tid0 + queue, (start + end) / 2e3  # inside the slice, so the arrow binds to it
    return engine_tids[item.track], (item.start_ns + item.end_ns) / 2e3


def flow_events(result: TimelineResult, pid_of: Any, engine_tids: dict[str, int], queue_tid0: int,
                id_base: int) -> list[dict[str, Any]]:
    """One flow (s → f) per instruction that waited on a dependency, from its predecessor."""
    events: list[dict[str, Any]] = []
    for index, item in enumerate(result.instructions):
        if item.reason is not StartReason.DEPENDENCY or item.predecessor < 0:
            continue
        before = result.instructions[item.predecessor]
        tid_from, ts_from = _last_slice(before, engine_tids, queue_tid0)
        tid_to, ts_to = slice_anchor(item, engine_tids, queue_tid0)
        flow = {"name": "waits for", "cat": "dependency", "id": id_base + index}
        events.append({**flow, "ph": "s", "pid": pid_of(before.core), "tid": tid_from, "ts": ts_from})
        events.append({**flow, "ph": "f", "bp": "e", "pid": pid_of(item.core), "tid": tid_to, "ts": ts_to})
    return events


def _steps(changes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Running sums of (time ns, delta) changes: the counter's value after each distinct time."""
    out: list[tuple[float, float]] = []
    value = 0.0
    for time_ns, delta in sorted(changes):
        value += delta
        if out and out[-1][0] == time_ns:
            out[-1] = (time_ns, value)
        else:
            out.append((time_ns, value))
    return out


def counter_events(result: TimelineResult, pid_of: Any) -> list[dict[str, Any]]:
    """SBUF/PSUM bytes in use and HBM GB/s, one counter ("C") series per core."""
    # (core, space, alloc) -> [first start, last end, partition lo, hi, byte lo, hi]
    live: dict[tuple[int, str, int], list[float]] = {}
    hbm: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for item in result.instructions:
        for operand in (*item.instruction.inputs, *item.instruction.outputs):
            region = operand.region
            if region is None or operand.space not in (MemorySpace.SBUF, MemorySpace.PSUM):
                continue
            key = (item.core, str(operand.space), region.alloc_id)
            box = live.setdefault(key, [item.start_ns, item.end_ns, region.partition_start,
                                        region.partition_stop, region.byte_start, region.byte_stop])
            box[0], box[1] = min(box[0], item.start_ns), max(box[1], item.end_ns)
            box[2], box[3] = min(box[2], region.partition_start), max(box[3], region.partition_stop)
            box[4], box[5] = min(box[4], region.byte_start), max(box[5], region.byte_stop)
        if item.hbm_bytes and item.end_ns > item.start_ns:
            rate = item.hbm_bytes / (item.end_ns - item.start_ns)  # bytes/ns = GB/s
            hbm[item.core] += [(item.start_ns, rate), (item.end_ns, -rate)]
    usage: dict[tuple[int, str], list[tuple[float, float]]] = defaultdict(list)
    for (core, space, _), (first, last, p0, p1, b0, b1) in live.items():
        size = float((p1 - p0) * (b1 - b0))
        usage[(core, space)] += [(first, size), (last, -size)]
    events: list[dict[str, Any]] = []
    for (core, space), changes in sorted(usage.items()):
        name = f"{space.upper()} in use (bytes)"
        events += [{"ph": "C", "name": name, "pid": pid_of(core), "ts": t / 1e3, "args": {"bytes": v}}
                   for t, v in _steps(changes)]
    for core, changes in sorted(hbm.items()):
        events += [{"ph": "C", "name": "HBM bandwidth (GB/s)", "pid": pid_of(core), "ts": t / 1e3,
                    "args": {"GB/s": max(0.0, v)}} for t, v in _steps(changes)]
    return events
