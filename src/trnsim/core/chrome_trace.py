"""Chrome / Perfetto trace of predicted timelines (opens in ui.perfetto.dev or chrome://tracing).

One process per kernel launch and core, one thread (track) per engine and per DMA queue, one
complete ("X") slice per instruction (per queue part for DMAs) named after the opcode, with the
source line and the costs in its arguments. Flow arrows point from the instruction a waiting
instruction depended on to it, and counter tracks show SBUF/PSUM bytes in use and HBM bandwidth
(:mod:`trnsim.core.trace_counters`). Times are in microseconds, as the format expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trnsim.core.errors import wrong_argument
from trnsim.core.result import TimelineResult
from trnsim.core.trace_counters import counter_events, flow_events

__all__ = ["chrome_trace"]

_ENGINE_TIDS = {"tensor": 0, "vector": 1, "scalar": 2, "gpsimd": 3}
#: Collectives (their queue has no name row: most launches have none).
_COLLECTIVE_TID = 4
_ENGINE_NAMES = {"tensor": "TensorE", "vector": "VectorE", "scalar": "ScalarE", "gpsimd": "GpSimdE"}
_QUEUE_TID0 = 10
#: Process ids of one launch are launch_index × this + core.
_PID_STRIDE = 100


def chrome_trace(results: Sequence[TimelineResult]) -> dict[str, Any]:
    """The Trace Event Format document of one or more launches (JSON-serialisable)."""
    if not isinstance(results, Sequence) or not all(isinstance(r, TimelineResult) for r in results):
        raise wrong_argument("chrome_trace", "results", "a sequence of TimelineResults (simulate_trace)",
                             results)
    events: list[dict[str, Any]] = []
    for launch, result in enumerate(results):
        cores = sorted({s.core for s in result.instructions}) or [0]
        for core in cores:
            pid = launch * _PID_STRIDE + core
            label = f"#{launch} {result.kernel} on {result.target} core {core}"
            events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": label}})
            events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}})
            for track, tid in _ENGINE_TIDS.items():
                events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                               "args": {"name": _ENGINE_NAMES[track]}})
            for queue in range(result.dma_queues_per_core):
                events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": _QUEUE_TID0 + queue,
                               "args": {"name": f"DMA queue {queue}"}})
        for item in result.instructions:
            ins = item.instruction
            pid = launch * _PID_STRIDE + item.core
            args = {"source": f"{ins.source_file}:{ins.source_line}", "seq": ins.seq,
                    "reason": str(item.reason)}
            if item.parts:
                args["bytes"] = item.nbytes
                for queue, start, end in item.parts:
                    events.append({"ph": "X", "name": ins.opcode, "cat": "dma", "pid": pid,
                                   "tid": _QUEUE_TID0 + queue, "ts": start / 1e3,
                                   "dur": (end - start) / 1e3, "args": args})
            else:
                if item.flops:
                    args["flops"] = item.flops
                tid = _ENGINE_TIDS.get(item.track, _COLLECTIVE_TID)
                events.append({"ph": "X", "name": ins.opcode, "cat": item.track, "pid": pid,
                               "tid": tid, "ts": item.start_ns / 1e3,
                               "dur": (item.end_ns - item.start_ns) / 1e3, "args": args})

        def pid_of(core: int, launch: int = launch) -> int:
            return launch * _PID_STRIDE + core

        events += flow_events(result, pid_of, _ENGINE_TIDS, _QUEUE_TID0, id_base=launch * 10_000_000)
        events += counter_events(result, pid_of)
    return {"traceEvents": events, "displayTimeUnit": "ns"}
