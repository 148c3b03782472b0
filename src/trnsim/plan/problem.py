"""What the planner is asked: a model, a system, a rank count and a training job.

A :class:`Problem` holds the layers' own types: the workload's :class:`ModelConfig` and the
catalog's :class:`SystemSpec` (with the topology a what-if changed, if any), which the search
hands unchanged to the cluster model (:func:`trnsim.cluster.step.check_plan` and
:func:`~trnsim.cluster.step.estimate_step`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from trnsim.cluster.plan import ParallelPlan, search_plan
from trnsim.cluster.topology import TopologySpec
from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.candidate import Candidate
from trnsim.plan.choices import Objective as Objective  # re-exported: its old home
from trnsim.workload.config import ModelConfig
from trnsim.workload.options import Precision


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

    model: ModelConfig
    system: SystemSpec
    ranks: int
    job: TrainingJob
    #: The system's topology when a what-if changed its links (None: the catalog's own).
    topology: TopologySpec | None = None

    @property
    def chips(self) -> int:
        """Chips used (ranks may be finer than chips, e.g. logical NeuronCores)."""
        return -(-self.ranks // self.system.ranks_per_chip)

    @property
    def nodes(self) -> int:
        """Nodes (instances) billed: whole instances, even when the ranks do not fill the last."""
        return -(-self.ranks // self.system.ranks_per_node)

    def parallel_plan(self, candidate: Candidate) -> ParallelPlan:
        """The cluster's plan for a candidate: the interleaved schedule when interleave > 1,
        sequence parallelism with every TP > 1 when the job asks for it, the job's global batch.

        Raises :class:`~trnsim.errors.ConfigError` when the knobs contradict one another.
        """
        c = candidate
        sequence_parallel = self.job.sequence_parallel and c.tp > 1
        key = (c, self.job.global_batch, sequence_parallel)
        plan = _PLANS.get(key)
        if plan is None:
            if len(_PLANS) >= _PLANS_LIMIT:
                _PLANS.clear()
            plan = _PLANS[key] = search_plan(
                tp=c.tp, pp=c.pp, dp=c.dp, cp=c.cp, ep=c.ep, zero_stage=c.zero_stage,
                micro_batch=c.micro_batch, global_batch=self.job.global_batch, interleave=c.interleave,
                recompute=c.recompute, sequence_parallel=sequence_parallel,
                account_for_embedding_loss=c.account_for_embedding_loss,
            )
        return plan


#: Plans by (candidate, global batch, sequence parallelism): all a plan reads, so one (immutable)
#: plan serves every system searched at a rank count (``trnsim compare`` builds each once, not once
#: per system and per bound, check and estimate of it).
_PLANS: dict[tuple[Candidate, int, bool], ParallelPlan] = {}
_PLANS_LIMIT = 65536
