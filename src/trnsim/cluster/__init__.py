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

from trnsim.lazy import lazy_exports

if TYPE_CHECKING:
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

# Names load on first use (PEP 562), so importing one light submodule (e.g. the schedule enum for
# the CLI) does not pull in numpy and the whole cluster model.
_SOURCE = {
    "Algorithm": "trnsim.cluster.collectives",
    "Collective": "trnsim.cluster.collectives",
    "CollectiveCost": "trnsim.cluster.collectives",
    "collective_time": "trnsim.cluster.collectives",
    "GoodputResult": "trnsim.cluster.goodput",
    "daly_interval_s": "trnsim.cluster.goodput",
    "estimate_goodput": "trnsim.cluster.goodput",
    "young_interval_s": "trnsim.cluster.goodput",
    "PipelineTiming": "trnsim.cluster.pipeline",
    "Schedule": "trnsim.cluster.pipeline",
    "pipeline_timing": "trnsim.cluster.pipeline",
    "GroupPlacement": "trnsim.cluster.placement",
    "place_group": "trnsim.cluster.placement",
    "InfeasiblePlanError": "trnsim.cluster.plan",
    "InfeasibleReason": "trnsim.cluster.plan",
    "ParallelPlan": "trnsim.cluster.plan",
    "make_plan": "trnsim.cluster.plan",
    "BREAKDOWN_KEYS": "trnsim.cluster.step",
    "StepResult": "trnsim.cluster.step",
    "check_plan": "trnsim.cluster.step",
    "estimate_run_goodput": "trnsim.cluster.step",
    "estimate_step": "trnsim.cluster.step",
    "LinkKind": "trnsim.cluster.topology",
    "TopologySpec": "trnsim.cluster.topology",
    "list_topologies": "trnsim.cluster.topology",
    "load_topology": "trnsim.cluster.topology",
    "load_topology_file": "trnsim.cluster.topology",
    "topology_for_system": "trnsim.cluster.topology",
}

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


__getattr__ = lazy_exports(__name__, _SOURCE, globals())
