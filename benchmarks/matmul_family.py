"""The kernel library's matmul family, naive to fully blocked, predicted by trnsim.core.

[4096x8192] @ [8192x8192] bf16 on trn1 (the issue's reference shape), with trn2 and trn3 columns.
For each kernel: predicted latency, TensorE utilisation (achieved FLOP/s over the per-core peak),
HBM traffic and the bound. The "measured" column is left for published measurements.

    PYTHONPATH=src python benchmarks/matmul_family.py [--small] [--targets trn1,trn2,trn3]

``--small`` uses [1024x2048] @ [2048x2048] for a quick look.
"""

from __future__ import annotations

import importlib
import sys
import time

from trnsim.core import simulate_trace
from trnsim.errors import TrnsimError

TARGETS = ("trn1", "trn2", "trn3")


def main(small: bool, targets: tuple[str, ...]) -> int:
    try:
        nki = importlib.import_module("trnsim.nki")
        registry = importlib.import_module("trnsim.kernels.registry")
        trace_kernel = nki.trace_kernel
    except (ImportError, AttributeError) as error:
        print(f"skipped: {error} (needs trnsim.nki.trace_kernel and trnsim.kernels.registry)")
        return 0
    m, k, n = (1024, 2048, 2048) if small else (4096, 8192, 8192)
    print(f"matmul family, [{m}x{k}] @ [{k}x{n}] bf16; latency in ms "
          "(TensorE utilisation of one core's peak; HBM GiB moved; bound)")
    header = f"| kernel | instructions | {' | '.join(targets)} | bound on {targets[0]} | measured (trn1) |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    previous = None
    for name in registry.MATMUL_FAMILY:
        entry = registry.get(name)
        args = entry.make_args({"m": m, "k": k, "n": n}, "bfloat16")
        cells = []
        bound = ""
        count = 0
        for target in targets:
            start = time.perf_counter()
            try:
                trace = trace_kernel(entry.kernel, *args, target=target, timing_only=True)
            except TrnsimError as error:
                cells.append("fails to trace")
                print(f"  [{name} on {target}: {error}]", file=sys.stderr)
                continue
            result = simulate_trace(trace, target)
            wall = time.perf_counter() - start
            if target == targets[0]:
                count = len(trace)
            cells.append(f"{result.latency_ns / 1e6:,.3f} ({100 * result.tensor_utilization:.1f} %, "
                         f"{result.hbm_bytes / 2**30:.2f} GiB)")
            if target == targets[0]:
                bound = str(result.bound)
                if previous is not None and result.latency_ns > previous:
                    bound += " (slower than the previous stage!)"
                previous = result.latency_ns
            print(f"  [{name} on {target}: {count:,} instructions, trace+timing {wall:.1f} s]",
                  file=sys.stderr)
        print(f"| {name} | {count:,} | {' | '.join(cells)} | {bound} | – |")
    return 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    chosen = TARGETS
    if "--targets" in argv:
        chosen = tuple(argv[argv.index("--targets") + 1].split(","))
    sys.exit(main("--small" in argv, chosen))
