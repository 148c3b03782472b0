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
        job = self.job
        key = (id(c), job.global_batch, job.sequence_parallel)
        hit = _PLANS.get(key)
        if hit is not None and hit[0] is c:
            return hit[1]
        if len(_PLANS) >= _PLANS_LIMIT:
            _PLANS.clear()
        plan = search_plan(
            tp=c.tp, pp=c.pp, dp=c.dp, cp=c.cp, ep=c.ep, zero_stage=c.zero_stage, micro_batch=c.micro_batch,
            global_batch=job.global_batch, interleave=c.interleave, recompute=c.recompute,
            sequence_parallel=job.sequence_parallel and c.tp > 1,
            account_for_embedding_loss=c.account_for_embedding_loss,
        )
        _PLANS[key] = (c, plan)
        return plan


#: Plans by (candidate, global batch, sequence parallelism), all a plan reads: one (immutable) plan
#: serves every system searched at a rank count, as they share their candidates
#: (:func:`~trnsim.plan.space.candidate_groups`), so ``trnsim compare`` builds each once, not once
#: per system and per bound, check and estimate of it. Keyed by the candidate's identity (hashing a
#: dataclass costs more than the copy saved); an entry keeps its candidate, so a recycled id never
#: returns another candidate's plan.
_PLANS: dict[tuple[int, int, bool], tuple[Candidate, ParallelPlan]] = {}
_PLANS_LIMIT = 8192  # some 14 MB of plans; a comparison builds about 2,300
