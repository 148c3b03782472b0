"""Speed of the NeuronCore performance model (trnsim.core).

Prints simulated instructions per second on a hand-generated blocked-matmul trace (the model
alone), and, when the kernel layer and kernel library are installed, the wall time to trace and
time the library's fully blocked [4096x8192] @ [8192x8192] bf16 matmul on trn1 (target: < 10 s
on a 2-core machine).

    PYTHONPATH=src python benchmarks/core_speed.py
    PYTHONPATH=src python benchmarks/core_speed.py --baseline REV [--pairs N]

With ``--baseline`` it measures the chip model alone against a git revision, interleaved: the
working tree traces a few kernels once (timing-only) and pickles them; one long-lived worker
process per source tree (the revision's ``src`` from ``git archive``, and the working tree)
simulates them on trn1, and the two are asked alternately, one simulation at a time, so that both
see the same machine state (this VM's speed drifts up to 2x between minutes). It prints, per
kernel, each tree's best and median CPU time and the median and quartiles of the per-pair ratios
baseline / new. The trace format (``trnsim.nki.trace``) must be the same in both trees.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
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


#: Kernels the interleaved comparison simulates: (label, registry name, parameters, dtype).
AB_KERNELS: list[tuple[str, str, dict[str, int], str]] = [
    ("fully blocked matmul 2048x4096x8192", "matmul_fully_blocked", {"m": 2048, "k": 4096, "n": 8192},
     "bfloat16"),
    ("flash attention fwd 4 heads 2048", "flash_attention_fwd",
     {"batch": 1, "heads": 4, "kv_heads": 1, "seq_q": 2048, "seq_k": 2048, "head_dim": 128}, "bfloat16"),
]


def _serve() -> None:
    """Worker: load the pickled traces named on stdin's first line, then time one per request."""
    from trnsim.core import simulate_trace as simulate

    traces = {}
    for line in sys.stdin:
        name = line.strip()
        if name not in traces:
            with open(name, "rb") as handle:
                traces[name] = pickle.load(handle)
            simulate(traces[name], "trn1")  # warm the shared cost models
        start = time.process_time()
        simulate(traces[name], "trn1")
        print(time.process_time() - start, flush=True)


def interleaved(baseline: str, pairs: int) -> None:
    from kernel_sim_speed import compared_sources
    from trnsim.kernels import registry
    from trnsim.nki import trace_kernel

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for label, name, params, dtype in AB_KERNELS:
            entry = registry.get(name)
            args = entry.make_args(params, dtype)
            trace = trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
            path = Path(tmp) / f"{name}.pkl"
            path.write_bytes(pickle.dumps(trace))
            files.append((label, len(trace), path))
        sources = compared_sources(baseline, Path(tmp))
        workers = {
            label: subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True,
                                    env={**os.environ, "PYTHONPATH": str(src)})
            for label, src in sources.items()}

        def ask(label: str, path: Path) -> float:
            worker = workers[label]
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(f"{path}\n")
            worker.stdin.flush()
            return float(worker.stdout.readline())

        print(f"chip model alone on trn1, baseline {baseline} vs working tree, {pairs} interleaved pairs; "
              "CPU seconds")
        try:
            for label, count, path in files:
                times: dict[str, list[float]] = {"baseline": [], "new": []}
                for i in range(pairs):
                    for tree in ("baseline", "new") if i % 2 == 0 else ("new", "baseline"):
                        times[tree].append(ask(tree, path))
                ratios = sorted(b / n for b, n in zip(times["baseline"], times["new"], strict=True))
                base, new = times["baseline"], times["new"]
                print(f"{label} ({count:,} instructions): baseline best {min(base):.4f} median "
                      f"{statistics.median(base):.4f}; new best {min(new):.4f} median "
                      f"{statistics.median(new):.4f}; "
                      f"baseline/new per pair: median {statistics.median(ratios):.3f}x "
                      f"[quartiles {ratios[len(ratios) // 4]:.3f} {ratios[3 * len(ratios) // 4]:.3f}]")
        finally:
            for worker in workers.values():
                assert worker.stdin is not None
                worker.stdin.close()
                worker.wait()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve()
        sys.exit()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="git revision: measure the chip model against it, interleaved")
    parser.add_argument("--pairs", type=int, default=16, help="baseline/new pairs per kernel")
    options = parser.parse_args()
    if options.baseline:
        interleaved(options.baseline, options.pairs)
    else:
        model_speed()
        library_matmul()
