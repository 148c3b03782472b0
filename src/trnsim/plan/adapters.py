"""The planner's view of the catalog's systems and the workload's models.

:class:`~trnsim.plan.problem.ModelShape` and :class:`~trnsim.plan.problem.SystemShape` keep the
full configs as their ``config`` so an evaluator can hand them on to the cluster model.
"""

from __future__ import annotations

from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.problem import ModelShape, SystemShape
from trnsim.workload.config import ModelConfig


def model_shape(model: ModelConfig) -> ModelShape:
    """The planner's facts of a workload model (a dense model counts as one expert)."""
    return ModelShape(
        name=model.name,
        num_layers=model.num_layers,
        num_heads=model.num_heads,
        num_kv_heads=model.num_kv_heads,
        hidden_size=model.hidden_size,
        num_experts=max(1, model.num_experts),
        params=float(model.n_params()),
        config=model,
    )


def system_shape(system: SystemSpec) -> SystemShape:
    """The planner's facts of a catalog system: ranks, price and power (``None`` when unknown)."""
    power = system.chip.power_w
    provenance = system.chip.sources.get("power_w")
    if power is None and system.node_power_w is not None:
        power = system.node_power_w / system.chips_per_node
        provenance = system.sources.get("node_power_w")
    note = confidence = None
    if power is not None and provenance is not None:
        note = f"{provenance.confidence.value}: {provenance.source}"
        confidence = provenance.confidence.value
    return SystemShape(
        name=system.name,
        chips_per_node=system.chips_per_node,
        ranks_per_chip=system.ranks_per_chip,
        chip_name=system.chip.name,
        price_usd_per_node_hour=system.price_usd_per_node_hour,
        price_date=system.price_date,
        price_source=system.price_source,
        power_w_per_chip=power,
        power_note=note,
        power_confidence=confidence,
        config=system,
    )
