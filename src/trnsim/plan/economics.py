"""Time-to-train, cost and energy of a plan, from its step estimate and the system's facts.

- time-to-train = tokens / tokens_per_s, divided by goodput (the fraction of wall time that makes
  progress once failures, restarts and checkpoints are counted: the cluster model's goodput);
- instance-hours = whole nodes billed × hours; cost = instance-hours × price, or ``None`` when the
  catalog has no price (never invented);
- energy = chips × power per chip × hours × PUE (an explicit, labelled job parameter), or ``None``
  when the chip's power is unknown (:func:`chip_power`: the chip's figure, else the node's share).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trnsim.cluster.error_band import ErrorBand, load_band
from trnsim.cluster.step import StepResult
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.candidate import Candidate
from trnsim.plan.problem import Problem

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
WATT_HOURS_PER_MWH = 1e6


@dataclass(frozen=True)
class ChipPower:
    """Power per chip of a system, with where the figure comes from."""

    watts: float
    #: '<confidence>: <source>' of the figure (None when the catalog gives no provenance).
    note: str | None = None
    #: Confidence of the figure ('published', 'estimate', ...); energy inherits it.
    confidence: str | None = None


def chip_power(system: SystemSpec) -> ChipPower | None:
    """The chip's power, else the node's divided by its chips (``None`` when neither is known)."""
    power = system.chip.power_w
    provenance = system.chip.sources.get("power_w")
    if power is None and system.node_power_w is not None:
        power = system.node_power_w / system.chips_per_node
        provenance = system.sources.get("node_power_w")
    if power is None:
        return None
    if provenance is None:
        return ChipPower(power)
    confidence = provenance.confidence.value
    return ChipPower(power, f"{confidence}: {provenance.source}", confidence)


@dataclass(frozen=True)
class PlanOutcome:
    """A feasible plan with everything a person compares plans by."""

    system: str
    model: str
    ranks: int
    chips: int
    nodes: int
    candidate: Candidate
    estimate: StepResult
    time_to_train_s: float
    instance_hours: float
    cost_usd: float | None
    energy_mwh: float | None
    meets_deadline: bool
    meets_budget: bool
    #: The validation error of the system's platform family (None: no band known, e.g. a custom chip).
    error_band: ErrorBand | None = None
    #: Confidence of the power figure behind ``energy_mwh`` (e.g. 'estimate' for Trn2's 500 W).
    energy_confidence: str | None = None

    def band_range(self, value: float | None) -> tuple[float, float] | None:
        """``value`` (step time, time-to-train, cost or energy: they scale together) minus and plus
        the band."""
        if value is None or self.error_band is None:
            return None
        return self.error_band.interval(value)

    @property
    def time_to_train_days(self) -> float:
        """Time-to-train in days."""
        return self.time_to_train_s / SECONDS_PER_DAY

    @property
    def tokens_per_s(self) -> float:
        """Training throughput in tokens per second (before goodput)."""
        return self.estimate.tokens_per_s

    @property
    def meets_constraints(self) -> bool:
        """Whether the plan meets both the deadline and the budget (unknown cost never fails)."""
        return self.meets_deadline and self.meets_budget

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON, CSV and the HTML report."""
        est = self.estimate
        return {
            "system": self.system,
            "model": self.model,
            "ranks": self.ranks,
            "chips": self.chips,
            "nodes": self.nodes,
            "plan": self.candidate.describe(),
            **{f"plan_{k}": v for k, v in self.candidate.to_dict().items()},
            "step_time_s": est.step_time_s,
            "tokens_per_s": est.tokens_per_s,
            "mfu": est.mfu,
            "goodput": est.goodput,
            "memory_per_rank_bytes": est.memory_per_rank_bytes,
            "memory_capacity_bytes": est.memory_capacity_bytes,
            "breakdown_s": dict(est.breakdown),
            "time_to_train_s": self.time_to_train_s,
            "time_to_train_days": self.time_to_train_days,
            "instance_hours": self.instance_hours,
            "cost_usd": self.cost_usd,
            "energy_mwh": self.energy_mwh,
            "energy_confidence": self.energy_confidence,
            "meets_deadline": self.meets_deadline,
            "meets_budget": self.meets_budget,
            **self._band_dict(),
        }

    def _band_dict(self) -> dict[str, Any]:
        band = self.error_band
        out: dict[str, Any] = {"error_band": band.fraction if band else None,
                               "error_band_label": band.label if band else "no error band for this system"}
        for key, value in (("step_time_s", self.estimate.step_time_s),
                           ("time_to_train_days", self.time_to_train_days), ("cost_usd", self.cost_usd),
                           ("energy_mwh", self.energy_mwh)):
            span = self.band_range(value)
            out[f"{key}_low"], out[f"{key}_high"] = span if span else (None, None)
        return out


def plan_outcome(problem: Problem, candidate: Candidate, estimate: StepResult) -> PlanOutcome:
    """Turn a step estimate into time-to-train, instance-hours, cost and energy."""
    job, system = problem.job, problem.system
    goodput = min(max(estimate.goodput, 1e-9), 1.0)
    time_s = job.tokens / estimate.tokens_per_s / goodput
    hours = time_s / SECONDS_PER_HOUR
    instance_hours = problem.nodes * hours
    price = system.price_usd_per_node_hour
    cost = None if price is None else instance_hours * price
    power = chip_power(system)
    energy = None if power is None else problem.chips * power.watts * hours * job.pue / WATT_HOURS_PER_MWH
    meets_deadline = job.deadline_days is None or time_s <= job.deadline_days * SECONDS_PER_DAY
    meets_budget = job.budget_usd is None or cost is None or cost <= job.budget_usd
    return PlanOutcome(
        system=system.name,
        model=problem.model.name,
        ranks=problem.ranks,
        chips=problem.chips,
        nodes=problem.nodes,
        candidate=candidate,
        estimate=estimate,
        time_to_train_s=time_s,
        instance_hours=instance_hours,
        cost_usd=cost,
        energy_mwh=energy,
        meets_deadline=meets_deadline,
        meets_budget=meets_budget,
        energy_confidence=None if power is None else power.confidence,
        error_band=_band(system),
    )


def time_to_train_lower_bound(problem: Problem, step_lower_bound_s: float,
                              goodput_upper_bound: float) -> float:
    """A lower bound of :func:`plan_outcome`'s time-to-train from bounds of the step time and goodput
    (the same operations, each monotone, so the bound holds after rounding too)."""
    if step_lower_bound_s <= 0:
        return 0.0
    job = problem.job
    goodput = min(max(goodput_upper_bound, 1e-9), 1.0)
    return job.tokens / (job.global_batch * job.seq_len / step_lower_bound_s) / goodput


def _band(system: SystemSpec) -> ErrorBand | None:
    """The error band of the system's chip (None when its family has none, e.g. a custom chip)."""
    try:
        return load_band(system.chip.family, system.chip.name)
    except ConfigError:
        return None
