"""Kernel-simulator speed against a recorded baseline, measured side by side in the same run.

The baseline is the source tree of a git revision (default: main just before the
kernel-simulator speed work of issue 13 goal 4 was merged), extracted with ``git archive`` into a temporary
directory. Each round runs one worker process on the baseline and one on the working tree,
back to back, and each worker reports its best CPU time (``time.process_time``: less sensitive
than wall time to other processes on a shared machine) for:

* ``chip model``: ``simulate_trace`` alone on a traced fully blocked matmul (timing-only);
* ``trace+time``: tracing the fully blocked matmul (timing-only) and simulating it on trn1;
* ``first run``: ``trace+time``'s first repeat in each worker, before any memo of the
  simulator (call templates, operand caches, cost models shared across launches) is warm: what one
  kernel run in a fresh process costs;
* ``values``: ``matmul_tiled`` [1024x2048] @ [2048x2048] bf16 traced with values (``trace_kernel``
  defaults to timing-only: before issue 13's second pass this row measured timing-only mode).

It prints instructions per second of both and the ratio new / baseline (goal: 5x for timing-only,
3x for values). Run from the repository root::

    PYTHONPATH=src python benchmarks/kernel_sim_speed.py [--baseline REV] [--rounds N] [--full]

``--full`` uses the [4096x8192] @ [8192x8192] matmul of the issue (slow on a loaded machine);
the default halves M and K. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

#: main before the kernel-simulator speed work of issue 13 goal 4 started (the baseline the ratios in
#: the README refer to).
BASELINE_REV = "986e1a7"
_ROOT = Path(__file__).resolve().parent.parent


def _worker(m: int, k: int, n: int, repeats: int) -> None:
    """Measure the simulator imported from PYTHONPATH; print one JSON line."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy as np

    from trnsim.core import simulate_trace
    from trnsim.kernels import registry
    from trnsim.nki import trace_kernel

    blocked = registry.get("matmul_fully_blocked")
    args = blocked.make_args({"m": m, "k": k, "n": n}, "bfloat16")
    out: dict[str, tuple[int, float]] = {}
    best = float("inf")
    trace = None
    for repeat in range(repeats):
        start = time.process_time()
        trace = trace_kernel(blocked.kernel, *args, target="trn1", timing_only=True)
        simulate_trace(trace, "trn1")
        seconds = time.process_time() - start
        if repeat == 0:
            # The first run of a fresh process: no call template, operand or cost memo warm yet.
            out["first run"] = (len(trace), seconds)
        best = min(best, seconds)
    assert trace is not None
    out["trace+time"] = (len(trace), best)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        simulate_trace(trace, "trn1")
        best = min(best, time.process_time() - start)
    out["chip model"] = (len(trace), best)
    tiled = registry.get("matmul_tiled")
    values = tiled.make_args({"m": 1024, "k": 2048, "n": 2048}, "bfloat16", np.random.default_rng(0))
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        count = len(trace_kernel(tiled.kernel, *values, target="trn1", timing_only=False))
        best = min(best, time.process_time() - start)
    out["values"] = (count, best)
    print(json.dumps(out))


def compared_sources(rev: str, into: Path) -> dict[str, Path]:
    """The two trees every comparing benchmark runs: ``rev``'s ``src`` (extracted into ``into``) as
    ``"baseline"`` and the working tree's as ``"new"``."""
    return {"baseline": _extract(rev, into), "new": _ROOT / "src"}


def _extract(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(_ROOT), "archive", rev, "src"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _run(src: Path, size: tuple[int, int, int], repeats: int) -> dict[str, tuple[int, float]]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--worker", *map(str, size), str(repeats)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return {key: (int(v[0]), float(v[1])) for key, v in json.loads(done.stdout.splitlines()[-1]).items()}


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        m, k, n, repeats = (int(a) for a in sys.argv[2:6])
        _worker(m, k, n, repeats)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision of the baseline")
    parser.add_argument("--rounds", type=int, default=2, help="baseline/new pairs (best of each kept)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats inside each worker")
    parser.add_argument("--full", action="store_true", help="the [4096x8192] @ [8192x8192] matmul")
    options = parser.parse_args()
    size = (4096, 8192, 8192) if options.full else (2048, 4096, 8192)
    best: dict[str, dict[str, tuple[int, float]]] = {"baseline": {}, "new": {}}
    with tempfile.TemporaryDirectory() as tmp:
        sources = compared_sources(options.baseline, Path(tmp))
        for _ in range(options.rounds):
            for label, src in sources.items():
                for key, (count, seconds) in _run(src, size, options.repeats).items():
                    if key not in best[label] or seconds < best[label][key][1]:
                        best[label][key] = (count, seconds)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"fully blocked matmul [{size[0]}x{size[1]}] @ [{size[1]}x{size[2]}] bf16 on trn1; "
          f"baseline {options.baseline}; load average {load:.1f}; CPU seconds, best of "
          f"{options.rounds} x {options.repeats}")
    print(f"{'measurement':12} {'instructions':>12} {'baseline s':>10} {'new s':>8} {'baseline/s':>10} "
          f"{'new/s':>9} {'ratio':>6}")
    for key in ("chip model", "trace+time", "first run", "values"):
        count, base_s = best["baseline"][key]
        new_count, new_s = best["new"][key]
        note = "" if count == new_count else f"  (instruction counts differ: {count} vs {new_count})"
        print(f"{key:12} {new_count:12,d} {base_s:10.3f} {new_s:8.3f} {count / base_s:10,.0f} "
              f"{new_count / new_s:9,.0f} {base_s / new_s:5.2f}x{note}")


if __name__ == "__main__":
    main()
