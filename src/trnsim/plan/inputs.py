"""Resolve the names a person types (models, systems, what-ifs) into the planner's inputs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trnsim.hardware.catalog import ChipFamily, SystemSpec, load_system
from trnsim.workload.config import ModelConfig
from trnsim.workload.models import load_model

if TYPE_CHECKING:  # a sweep point's modules load with the point (compare and plan need none of them)
    from trnsim.plan.store import PointStatus
    from trnsim.plan.sweep import SweepPoint, WhatIf


def resolve_model(name: str, overrides: dict[str, Any] | None = None) -> ModelConfig:
    """A preset name or a config.json path, as the planner's model."""
    return load_model(name, overrides)


def resolve_system(
    name: str, catalog_dir: str | Path | None = None, lnc: int | None = None, whatif: WhatIf | None = None
) -> SystemSpec:
    """A catalog system (optionally with an LNC size or a what-if applied), as the planner's system."""
    if whatif is not None and not whatif.is_baseline:
        from trnsim.plan.whatif import apply_whatif

        return apply_whatif(name, whatif, catalog_dir).system
    return load_system(name, catalog_dir=catalog_dir, lnc=lnc)


def run_point(point: SweepPoint) -> tuple[PointStatus, dict[str, Any]]:
    """Best plan of one sweep point with the cluster model (module-level: Ray pickles it)."""
    from trnsim.cluster.topology import topology_for_system
    from trnsim.plan.errors import NoFeasiblePlanError
    from trnsim.plan.problem import Problem, TrainingJob
    from trnsim.plan.search import search_plans
    from trnsim.plan.store import PointStatus
    from trnsim.plan.whatif import apply_whatif

    model = resolve_model(point.model)
    hardware = apply_whatif(point.system, point.whatif)
    system = hardware.system
    job = TrainingJob.model_validate(point.job)
    # A what-if's links: the system's topology file with its overrides (None: the catalog's own).
    topology = (topology_for_system(system, overrides=hardware.topology_overrides)
                if hardware.topology_overrides else None)
    problem = Problem(model, system, point.chips * system.ranks_per_chip, job, topology)
    try:
        result = search_plans(problem, top_k=1)
    except NoFeasiblePlanError as error:
        return PointStatus.INFEASIBLE, {"error": str(error)}
    stats = result.stats
    return PointStatus.OK, {
        **result.best.to_dict(),
        "candidates": stats.candidates,
        "evaluated": stats.evaluated,
        "infeasible_by_reason": dict(stats.infeasible_by_reason),
        "whatif_changes": list(hardware.changes),
        **_device_tables(hardware.system),
    }


def _device_tables(system: SystemSpec) -> dict[str, str]:
    """For a Trainium point: which op-time tables timed it (shipped, stale, or regenerated)."""
    chip = system.chip
    if chip.family is not ChipFamily.TRAINIUM:
        return {}
    from trnsim.devicetime.whatif_timing import device_tables_status

    return {"device_tables": device_tables_status(str(chip.nc_target), chip.nc_timing_overrides)}
