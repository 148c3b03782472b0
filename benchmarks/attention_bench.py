"""Flash-attention kernels on the chip model: share of TensorE peak, bound, busy engines.

Traces ``flash_attention_fwd`` and ``flash_attention_bwd`` in timing-only mode at
(batch 1, heads 8, kv_heads 8 and 2, seq 4096, head_dim 128, causal, bf16) and simulates each
trace on trn1 and trn2 with ``trnsim.core.simulate_trace``. Prints per row: instructions,
trace wall time, predicted latency, TensorE utilisation (executed matmul FLOPs over the peak),
the bound and the busy fraction of each engine and of the busiest DMA queue.

    PYTHONPATH=src python benchmarks/attention_bench.py [--kernels fwd,bwd] [--targets trn1,trn2]
        [--seq 4096] [--kv-heads 8,2]
"""

from __future__ import annotations

import sys
import time

from trnsim import nki
from trnsim.core import simulate_trace
from trnsim.kernels import registry


def _arg(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv: list[str]) -> int:
    kernels = _arg(argv, "--kernels", "fwd,bwd").split(",")
    targets = _arg(argv, "--targets", "trn1,trn2").split(",")
    seq = int(_arg(argv, "--seq", "4096"))
    kv_list = [int(x) for x in _arg(argv, "--kv-heads", "8,2").split(",")]
    print("| kernel | kv_heads | target | instructions | trace s | latency ms | TensorE % of peak "
          "| bound | busy tensor/vector/scalar/gpsimd/max DMA queue |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in kernels:
        entry = registry.get(f"flash_attention_{kind}")
        for kvh in kv_list:
            shape = {"batch": 1, "heads": 8, "kv_heads": kvh, "seq_q": seq, "seq_k": seq,
                     "head_dim": 128, "causal": 1}
            args = entry.make_args(shape, "bfloat16")
            for target in targets:
                start = time.perf_counter()
                trace = nki.trace_kernel(entry.kernel, *args, target=target, timing_only=True)
                trace_s = time.perf_counter() - start
                result = simulate_trace(trace, target)
                busy = result.engine_busy_fraction()
                queue = max(result.queue_busy_fraction().values(), default=0.0)
                engines = "/".join(f"{100 * busy.get(e, 0.0):.0f}"
                                   for e in ("tensor", "vector", "scalar", "gpsimd"))
                print(f"| {kind} | {kvh} | {target} | {len(trace):,} | {trace_s:.1f} | "
                      f"{result.latency_ns / 1e6:.3f} | {100 * result.tensor_utilization:.1f} | "
                      f"{result.bound} | {engines}/{100 * queue:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
