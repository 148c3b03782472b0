"""Machine instructions per simulated kernel instruction of the chip model, against a git revision.

Wall and CPU times on a shared machine drift by 2x and scatter by 5-10 % from one run to the next,
which hides a change of a few percent. This counts instead: valgrind (cachegrind, no cache
simulation) counts the instructions a worker process executes, once with ``--repeats`` extra
simulations of a trace and once without, and the difference divided by the repeats is the cost of
one ``simulate_trace`` (reproducible to about 0.5 %: hash seed fixed, cyclic collector off, memos
warmed by one simulation in both runs). Each source tree (the revision's ``src`` from ``git archive``
and the working tree) simulates the same pickled trace of the working tree, timing-only, on trn1.
Run from the repository root (a few minutes: valgrind runs about 50x slower)::

    PYTHONPATH=src python benchmarks/core_instructions.py [--baseline REV] [--kernel matmul|flash]

Needs ``valgrind`` on the PATH. Asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import pickle
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernel_sim_speed import compared_sources  # a revision's src/ (git archive) and the working tree's
from valgrind_count import check_usable, per_repeat

_NAME = "core_instructions"

#: Kernels to count: (registry name, parameters).
KERNELS: dict[str, tuple[str, dict[str, int]]] = {
    "matmul": ("matmul_fully_blocked", {"m": 2048, "k": 4096, "n": 8192}),
    "flash": ("flash_attention_fwd",
              {"batch": 1, "heads": 4, "kv_heads": 1, "seq_q": 2048, "seq_k": 2048, "head_dim": 128}),
}


def _worker(path: str, repeats: int) -> None:
    """Simulate the pickled trace once (memos warm) and then ``repeats`` times more."""
    from trnsim.core import simulate_trace

    with open(path, "rb") as handle:
        trace = pickle.load(handle)
    gc.collect()
    gc.freeze()
    gc.disable()  # no collection in either run: the difference is the simulations alone
    for _ in range(1 + repeats):
        simulate_trace(trace, "trn1")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="main", help="git revision of the baseline")
    parser.add_argument("--kernel", choices=sorted(KERNELS), default="matmul")
    parser.add_argument("--repeats", type=int, default=3, help="simulations counted per tree")
    options = parser.parse_args()
    check_usable(_NAME, options.repeats, "benchmarks/core_speed.py --baseline REV")
    from trnsim.kernels import registry
    from trnsim.nki import trace_kernel

    name, params = KERNELS[options.kernel]
    entry = registry.get(name)
    trace = trace_kernel(entry.kernel, *entry.make_args(params, "bfloat16"), target="trn1", timing_only=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.pkl"
        path.write_bytes(pickle.dumps(trace))
        sources = compared_sources(options.baseline, Path(tmp))
        per_simulation: dict[str, float] = {}
        for label, src in sources.items():
            per_simulation[label] = per_repeat(_NAME, __file__, src, str(path), options.repeats)
    count = len(trace)
    print(f"{name} {params} bf16 on trn1, {count:,} instructions; machine instructions per simulate_trace "
          f"(valgrind, difference of {options.repeats} and 0 repeats)")
    for label in ("baseline", "new"):
        total = per_simulation[label]
        print(f"  {label:8} {total / 1e6:9.1f} M  = {total / count:8,.0f} per simulated instruction")
    print(f"  baseline/new: {per_simulation['baseline'] / per_simulation['new']:.3f}x "
          f"(baseline {options.baseline})")


if __name__ == "__main__":
    main()
