"""The step's plain view of a plan and its stage-memory key: the same values as the plan, the same results.

``cluster/step.py`` reads a plan through ``_PlanView`` (its fields and properties copied once, as
plain attributes: a pydantic model's attribute reads go through its ``__getattr__`` hook) and keys a
stage's memory by ``min(microbatches, pp)`` where the schedule holds ``min(pp - stage, m)``
micro-batches (Narayanan et al. 2021's 1F1B): global batches past ``pp`` micro-batches share it.
"""

from __future__ import annotations

import pytest

from trnsim.cluster import estimate_step, make_plan
from trnsim.cluster import step as step_module
from trnsim.cluster.pipeline import Schedule
from trnsim.cluster.plan import ParallelPlan
from trnsim.devicetime.timing import clear_memo
from trnsim.hardware.catalog import load_system
from trnsim.workload.graph import clear_cache as clear_graphs
from trnsim.workload.memory import MemoryBreakdown
from trnsim.workload.models import load_model
from trnsim.workload.options import Precision, Recompute

SEQ_LEN = 4096


def _clear() -> None:
    step_module.clear_cache()
    clear_memo()
    clear_graphs()


def _properties() -> list[str]:
    return [name for name, value in vars(ParallelPlan).items() if isinstance(value, property)]


@pytest.mark.parametrize("fields", [
    {},
    {"tp": 4, "pp": 4, "dp": 8, "cp": 2, "ep": 2, "zero_stage": 2, "micro_batch": 2, "global_batch": 256,
     "interleave": 2, "schedule": Schedule.INTERLEAVED, "recompute": Recompute.FULL,
     "sequence_parallel": True, "overlap_tp_comm": True, "dp_bucket_params": 12345, "microbatch_group": 4},
    {"tp": 2, "pp": 2, "dp": 4, "fsdp": True, "reshard_after_forward": False, "global_batch": 64,
     "first_stage_layers": 10, "last_stage_layers": 12, "schedule": Schedule.GPIPE},
    {"dp": 8, "micro_batch": 2, "global_batch": 4},  # fewer sequences than one micro-batch per rank
])
def test_the_view_reads_every_field_and_property_as_the_plan(fields: dict[str, object]) -> None:
    plan = make_plan(**fields)
    view = step_module._PlanView(plan)
    names = [*ParallelPlan.model_fields, *_properties()]
    assert len(names) > len(ParallelPlan.model_fields)  # the properties were found
    for name in names:
        assert getattr(view, name) == getattr(plan, name), name
    assert view.describe() == plan.describe()


def test_global_batches_past_pp_microbatches_share_a_stage_memory_under_1f1b() -> None:
    model, system = load_model("llama3-8b"), load_system("p5")

    def memory(global_batch: int, **fields: object) -> dict[str, MemoryBreakdown]:
        plan = make_plan(tp=8, pp=4, dp=2, micro_batch=1, global_batch=global_batch, zero_stage=1,
                         sequence_parallel=True, **fields)
        return step_module._stage_memory(model, step_module._PlanView(plan), SEQ_LEN, Precision.BF16, system)

    _clear()
    # 1F1B: stage i holds min(4 - i, m) micro-batches; m = 4, 8, 16 all hold 4, 3, 2, 1
    shared = memory(8)
    assert memory(16) is shared and memory(32) is shared
    # fewer micro-batches than stages hold fewer: not shared, and fewer bytes on the first stage
    short = memory(4)  # m = 2
    assert short is not shared
    assert short["first"].activations_bytes < shared["first"].activations_bytes
    # GPipe holds all m: every global batch its own
    gpipe = [memory(gb, schedule=Schedule.GPIPE) for gb in (8, 16)]
    assert gpipe[0] is not gpipe[1]
    assert gpipe[1]["first"].activations_bytes == 2 * gpipe[0]["first"].activations_bytes
    # each shared entry is what the plan's own memory is with every cache emptied
    for gb in (8, 16, 32):
        _clear()
        assert memory(gb) == shared


def test_an_estimate_through_the_shared_memory_is_the_cold_estimate() -> None:
    model, system = load_model("llama3-8b"), load_system("trn2")
    ranks = 16 * system.ranks_per_chip
    plans = [make_plan(tp=4, pp=pp, dp=ranks // (4 * pp), micro_batch=1, global_batch=ranks // (4 * pp) * m,
                       zero_stage=1, sequence_parallel=True, recompute=Recompute.SELECTIVE)
             for pp in (2, 4) for m in (1, 3, 4, 8, 12)]
    cold = []
    for plan in plans:
        _clear()
        cold.append(estimate_step(model, system, ranks, plan, SEQ_LEN).to_dict())
    _clear()
    for plan, expected in zip(plans[::-1], cold[::-1], strict=True):
        assert estimate_step(model, system, ranks, plan, SEQ_LEN).to_dict() == expected, plan.describe()
