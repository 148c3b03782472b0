"""Evaluations per second of ``estimate_step`` and ``check_plan`` at 64 and 100,000 Trainium2 chips.

The cost of one evaluation must not grow with the cluster (closed-form collectives on the topology,
no per-rank loops) and stay under 1 ms once the per-stage device times are cached. Run:

    PYTHONPATH=src python benchmarks/cluster_eval_speed.py
"""

from __future__ import annotations

import contextlib
import cProfile
import pstats
import time
from collections.abc import Callable
from functools import partial

from trnsim.cluster import ParallelPlan, check_plan, estimate_step, make_plan
from trnsim.cluster.plan import InfeasiblePlanError
from trnsim.hardware.catalog import SystemSpec, load_system
from trnsim.workload.config import ModelConfig
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute

SEQ_LEN = 8192


def _per_call_us(calls: dict[int, Callable[[], object]], rounds: int = 9,
                 seconds: float = 0.15) -> dict[int, float]:
    """Microseconds per call for each size: the best of ``rounds`` short rounds, the sizes
    alternating within each round so that the load of the shared machine hits them alike. One
    warm-up call each fills the caches first."""
    for call in calls.values():
        call()
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for size, call in calls.items():
            count = 0
            start = time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                call()
                count += 1
            best[size] = min(best[size], 1e6 * elapsed / count)
    return best


def _calls_per_eval(call: Callable[[], object], repeats: int = 50) -> float:
    """Python function calls per evaluation (cProfile): a work count that machine load cannot skew."""
    call()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(repeats):
        call()
    profile.disable()
    return float(getattr(pstats.Stats(profile), "total_calls")) / repeats  # noqa: B009  (untyped attribute)


def _check(model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan) -> None:
    """check_plan, ignoring the infeasibility it may find (its cost is what is measured)."""
    with contextlib.suppress(InfeasiblePlanError):
        check_plan(model, system, ranks, plan, SEQ_LEN)


def main() -> None:
    model = load_model("llama3-70b")
    system = load_system("trn2")
    print(f"model {model.name}, system {system.name} ({system.ranks_per_chip} ranks a chip), seq {SEQ_LEN}")
    header = ("chips", "ranks", "estimates/s", "us/estimate", "checks/s", "us/check")
    print("".join(f"{h:>13}" for h in header))
    estimates: dict[int, Callable[[], object]] = {}
    checks: dict[int, Callable[[], object]] = {}
    ranks_of: dict[int, int] = {}
    for chips in (64, 100_000):
        ranks = chips * system.ranks_per_chip
        tp, pp = 8, 4
        dp = ranks // (tp * pp)
        plan = make_plan(tp=tp, pp=pp, dp=dp, micro_batch=1, global_batch=dp * 8, zero_stage=1,
                         sequence_parallel=True, recompute=Recompute.SELECTIVE)
        ranks_of[chips] = ranks
        estimates[chips] = partial(estimate_step, model, system, ranks, plan, SEQ_LEN)
        checks[chips] = partial(_check, model, system, ranks, plan)
    per_eval = _per_call_us(estimates)
    per_check = _per_call_us(checks)
    for chips, ranks in ranks_of.items():
        est_us, chk_us = per_eval[chips], per_check[chips]
        cells = (f"{chips:,}", f"{ranks:,}", f"{1e6 / est_us:,.0f}", f"{est_us:.1f}", f"{1e6 / chk_us:,.0f}",
                 f"{chk_us:.1f}")
        print("".join(f"{c:>13}" for c in cells))
    work = {chips: _calls_per_eval(call) for chips, call in estimates.items()}
    print(f"python calls per estimate: {work[64]:.0f} at 64 chips, {work[100_000]:.0f} at 100,000 chips "
          f"(ratio {work[100_000] / work[64]:.2f})")
    ratio = per_eval[100_000] / per_eval[64]
    print(f"time ratio 100,000 / 64 chips: {ratio:.2f} (1.00: independent of size; noisy when shared)")
    print(f"under 1 ms per estimate at both sizes: {'yes' if max(per_eval.values()) < 1000 else 'no'}")


if __name__ == "__main__":
    main()
