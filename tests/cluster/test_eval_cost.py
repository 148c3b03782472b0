"""The cost of one plan evaluation does not grow with the cluster (counted, not timed).

``estimate_step`` places each parallel group on the topology in closed form: its work depends on the
topology levels a group spans, never on the number of ranks. Counted with cProfile (calls into
trnsim's own functions; dict look-ups may call generated ``__eq__`` methods or not, depending on
which equal key object a cache holds) and by the ops timed, so machine load cannot make it flaky.
"""

from __future__ import annotations

import cProfile
import pstats
from pathlib import Path

import pytest

import trnsim
from trnsim.cluster import estimate_step, make_plan
from trnsim.cluster.step import clear_cache
from trnsim.devicetime import timing
from trnsim.devicetime.timing import clear_memo
from trnsim.hardware.catalog import load_system
from trnsim.workload.graph import clear_cache as clear_graphs
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute

SEQ_LEN = 8192
PACKAGE = str(Path(trnsim.__file__).parent)


def _own_calls(profile: cProfile.Profile) -> int:
    stats = getattr(pstats.Stats(profile), "stats")  # noqa: B009  (untyped attribute)
    return sum(calls for (path, _, _), (_, calls, *_) in stats.items() if path.startswith(PACKAGE))


def _evaluate(chips: int, cold: bool, monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, int]:
    """(Python calls, ops timed) of one estimate at ``chips`` trn2 chips; caches emptied if ``cold``."""
    model, system = load_model("llama3-70b"), load_system("trn2")
    ranks = chips * system.ranks_per_chip
    dp = ranks // 32
    plan = make_plan(tp=8, pp=4, dp=dp, micro_batch=1, global_batch=dp * 8, zero_stage=1,
                     sequence_parallel=True, recompute=Recompute.SELECTIVE)
    estimate_step(model, system, ranks, plan, SEQ_LEN)  # loads the data files
    if cold:
        clear_cache()
        clear_memo()
        clear_graphs()
    timed = 0
    if monkeypatch is not None:
        original = timing.time_ops

        def counting(ops, *args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal timed
            timed += len(ops)
            return original(ops, *args, **kwargs)

        monkeypatch.setattr("trnsim.cluster.step.time_ops", counting)
        original_runs = timing.time_runs

        def counting_runs(runs, *args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal timed
            timed += sum(len(ops) for ops, _ in runs)
            return original_runs(runs, *args, **kwargs)

        monkeypatch.setattr("trnsim.cluster.step.time_runs", counting_runs)
    profile = cProfile.Profile()
    profile.enable()
    estimate_step(model, system, ranks, plan, SEQ_LEN)
    profile.disable()
    return _own_calls(profile), timed


def test_warm_evaluation_costs_the_same_at_8192_and_131072_chips() -> None:
    # 16x the ranks, the same topology levels spanned: not one call more.
    assert _evaluate(131_072, cold=False)[0] == _evaluate(8192, cold=False)[0]
    # 64 chips span fewer levels: no more calls than the largest cluster
    assert _evaluate(64, cold=False)[0] <= _evaluate(131_072, cold=False)[0]


def test_cold_evaluation_costs_the_same_at_8192_and_131072_chips(monkeypatch: pytest.MonkeyPatch) -> None:
    _, small_ops = _evaluate(64, cold=True, monkeypatch=monkeypatch)
    monkeypatch.undo()
    mid_calls, mid_ops = _evaluate(8192, cold=True, monkeypatch=monkeypatch)
    monkeypatch.undo()
    large_calls, large_ops = _evaluate(131_072, cold=True, monkeypatch=monkeypatch)
    assert small_ops == mid_ops == large_ops > 0  # a rank's step graph does not depend on the DP size
    assert large_calls == mid_calls
