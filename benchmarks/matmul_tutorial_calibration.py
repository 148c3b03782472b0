"""The NKI matmul tutorial's four stages: trnsim's trn1 prediction against the measured latency.

The measurements (one NeuronCore-v2 of a trn1.32xlarge, [4096x8192] @ [8192x8192] bf16) are in
``trnsim/data/calibration/kernels/nki_tutorial_trn1_matmul.csv``; each stage maps onto the
kernel library's matmul of the same structure. Nothing here is fitted to these rows: the
prediction comes from the chip model's data files alone.

    PYTHONPATH=src python benchmarks/matmul_tutorial_calibration.py [--target trn1]
"""

from __future__ import annotations

import csv
import sys
import time
from importlib import resources
from pathlib import Path

from trnsim.core import simulate_trace
from trnsim.kernels import registry
from trnsim.nki import trace_kernel

#: tutorial stage -> kernel library matmul with the same loop and load structure.
STAGES = {
    "tiled": "matmul_tiled",
    "hoisted_loads": "matmul_hoisted",
    "blocked_free_dimension": "matmul_blocked_free",
    "fully_optimized": "matmul_fully_blocked",
}


def _rows() -> list[dict[str, str]]:
    folder = Path(str(resources.files("trnsim"))) / "data" / "calibration" / "kernels"
    path = folder / "nki_tutorial_trn1_matmul.csv"
    with path.open() as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def main(argv: list[str]) -> int:
    target = argv[argv.index("--target") + 1] if "--target" in argv else "trn1"
    print(f"NKI matmul tutorial stages on {target}: predicted vs measured (trn1 measurements)")
    print("| stage | kernel | M x K x N | predicted ms | measured ms | error | bound |")
    print("|---|---|---|---|---|---|---|")
    errors = []
    for row in _rows():
        name = STAGES[row["stage"]]
        m, k, n = int(row["M"]), int(row["K"]), int(row["N"])
        entry = registry.get(name)
        start = time.perf_counter()
        trace = trace_kernel(entry.kernel, *entry.make_args({"m": m, "k": k, "n": n}, row["dtype"]),
                             target=target, timing_only=True)
        result = simulate_trace(trace, target)
        predicted = result.latency_ns / 1e6
        measured = float(row["latency_us"]) / 1e3
        error = (predicted - measured) / measured
        errors.append(abs(error))
        print(f"| {row['stage']} | {name} | {m}x{k}x{n} | {predicted:,.2f} | {measured:,.2f} | "
              f"{100 * error:+.1f} % | {result.bound} |")
        wall = time.perf_counter() - start
        print(f"  [{name}: {len(trace):,} instructions, {wall:.1f} s]", file=sys.stderr)
    print(f"mean |error| {100 * sum(errors) / len(errors):.1f} %, max {100 * max(errors):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
