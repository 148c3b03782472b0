"""Planner speed: configurations disposed of and evaluated per second, with the cluster model.

Run: ``PYTHONPATH=src python benchmarks/planner_speed.py``. Prints, per scenario, the candidates
in the search space, how many were skipped unchecked (their group cannot fit, or a lighter
recomputation of the same plan fits), how many were fully
evaluated, the wall time and the rates. The target (README): the whole space of a 405B model on
16,384 ranks searched in under a minute on a 2-core machine.
"""

from __future__ import annotations

import sys
import time

from trnsim.errors import TrnsimError
from trnsim.plan.inputs import resolve_model, resolve_system
from trnsim.plan.problem import Problem, TrainingJob
from trnsim.plan.search import search_plans

SCENARIOS = [
    # (model, system, ranks, global batch, seq len)
    ("llama3-8b", "trn2", 256, 512, 4096),
    ("afm-server", "trn2-ultraserver", 8192 * 4, 4096, 4096),
    ("llama3-405b", "trn2", 16384, 2048, 8192),
    ("llama3-405b", "p5", 16384, 2048, 8192),
]


def main() -> int:
    header = (f"{'model':<12} {'system':<17} {'ranks':>6} {'candidates':>10} {'skipped':>7} {'evaluated':>9} "
              f"{'wall s':>7} {'cand/s':>8} {'eval/s':>7}  best plan")
    print(header)
    for model_name, system_name, ranks, batch, seq in SCENARIOS:
        model, system = resolve_model(model_name), resolve_system(system_name)
        job = TrainingJob(tokens=15e12, seq_len=seq, global_batch=batch)
        started = time.perf_counter()
        try:
            result = search_plans(Problem(model, system, ranks, job), top_k=1)
        except TrnsimError as error:
            print(f"{model_name:<12} {system_name:<17} {ranks:>6} no plan: {error}")
            continue
        wall = time.perf_counter() - started
        s = result.stats
        skipped = s.skipped  # dropped with a group that cannot fit, or dominated
        print(f"{model_name:<12} {system_name:<17} {ranks:>6} {s.candidates:>10,} {skipped:>7,} "
              f"{s.evaluated:>9,} "
              f"{wall:>7.2f} {s.candidates / wall:>8,.0f} {s.evaluated / wall:>7,.0f}  "
              f"{result.best.candidate.describe()} ({result.best.estimate.mfu:.1%} MFU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
