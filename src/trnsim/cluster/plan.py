"""A parallel plan (how a training step is split over ranks) and the checks that make it feasible.

Rank order (Megatron-LM's default): tensor parallel innermost (consecutive ranks, so a TP group
shares a chip or a server first), then context parallel, then data parallel, then pipeline stages
outermost. Expert parallelism takes its groups from the data-parallel ranks (``ep`` consecutive DP
ranks; Megatron-core and DeepSpeed-MoE do the same), so the rank count is ``tp * cp * dp * pp`` and
``ep`` must divide ``dp``.

:func:`check_plan` is cheap (no graph, no device time; one closed-form memory estimate) so that a
planner can prune with it; each failure is an :class:`InfeasiblePlanError` with a typed reason.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trnsim.cluster.notation import plan_notation
from trnsim.cluster.options import CPExchange
from trnsim.cluster.options import GradReduceDtype as GradReduceDtype  # re-exported: its old home
from trnsim.cluster.pipeline import Schedule
from trnsim.errors import ConfigError, TrnsimError
from trnsim.workload.options import Recompute

__all__ = [
    "GradReduceDtype",
    "InfeasiblePlanError",
    "InfeasibleReason",
    "ParallelPlan",
    "default_bucket_params",
    "make_plan",
    "microbatches_of",
    "search_plan",
]


def default_bucket_params(dp: int, cp: int) -> int:
    """Megatron-LM's default parameters per data-parallel bucket, ``max(40,000,000, 1,000,000 x dp x
    cp)`` (its data-parallel group includes the CP ranks)."""
    return max(40_000_000, 1_000_000 * dp * cp)


def microbatches_of(global_batch: int, dp: int, micro_batch: int) -> int:
    """Micro-batches per pipeline per step (gradient-accumulation steps), at least one."""
    return max(1, global_batch // (dp * micro_batch))


class InfeasibleReason(StrEnum):
    """Why a plan cannot run (the planner counts these)."""

    RANK_COUNT = "rank-count"  # degrees do not multiply to the rank count
    DIVISIBILITY = "divisibility"  # TP/EP/CP does not divide heads, experts, sequence
    BATCH = "batch"  # global batch not a multiple of dp x micro-batch
    PIPELINE_DEPTH = "pipeline-depth"  # more stages (x virtual stages) than layers
    SCHEDULE = "schedule"  # interleaving constraints
    MEMORY = "memory"  # does not fit in the memory of a rank
    INVALID = "invalid-plan"  # the knobs contradict one another (the plan cannot be built)


class InfeasiblePlanError(TrnsimError):
    """A plan that cannot run on this model and system; ``reason`` says why, the message how.

    ``message`` may be a function that makes it, called when the error is first shown: a planner
    rejects thousands of plans for memory and reads only the reason (formatting each verdict cost
    about a twentieth of a 405B search). Only a value that cannot change may be formatted later.
    """

    def __init__(self, reason: InfeasibleReason, message: str | Callable[[], str]) -> None:
        if isinstance(message, str):
            super().__init__(message)
            self._make: Callable[[], str] | None = None
        else:
            super().__init__()
            self._make = message
        self.reason = reason

    def _made(self) -> None:
        """Make the message of a lazily given error (once), where the exception holds it."""
        if self._make is not None:
            self.args, self._make = (self._make(),), None

    def __str__(self) -> str:
        self._made()
        return super().__str__()

    def __repr__(self) -> str:
        self._made()
        return super().__repr__()

    def __reduce__(self) -> tuple[Any, ...]:
        self._made()
        return (type(self), (self.reason, self.args[0] if self.args else ""), self.__dict__)


class ParallelPlan(BaseModel):
    """Degrees of parallelism and the options of one training step (immutable, validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tp: int = Field(1, ge=1, description="tensor-parallel size")
    pp: int = Field(1, ge=1, description="pipeline-parallel stages")
    dp: int = Field(1, ge=1, description="data-parallel size")
    cp: int = Field(1, ge=1, description="context-parallel size (ring attention)")
    ep: int = Field(1, ge=1, description="expert-parallel size, taken from the DP ranks")
    zero_stage: int = Field(0, ge=0, le=3, description="ZeRO stage (1: optimizer, 2: +grads, 3: +params)")
    fsdp: bool = Field(False, description="fully sharded data parallel (= ZeRO-3)")
    reshard_after_forward: bool = Field(
        True, description="ZeRO-3/FSDP: free gathered weights after each forward (False: keep them for the "
        "backward, one all-gather per micro-batch instead of two, as Llama 3)")
    micro_batch: int = Field(1, ge=1, description="sequences per micro-batch per DP rank")
    global_batch: int = Field(1, ge=1, description="sequences per optimizer step")
    interleave: int = Field(1, ge=1, description="virtual pipeline stages per rank (1 = none)")
    first_stage_layers: int | None = Field(
        None, ge=1, description="layers on the first pipeline stage (Megatron's "
        "--decoder-first-pipeline-num-layers; None: one fewer than the middle ones when pp does not divide)")
    last_stage_layers: int | None = Field(
        None, ge=1, description="layers on the last pipeline stage (--decoder-last-pipeline-num-layers)")
    account_for_embedding_loss: bool = Field(
        False, description="the embedding and the loss each take a layer's place when the layers are split "
        "over the p x interleave model chunks (Megatron-core's --account-for-embedding-in-pipeline-split "
        "and --account-for-loss-in-pipeline-split; Llama 3's layout)")
    microbatch_group: int | None = Field(
        None, ge=1, description="micro-batches each rank runs back to back on one model chunk in the "
        "interleaved schedule (Megatron-core's --microbatch-group-size-per-virtual-pipeline-stage, Llama 3's "
        "N; None: pp)")
    schedule: Schedule = Schedule.ONE_F_ONE_B
    recompute: Recompute = Recompute.NONE
    sequence_parallel: bool = False
    cp_exchange: CPExchange = Field(CPExchange.RING, description="how CP ranks exchange K/V")
    overlap_dp_comm: bool = True
    overlap_tp_comm: bool = False
    overlap_p2p_comm: bool = Field(False, description="interleaved schedule: asynchronous stage-to-stage "
                                   "sends beside compute (Llama 3's async P2P; Megatron's "
                                   "--overlap-p2p-communication)")
    flash_attention: bool = Field(True, description="fused attention keeping no score matrix")
    grad_reduce_dtype: GradReduceDtype = GradReduceDtype.FP32
    dp_bucket_params: int | None = Field(
        None, ge=1, description="parameters per gradient bucket (None: Megatron-LM's default)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ParallelPlan:
        if self.fsdp and self.zero_stage not in (0, 3):
            raise ValueError(f"fsdp shards everything (ZeRO-3); it contradicts zero_stage={self.zero_stage}")
        if self.interleave > 1 and self.schedule is not Schedule.INTERLEAVED:
            raise ValueError(
                f"interleave={self.interleave} needs schedule 'interleaved', got '{self.schedule}'"
            )
        if (self.first_stage_layers is not None or self.last_stage_layers is not None) and self.pp == 1:
            raise ValueError("first/last stage layers need pp > 1")
        if not self.reshard_after_forward and self.effective_zero_stage != 3:
            raise ValueError("reshard_after_forward=False needs ZeRO-3/FSDP (weights sharded)")
        if self.account_for_embedding_loss and (self.pp == 1 or self.first_stage_layers is not None
                                                or self.last_stage_layers is not None):
            raise ValueError("account_for_embedding_loss needs pp > 1 and no first/last stage layers")
        if self.microbatch_group is not None and self.schedule is not Schedule.INTERLEAVED:
            raise ValueError(f"microbatch_group needs schedule 'interleaved', got '{self.schedule}'")
        if self.sequence_parallel and self.tp == 1:
            raise ValueError("sequence_parallel splits activations over the TP group; it needs tp > 1")
        return self

    @property
    def ranks(self) -> int:
        """Ranks the plan uses: ``tp * cp * dp * pp`` (EP reuses DP ranks)."""
        return self.tp * self.cp * self.dp * self.pp

    @property
    def bucket_params(self) -> int:
        """Parameters per data-parallel bucket: the plan's, or Megatron-LM's default
        (:func:`default_bucket_params`)."""
        if self.dp_bucket_params is not None:
            return self.dp_bucket_params
        return default_bucket_params(self.dp, self.cp)

    @property
    def effective_zero_stage(self) -> int:
        """ZeRO stage with FSDP counted as 3."""
        return 3 if self.fsdp else self.zero_stage

    @property
    def microbatches(self) -> int:
        """Micro-batches per pipeline per step (gradient-accumulation steps)."""
        return microbatches_of(self.global_batch, self.dp, self.micro_batch)

    # Strides of each group in the rank order tp < cp < dp < pp.
    @property
    def tp_stride(self) -> int:
        return 1

    @property
    def cp_stride(self) -> int:
        return self.tp

    @property
    def dp_stride(self) -> int:
        return self.tp * self.cp

    @property
    def pp_stride(self) -> int:
        return self.tp * self.cp * self.dp

    def describe(self) -> str:
        """trnsim's plan notation: ``tp8 pp4 dp16 zero1 mb1 gb512 recompute=full``."""
        return plan_notation(
            tp=self.tp, pp=self.pp, dp=self.dp, cp=self.cp, ep=self.ep, interleave=self.interleave,
            zero=self.effective_zero_stage, micro_batch=self.micro_batch, recompute=str(self.recompute),
            global_batch=self.global_batch, schedule=str(self.schedule),
            sequence_parallel=self.sequence_parallel, microbatch_group=self.microbatch_group,
            account_for_embedding_loss=self.account_for_embedding_loss,
            reshard_after_forward=self.reshard_after_forward,
        )


def make_plan(**fields: object) -> ParallelPlan:
    """Build a :class:`ParallelPlan`, turning validation errors into one-line :class:`ConfigError`."""
    try:
        return ParallelPlan(**fields)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        if not loc:
            raise ConfigError(f"parallel plan: {message}") from None
        raise ConfigError(f"parallel plan: '{loc}' {message} (got {fields.get(loc)!r})") from None


#: A plan with every default, copied by :func:`search_plan` (built on first use).
_DEFAULTS: list[ParallelPlan] = []


def search_plan(*, tp: int, pp: int, dp: int, cp: int, ep: int, zero_stage: int, micro_batch: int,
                global_batch: int, interleave: int, recompute: Recompute, sequence_parallel: bool,
                account_for_embedding_loss: bool = False) -> ParallelPlan:
    """:func:`make_plan` of a planner's knobs (the schedule follows ``interleave``): an equal plan.

    A search builds thousands of plans from knobs its search space has already checked. Values that
    pass the checks below (every rule of :class:`ParallelPlan` these knobs can break, the other fields
    keeping their defaults) are copied into a default plan without pydantic's validation (half the
    cost); anything else goes through :func:`make_plan`, which validates it and says what is wrong.
    """
    degrees = (tp, pp, dp, cp, ep, micro_batch, global_batch, interleave)
    trusted = (set(map(type, degrees)) == {int} and min(degrees) >= 1  # ints (not bools), all positive
               and type(zero_stage) is int and 0 <= zero_stage <= 3
               and type(recompute) is Recompute and type(sequence_parallel) is bool
               and not (sequence_parallel and tp == 1)
               and type(account_for_embedding_loss) is bool and not (account_for_embedding_loss and pp == 1))
    fields: dict[str, object] = {
        "tp": tp, "pp": pp, "dp": dp, "cp": cp, "ep": ep, "zero_stage": zero_stage,
        "micro_batch": micro_batch, "global_batch": global_batch, "interleave": interleave,
        "schedule": Schedule.INTERLEAVED if interleave > 1 else Schedule.ONE_F_ONE_B,
        "recompute": recompute, "sequence_parallel": sequence_parallel,
        "account_for_embedding_loss": account_for_embedding_loss,
    }
    if not trusted:
        return make_plan(**fields)
    if not _DEFAULTS:
        _DEFAULTS.append(make_plan())
    return _copied(_DEFAULTS[0], fields)


_new_object, _set_object_attribute = object.__new__, object.__setattr__


def _copied(base: ParallelPlan, update: dict[str, object]) -> ParallelPlan:
    """``base.model_copy(update=update)`` (pydantic 2: a shallow copy of the instance's field dict,
    extra and fields-set, then the update), made directly: pydantic's ``__copy__`` copies each
    container through ``copy.copy`` (a tenth of a planner's work on its plans). The plan has no
    extra fields and no private attributes (``extra="forbid"``, none declared); equal state,
    checked against ``model_copy`` by tests/cluster/test_search_plan.py."""
    plan = _new_object(ParallelPlan)
    values = base.__dict__.copy()
    values.update(update)
    _set_object_attribute(plan, "__dict__", values)
    _set_object_attribute(plan, "__pydantic_extra__", None)
    fields_set = base.__pydantic_fields_set__.copy()
    fields_set.update(update.keys())
    _set_object_attribute(plan, "__pydantic_fields_set__", fields_set)
    _set_object_attribute(plan, "__pydantic_private__", None)
    return plan
