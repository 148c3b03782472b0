"""What the planner is asked: a model, a system, a rank count and a training job.

The planner reads only a few facts of a model and a system (layer and head counts, ranks per node,
price, power); :class:`ModelShape` and :class:`SystemShape` carry exactly those, plus an opaque
handle to the full config that an :class:`~trnsim.plan.evaluator.Evaluator` passes on to the
cluster model. Keeping the planner's view this small lets it be tested against simple analytic
evaluators and stay independent of how the layers below spell their configs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from trnsim.workload.options import Precision


class Objective(StrEnum):
    """What the planner minimises."""

    TIME = "time"
    COST = "cost"


@dataclass(frozen=True)
class ModelShape:
    """The facts of a model that decide which parallel plans are valid."""

    name: str
    num_layers: int
    num_heads: int
    num_kv_heads: int
    hidden_size: int
    num_experts: int = 1
    params: float = 0.0
    config: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SystemShape:
    """The facts of a system the planner needs beyond the cluster model's own.

    ``price_usd_per_node_hour`` and ``power_w_per_chip`` are ``None`` when unknown: the planner
    then reports cost or energy as unknown rather than inventing a figure.
    """

    name: str
    chips_per_node: int
    ranks_per_chip: int = 1
    chip_name: str = ""
    price_usd_per_node_hour: float | None = None
    price_date: str | None = None
    price_source: str | None = None
    power_w_per_chip: float | None = None
    power_note: str | None = None
    #: Confidence of the power figure ('published', 'estimate', ...); energy inherits it.
    power_confidence: str | None = None
    config: Any = field(default=None, compare=False, repr=False)

    @property
    def ranks_per_node(self) -> int:
        """Ranks (devices a framework sees) in one node (instance or server)."""
        return self.chips_per_node * self.ranks_per_chip


class TrainingJob(BaseModel):
    """A training job: how many tokens, in which shape, under which constraints."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: float = Field(gt=0, description="total training tokens")
    seq_len: PositiveInt = 4096
    global_batch: PositiveInt = Field(default=1024, description="sequences per optimizer step")
    precision: Precision = Precision.BF16
    deadline_days: float | None = Field(default=None, gt=0)
    budget_usd: float | None = Field(default=None, gt=0)
    pue: float = Field(default=1.0, ge=1.0, description="power usage effectiveness applied to energy")
    objective: Objective = Objective.TIME
    #: Sequence parallelism with every TP > 1 plan (the default of NxD, NeMo and Megatron with TP).
    sequence_parallel: bool = True

    @model_validator(mode="after")
    def _batch_fits_tokens(self) -> TrainingJob:
        if self.tokens < self.seq_len * self.global_batch:
            raise ValueError(
                f"tokens={self.tokens:g} is fewer than one step "
                f"(global_batch {self.global_batch} × seq_len {self.seq_len})"
            )
        return self

    @property
    def tokens_per_step(self) -> int:
        """Tokens consumed by one optimizer step."""
        return self.seq_len * self.global_batch

    @property
    def steps(self) -> float:
        """Optimizer steps needed to consume the token budget."""
        return self.tokens / self.tokens_per_step


@dataclass(frozen=True)
class Problem:
    """One search: a model on a system with a number of ranks, for a job."""

    model: ModelShape
    system: SystemShape
    ranks: int
    job: TrainingJob

    @property
    def chips(self) -> int:
        """Chips used (ranks may be finer than chips, e.g. logical NeuronCores)."""
        return -(-self.ranks // self.system.ranks_per_chip)

    @property
    def nodes(self) -> int:
        """Nodes (instances) billed: whole instances, even when the ranks do not fill the last."""
        return -(-self.ranks // self.system.ranks_per_node)
