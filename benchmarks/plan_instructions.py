"""Machine instructions per distinct plan evaluation, per repeated one and per planner search, against
a git revision.

Wall and CPU times on a shared machine drift by 2x and scatter between runs; valgrind (cachegrind, no
cache simulation) counts the instructions a worker process executes instead, once with ``N`` repeats
and once with none, and the difference divided by the repeats is the cost of one. What is counted:

* ``distinct``: :mod:`plan_eval_speed`'s 48 GPT-3 175B plans on 1,024 A100s, every cache cleared
  before each round of 48 (as its distinct-plan row), per plan;
* ``warm``: the same plans evaluated again with warm caches, per plan;
* ``planner``: one full search of llama3-405b on 16,384 trn2 ranks (:mod:`planner_speed`'s third
  row), data files loaded in both runs.

Reproducible to a few hundred instructions per process (see benchmarks/valgrind_count.py: hash seed
fixed, address randomisation off where ``setarch`` exists, numpy's OpenBLAS on one thread).
Run from the repository root (several minutes: valgrind runs about 50x slower)::

    PYTHONPATH=src python benchmarks/plan_instructions.py [--baseline REV] [--what distinct,warm,planner]

Needs ``valgrind`` on the PATH. Asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernel_sim_speed import compared_sources  # a revision's src/ (git archive) and the working tree's
from valgrind_count import check_usable, per_repeat

_NAME = "plan_instructions"
#: Repeats counted per tree, and what one repeat evaluates (for the per-item figure).
REPEATS = {"distinct": 6, "warm": 20, "planner": 1}
PER = {"distinct": 48, "warm": 48, "planner": 1}


def _worker(what: str, repeats: int) -> None:
    """Load the data files and fill what both runs share, then ``repeats`` rounds of ``what``."""
    if what == "planner":
        from trnsim.plan.inputs import resolve_model, resolve_system
        from trnsim.plan.problem import Problem, TrainingJob
        from trnsim.plan.search import search_plans

        model, system = resolve_model("llama3-405b"), resolve_system("trn2")
        job = TrainingJob(tokens=15e12, seq_len=8192, global_batch=2048)
        for _ in range(repeats):
            search_plans(Problem(model, system, 16384, job), top_k=1)
        return
    import plan_eval_speed as bench
    from trnsim.cluster import estimate_step, make_plan
    from trnsim.hardware.catalog import load_system
    from trnsim.workload.models import load_model
    from trnsim.workload.options import Recompute

    model, system = load_model("gpt3-175b"), load_system("p4d")
    ranks = bench.CHIPS * system.ranks_per_chip
    plans = [make_plan(tp=tp, pp=pp, dp=ranks // (tp * pp), micro_batch=mb, global_batch=gb, zero_stage=1,
                       sequence_parallel=tp > 1, recompute=Recompute.SELECTIVE)
             for tp, pp, mb, gb in bench.CONFIGS]

    def round_of_plans() -> None:
        if what == "distinct":
            bench.clear_caches()
        for plan in plans:
            estimate_step(model, system, ranks, plan, bench.SEQ_LEN)

    for _ in range(3):  # data files loaded, every cache once filled and (distinct) cleared
        round_of_plans()
    gc.collect()
    for _ in range(repeats):
        round_of_plans()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="main", help="git revision of the baseline")
    parser.add_argument("--what", default="distinct,warm,planner",
                        help="comma-separated: distinct, warm, planner")
    options = parser.parse_args()
    whats = options.what.split(",")
    if any(what not in REPEATS for what in whats):
        parser.error(f"--what: each of {', '.join(REPEATS)}")
    check_usable(_NAME, 1, "benchmarks/plan_eval_speed.py and benchmarks/planner_speed.py")
    with tempfile.TemporaryDirectory() as tmp:
        sources = compared_sources(options.baseline, Path(tmp))
        print(f"machine instructions (valgrind, difference of N and 0 repeats; baseline {options.baseline})")
        for what in whats:
            counts = {label: per_repeat(_NAME, __file__, src, what, REPEATS[what]) / PER[what]
                      for label, src in sources.items()}
            unit, scale = ("M per search", 1e6) if what == "planner" else ("k per plan", 1e3)
            base, new = counts["baseline"], counts["new"]
            print(f"  {what:8} baseline {base / scale:10.1f}  new {new / scale:10.1f} {unit}  "
                  f"baseline/new {base / new:.3f}x")


if __name__ == "__main__":
    main()
