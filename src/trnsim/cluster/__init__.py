"""trnsim.cluster: topologies, collectives, placement, parallel plans, the training step, goodput.

Typical use::

    from trnsim.cluster import make_plan, estimate_step
    from trnsim.hardware.catalog import load_system
    from trnsim.workload.models import load_model

    plan = make_plan(tp=8, pp=4, dp=16, micro_batch=1, global_batch=512, sequence_parallel=True)
    result = estimate_step(load_model("llama3-70b"), load_system("trn2"), 512, plan, seq_len=8192)
    print(result.step_time_s, result.mfu, result.fits)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

    from trnsim.cluster.collectives import Algorithm, Collective, CollectiveCost, collective_time
    from trnsim.cluster.goodput import GoodputResult, daly_interval_s, estimate_goodput, young_interval_s
    from trnsim.cluster.pipeline import PipelineTiming, Schedule, pipeline_timing
    from trnsim.cluster.placement import GroupPlacement, place_group
    from trnsim.cluster.plan import InfeasiblePlanError, InfeasibleReason, ParallelPlan, make_plan
    from trnsim.cluster.step import (
        BREAKDOWN_KEYS,
        StepResult,
        check_plan,
        estimate_run_goodput,
        estimate_step,
    )
    from trnsim.cluster.topology import (
        LinkKind,
        TopologySpec,
        list_topologies,
        load_topology,
        load_topology_file,
        topology_for_system,
    )

__all__ = [
    "BREAKDOWN_KEYS",
    "Algorithm",
    "Collective",
    "CollectiveCost",
    "GoodputResult",
    "GroupPlacement",
    "InfeasiblePlanError",
    "InfeasibleReason",
    "LinkKind",
    "ParallelPlan",
    "PipelineTiming",
    "Schedule",
    "StepResult",
    "TopologySpec",
    "check_plan",
    "collective_time",
    "daly_interval_s",
    "estimate_goodput",
    "estimate_run_goodput",
    "estimate_step",
    "list_topologies",
    "load_topology",
    "load_topology_file",
    "make_plan",
    "pipeline_timing",
    "place_group",
    "topology_for_system",
    "young_interval_s",
]


def __getattr__(name: str) -> object:
    """An exported name, imported from its submodule on first use (PEP 562).

    Importing one light submodule (e.g. the schedule enum for the CLI) then does not pull in
    numpy and the whole model; the imports are ordinary ones, so the layering test sees them.
    """
    module: ModuleType
    if name in ("Algorithm", "Collective", "CollectiveCost", "collective_time"):
        import trnsim.cluster.collectives as module
    elif name in ("GoodputResult", "daly_interval_s", "estimate_goodput", "young_interval_s"):
        import trnsim.cluster.goodput as module
    elif name in ("PipelineTiming", "Schedule", "pipeline_timing"):
        import trnsim.cluster.pipeline as module
    elif name in ("GroupPlacement", "place_group"):
        import trnsim.cluster.placement as module
    elif name in ("InfeasiblePlanError", "InfeasibleReason", "ParallelPlan", "make_plan"):
        import trnsim.cluster.plan as module
    elif name in ("BREAKDOWN_KEYS", "StepResult", "check_plan", "estimate_run_goodput", "estimate_step"):
        import trnsim.cluster.step as module
    elif name in ("LinkKind", "TopologySpec", "list_topologies", "load_topology", "load_topology_file",
                  "topology_for_system"):
        import trnsim.cluster.topology as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value  # later lookups do not come back here
    return value
