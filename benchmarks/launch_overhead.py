"""The fixed cost of a small kernel launch, against a git revision, measured side by side.

Most launches in tests and day-to-day kernel work are small: a handful of instructions, a tutorial
kernel, flash attention at a short sequence. There the per-launch set-up (the target's NeuronCore
data, argument wrapping, the wall-time watchdog, spill planning ...) weighs as much as the
instructions. For each source tree (the revision's ``src`` from ``git archive`` and the working
tree) a worker process launches each case once (memos warm), then many times, and reports the best
mean wall time per launch over several batches (wall, not CPU: waiting on a thread's start-up is a
cost the caller sees). Cases:

* ``4 instructions``: load, load, add, store of one [128x512] fp32 tile (``trace_kernel``
  timing-only with placeholders, and ``simulate`` with values);
* ``add``, ``matmul_tiled``: the library's tutorial kernels at one tile ([128x512]; [128x128] @
  [128x512] bf16), both modes;
* ``flash attention``: ``flash_attention_fwd`` S=512 d=128 causal bf16, both modes.

Run from the repository root::

    PYTHONPATH=src python benchmarks/launch_overhead.py [--baseline REV] [--rounds N]
    PYTHONPATH=src python benchmarks/launch_overhead.py --valgrind [--baseline REV]

``--valgrind`` counts machine instructions per launch instead (cachegrind; whatever the machine's
load, but blind to time spent waiting, e.g. on a thread). Asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernel_sim_speed import compared_sources  # a revision's src/ (git archive) and the working tree's
from valgrind_count import check_usable, per_repeat

_NAME = "launch_overhead"
#: the revision the session that added this benchmark started from
BASELINE_REV = "7fcfe50"
_COUNT = "--count-case="


def _cases() -> dict[str, Callable[[], Any]]:
    """Each case's launch as a call without arguments (inputs made once)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy as np

    from trnsim.kernels import registry
    from trnsim.nki import TensorSpec, simulate, trace_kernel
    from trnsim.nki.legacy import jit
    from trnsim.nki.legacy import language as nl

    @jit
    def four(a: Any, b: Any) -> Any:
        c = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
        nl.store(c, value=nl.add(nl.load(a), nl.load(b)))
        return c

    rng = np.random.default_rng(0)
    cases: dict[str, Callable[[], Any]] = {}

    def both(name: str, kernel: Any, arrays: tuple[Any, ...], extra: tuple[Any, ...] = ()) -> None:
        specs = tuple(TensorSpec(a.shape, a.dtype) for a in arrays)
        cases[f"{name}, timing-only"] = lambda: trace_kernel(kernel, *specs, *extra, timing_only=True)
        cases[f"{name}, values"] = lambda: simulate(kernel, *arrays, *extra)

    tile = rng.standard_normal((128, 512)).astype(np.float32)
    both("4 instructions", four, (tile, tile + 1))
    add = registry.get("add")
    both("add [128x512] bf16", add.kernel, add.make_args({"rows": 128, "cols": 512}, "bfloat16", rng))
    tiled = registry.get("matmul_tiled")
    both("matmul_tiled 128x128 @ 128x512", tiled.kernel,
         tiled.make_args({"m": 128, "k": 128, "n": 512}, "bfloat16", rng))
    attention = registry.get("flash_attention_fwd")
    shape = {"batch": 1, "heads": 1, "kv_heads": 1, "seq_q": 512, "seq_k": 512, "head_dim": 128}
    q, k, v, causal = attention.make_args(shape, "bfloat16", rng)
    both("flash attention S=512", attention.kernel, (q, k, v), (causal,))
    return cases


def _timed_worker(launches: int, batches: int) -> None:
    """Best mean wall seconds per launch of each case; one JSON line."""
    out: dict[str, float] = {}
    for name, launch in _cases().items():
        launch()  # memos warm
        per_batch = max(1, launches // (100 if "flash" in name else 1))
        best = float("inf")
        for _ in range(batches):
            start = time.perf_counter()
            for _ in range(per_batch):
                launch()
            best = min(best, (time.perf_counter() - start) / per_batch)
        out[name] = best
    print(json.dumps(out))


def _counted_worker(case: str, repeats: int) -> None:
    """One case launched once (memos warm), then ``repeats`` times, for valgrind to count."""
    launch = _cases()[case]
    launch()
    gc.collect()
    gc.freeze()
    for _ in range(repeats):
        launch()


def _run(src: Path, launches: int, batches: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--worker", str(launches), str(batches)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        if sys.argv[2].startswith(_COUNT):  # under valgrind (valgrind_count.per_repeat)
            _counted_worker(sys.argv[2][len(_COUNT):], int(sys.argv[3]))
        else:
            _timed_worker(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision of the baseline")
    parser.add_argument("--rounds", type=int, default=2, help="baseline/new worker pairs (best kept)")
    parser.add_argument("--launches", type=int, default=300, help="launches per batch (flash: /100)")
    parser.add_argument("--valgrind", action="store_true", help="count machine instructions instead")
    parser.add_argument("--repeats", type=int, default=20, help="launches counted per case (--valgrind)")
    parser.add_argument("--cases", default="", help="only the cases whose name contains this text")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sources = compared_sources(options.baseline, Path(tmp))
        if options.valgrind:
            _print_counts(sources, options.baseline, options.repeats, options.cases)
            return
        best: dict[str, dict[str, float]] = {"baseline": {}, "new": {}}
        for _ in range(options.rounds):
            for label, src in sources.items():
                for name, seconds in _run(src, options.launches, 5).items():
                    if options.cases not in name:
                        continue
                    best[label][name] = min(seconds, best[label].get(name, float("inf")))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"one small launch, wall time (best mean of 5 batches x {options.rounds} rounds); "
          f"baseline {options.baseline}; load average {load:.1f}")
    print(f"{'case':44} {'baseline us':>11} {'new us':>9} {'ratio':>6}")
    for name, base in best["baseline"].items():
        new = best["new"][name]
        print(f"{name:44} {base * 1e6:11.1f} {new * 1e6:9.1f} {base / new:5.2f}x")


def _print_counts(sources: dict[str, Path], baseline: str, repeats: int, only: str) -> None:
    """Machine instructions per launch of each case in both trees (valgrind)."""
    check_usable(_NAME, repeats, "benchmarks/launch_overhead.py without --valgrind")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    names = [name for name in _case_names() if only in name]
    counts = {(label, name): per_repeat(_NAME, __file__, src, f"{_COUNT}{name}", repeats)
              for label, src in sources.items() for name in names}
    print(f"one small launch, machine instructions (valgrind, difference of {repeats} and 0 launches); "
          f"baseline {baseline}")
    print(f"{'case':44} {'baseline k':>10} {'new k':>8} {'ratio':>6}")
    for name in names:
        base, new = counts["baseline", name], counts["new", name]
        print(f"{name:44} {base / 1e3:10.1f} {new / 1e3:8.1f} {base / new:5.2f}x")


def _case_names() -> list[str]:
    return [f"{case}, {mode}" for case in ("4 instructions", "add [128x512] bf16",
                                           "matmul_tiled 128x128 @ 128x512", "flash attention S=512")
            for mode in ("timing-only", "values")]


if __name__ == "__main__":
    main()
