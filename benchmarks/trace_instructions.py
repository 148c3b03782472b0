"""Machine instructions of the kernel layer's trace phase (and of trace + time), against a git revision.

Timings on a shared machine drift by 2x and scatter by 5-10 %; valgrind's instruction counts repeat
whatever the load. For each source tree (the revision's ``src`` from ``git archive`` and the working
tree) a worker process traces the fully blocked matmul [2048x4096] @ [4096x8192] bf16 on trn1
timing-only once (every template, operand cache and memo warm), then ``--repeats`` times more,
either tracing alone (``trace``) or tracing and simulating (``trace+time``); valgrind (cachegrind, no
cache simulation) counts the whole process with the repeats and without, and the difference divided
by the repeats is the cost of one repeat (hash seed fixed, cyclic collector off after the warm-up,
as in a launch). Run from the repository root (a few minutes: valgrind runs about 50x slower)::

    PYTHONPATH=src python benchmarks/trace_instructions.py [--baseline REV] [--repeats N]

Needs ``valgrind`` on the PATH. Asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernel_sim_speed import compared_sources  # a revision's src/ (git archive) and the working tree's
from valgrind_count import check_usable, per_repeat

_NAME = "trace_instructions"

_PARAMS = {"m": 2048, "k": 4096, "n": 8192}
_MODES = ("trace", "trace+time")


def _worker(mode: str, repeats: int) -> None:
    """Trace (and simulate, for trace+time) once with memos cold, then ``repeats`` times more."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from trnsim.core import simulate_trace
    from trnsim.kernels import registry
    from trnsim.nki import trace_kernel

    entry = registry.get("matmul_fully_blocked")
    args = entry.make_args(_PARAMS, "bfloat16")

    def once() -> None:
        trace = trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
        if mode == "trace+time":
            simulate_trace(trace, "trn1")

    once()
    gc.collect()
    gc.freeze()
    gc.disable()
    for _ in range(repeats):
        once()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="main", help="git revision of the baseline")
    parser.add_argument("--repeats", type=int, default=2, help="repeats counted per tree and mode")
    options = parser.parse_args()
    check_usable(_NAME, options.repeats, "benchmarks/kernel_sim_speed.py --baseline REV")
    counts: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sources = compared_sources(options.baseline, Path(tmp))
        for label, src in sources.items():
            for mode in _MODES:
                counts[label, mode] = per_repeat(_NAME, __file__, src, mode, options.repeats)
    print(f"matmul_fully_blocked {_PARAMS} bf16 on trn1, timing-only; machine instructions per repeat "
          f"(valgrind, difference of {options.repeats} and 0 repeats; baseline {options.baseline})")
    for mode in _MODES:
        base, new = counts["baseline", mode], counts["new", mode]
        print(f"  {mode:10} baseline {base / 1e6:8.1f} M  new {new / 1e6:8.1f} M  "
              f"baseline/new {base / new:.3f}x")


if __name__ == "__main__":
    main()
