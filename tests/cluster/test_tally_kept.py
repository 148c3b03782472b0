"""A plan's stage tally: the last one is kept for the next plan reading the same, no other.

A search checks thousands of plans that each read another tally; keeping every tally in the step
cache stored thousands of objects never read again (3 % of a search's instructions). Plans that
differ in global batch only, checked in turn, still share one.
"""

from __future__ import annotations

from trnsim.cluster import check_plan, estimate_step, make_plan
from trnsim.cluster import step as step_module
from trnsim.hardware.catalog import load_system
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute


def _plan(zero: int, global_batch: int, recompute: Recompute = Recompute.SELECTIVE) -> object:
    return make_plan(tp=4, pp=4, dp=8, micro_batch=1, global_batch=global_batch, zero_stage=zero,
                     sequence_parallel=True, recompute=recompute)


def test_a_search_s_checks_leave_no_tally_in_the_step_cache() -> None:
    model, system = load_model("llama3-8b"), load_system("p5")
    step_module.clear_cache()
    for zero in (0, 1, 2, 3):
        for recompute in Recompute:
            check_plan(model, system, 128, _plan(zero, 64, recompute), 4096)
    kinds = {key[0] for key in step_module._CACHE if isinstance(key[0], str)}
    assert "stage_memory" not in kinds


def test_global_batches_checked_in_turn_share_a_tally_and_equal_one_made_alone() -> None:
    model, system = load_model("llama3-8b"), load_system("p5")
    step_module.clear_cache()
    first, second = _plan(1, 64), _plan(1, 128)
    a = estimate_step(model, system, 128, first, 4096)
    b = estimate_step(model, system, 128, second, 4096)
    assert a.memory is b.memory  # one tally, one breakdown
    step_module.clear_cache()
    check_plan(model, system, 128, _plan(2, 64), 4096)  # another tally in between
    alone = estimate_step(model, system, 128, second, 4096)
    assert alone.to_dict() == b.to_dict() and alone.stage_memory_bytes == b.stage_memory_bytes
