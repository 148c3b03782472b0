"""Speed of the NeuronCore performance model (trnsim.core).

Prints simulated instructions per second on a hand-generated blocked-matmul trace (the model
alone), and, when the kernel layer and kernel library are installed, the wall time to trace and
time the library's fully blocked [4096x8192] @ [8192x8192] bf16 matmul on trn1 (target: < 10 s
on a 2-core machine).

    PYTHONPATH=src python benchmarks/core_speed.py
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_matmul import blocked_matmul_trace
from trnsim.core import simulate_trace
from trnsim.errors import TrnsimError

M, K, N = 4096, 8192, 8192


def model_speed() -> None:
    trace = blocked_matmul_trace(M, K, N, target="trn1")
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = simulate_trace(trace, "trn1")
        best = min(best, time.perf_counter() - start)
    print(f"synthetic blocked matmul trace: {len(trace):,} instructions simulated in {best:.2f} s "
          f"= {len(trace) / best:,.0f} instructions/s (best of 3)")
    print(f"  predicted {result.latency_ns / 1e6:.3f} ms, TensorE {100 * result.tensor_utilization:.1f} % "
          f"of peak, bound: {result.bound}")


def library_matmul() -> None:
    try:
        nki = importlib.import_module("trnsim.nki")
        registry = importlib.import_module("trnsim.kernels.registry")
        trace_kernel = nki.trace_kernel
    except (ImportError, AttributeError) as error:
        print(f"library matmul: skipped ({error}); needs trnsim.nki.trace_kernel and trnsim.kernels")
        return
    for name in ("matmul_fully_blocked", "matmul_blocked_free"):
        entry = registry.get(name)
        args = entry.make_args({"m": M, "k": K, "n": N}, "bfloat16")
        start = time.perf_counter()
        try:
            trace = trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
            break
        except TrnsimError as error:
            print(f"library {name}: the kernel fails to trace: {error}")
    else:
        return
    traced = time.perf_counter()
    result = simulate_trace(trace, "trn1")
    done = time.perf_counter()
    total = done - start
    print(f"{name} [{M}x{K}]@[{K}x{N}] bf16 on trn1: {len(trace):,} instructions; "
          f"trace {traced - start:.2f} s + timing {done - traced:.2f} s = {total:.2f} s "
          f"({total / 10.0:.2f} of the 10 s budget); timing alone {len(trace) / (done - traced):,.0f} "
          "instructions/s")
    print(f"  predicted {result.latency_ns / 1e6:.3f} ms, TensorE {100 * result.tensor_utilization:.1f} % "
          f"of peak, bound: {result.bound}")


if __name__ == "__main__":
    model_speed()
    library_matmul()
