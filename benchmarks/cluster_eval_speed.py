"""Evaluations per second of ``estimate_step`` and ``check_plan`` at 64 and 100,000 Trainium2 chips.

The cost of one evaluation must not grow with the cluster (closed-form collectives on the topology,
no per-rank loops) and stay under 1 ms once the per-stage device times are cached. Run:

    PYTHONPATH=src python benchmarks/cluster_eval_speed.py
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from trnsim.cluster import ParallelPlan, check_plan, estimate_step, make_plan
from trnsim.cluster.plan import InfeasiblePlanError
from trnsim.hardware.catalog import SystemSpec, load_system
from trnsim.workload.config import ModelConfig
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute

SEQ_LEN = 8192


def _rate(call: Callable[[], object], rounds: int = 5, seconds: float = 0.2) -> float:
    """Microseconds per call: the best of ``rounds`` timed rounds (the machine is shared), after one
    warm-up call that fills the caches."""
    call()
    best = float("inf")
    for _ in range(rounds):
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            call()
            count += 1
        best = min(best, 1e6 * elapsed / count)
    return best


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
    per_eval: dict[int, float] = {}
    for chips in (64, 100_000):
        ranks = chips * system.ranks_per_chip
        tp, pp = 8, 4
        dp = ranks // (tp * pp)
        plan = make_plan(tp=tp, pp=pp, dp=dp, micro_batch=1, global_batch=dp * 8, zero_stage=1,
                         sequence_parallel=True, recompute=Recompute.SELECTIVE)
        est_us = _rate(lambda r=ranks, p=plan: estimate_step(model, system, r, p, SEQ_LEN))
        chk_us = _rate(lambda r=ranks, p=plan: _check(model, system, r, p))
        per_eval[chips] = est_us
        cells = (f"{chips:,}", f"{ranks:,}", f"{1e6 / est_us:,.0f}", f"{est_us:.1f}", f"{1e6 / chk_us:,.0f}",
                 f"{chk_us:.1f}")
        print("".join(f"{c:>13}" for c in cells))
    ratio = per_eval[100_000] / per_eval[64]
    print(f"cost ratio 100,000 / 64 chips: {ratio:.2f} (1.00: independent of size)")
    print(f"under 1 ms per estimate at both sizes: {'yes' if max(per_eval.values()) < 1000 else 'no'}")


if __name__ == "__main__":
    main()
