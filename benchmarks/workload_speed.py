"""How fast the planner can call this layer: step graphs, memory, and timed steps per second.

Run: ``PYTHONPATH=src python benchmarks/workload_speed.py``
"""

from __future__ import annotations

import time

from trnsim.devicetime.timing import time_step
from trnsim.hardware.catalog import load_system
from trnsim.workload.estimate import estimate_device_step
from trnsim.workload.graph import build_step
from trnsim.workload.memory import estimate_memory
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute
from trnsim.workload.shard import Shard


def _rate(label: str, fn, n: int) -> None:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    elapsed = time.perf_counter() - start
    print(f"{label:<55} {n / elapsed:>10,.0f} /s  ({elapsed / n * 1e6:,.1f} us each)")


def main() -> None:
    model = load_model("llama3-70b")
    shards = [Shard(tp=tp, sequence_parallel=tp > 1, layers=80 // pp, has_embedding=True, has_lm_head=True)
              for tp in (1, 2, 4, 8) for pp in (1, 2, 4, 5, 8, 10, 16, 20)]
    build_step.cache_clear()
    _rate("build_step, new arguments (uncached)",
          lambda i: build_step(model, shards[i % len(shards)], 1 + i // len(shards), 4096), 256)
    _rate("build_step, repeated arguments (cached)",
          lambda i: build_step(model, shards[i % 8], 1, 4096), 10_000)
    _rate("estimate_memory (cached graph)",
          lambda i: estimate_memory(model, shards[i % 8], 8, 1, 1, 4096), 5_000)
    system = load_system("p5")
    graph = build_step(model, shards[3], 1, 4096, recompute=Recompute.SELECTIVE)
    _rate("time_step on p5 (analytic)", lambda i: time_step(graph, system), 500)
    trn2 = load_system("trn2")
    _rate("time_step on trn2 (auto: cache/table/roofline)", lambda i: time_step(graph, trn2), 500)
    _rate("estimate_device_step on p5, varying shard",
          lambda i: estimate_device_step(model, system, 1, 4096, shard=shards[i % len(shards)]), 200)


if __name__ == "__main__":
    main()
