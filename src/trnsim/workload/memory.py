"""Memory per rank: weights, gradients, optimizer states, activations and temporary buffers.

Bytes per parameter (mixed precision, Megatron-LM / ZeRO paper accounting): BF16 weights 2 (FP8
training keeps a 1-byte FP8 copy too), gradients 4 when accumulated in FP32 (Megatron's default
for BF16) or 2, Adam in FP32: master weights, first and second moments, 12. ZeRO stage 1 splits
the optimizer states over the data-parallel ranks, stage 2 the gradients as well, stage 3 the
weights as well (Rajbhandari et al. 2020), over the dp·cp ranks that hold the same weights (Megatron-LM's
data-parallel group with context parallelism). Expert parameters are split over the expert
data-parallel group, dp·cp / ep ranks.

A framework precision mode with FP32 parameters under ``torch.autocast`` (NeuronX Distributed's
"Autocast:BF16 + FP32 optimizer" on Trainium, ``devicetime/data/param_passes/``) holds other bytes
than Megatron-LM's BF16 working weights: the FP32 parameters themselves (``param_bytes``), the BF16
cast of every weight that autograd saves for the backward GEMMs (``compute_bytes``; the time model
reuses it in the backward rather than casting again), and the FP32 ``.grad`` (``grad_bytes``). The
ZeRO-1 optimizer of torch-xla/NxD still clones its FP32 shard of the parameters beside Adam's two
moments, so the optimizer stays 12 bytes per sharded parameter.

Activations are the tensors :func:`~trnsim.workload.graph.build_step` saves for the backward
pass, times the micro-batches in flight (a 1F1B pipeline's first stage holds pp of them).
Temporary buffers: the largest single gradient tensor the backward pass writes, the layer a full
recompute rebuilds, and under ZeRO-3 two layers of gathered weights (one in use, one prefetched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

from trnsim.devicetime.param_passes import ParamPasses
from trnsim.errors import ConfigError
from trnsim.workload.config import ModelConfig
from trnsim.workload.graph import build_skeleton
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard

__all__ = [
    "ZERO_STAGES",
    "MemoryBreakdown",
    "MemoryFacts",
    "MemoryParts",
    "breakdown_of",
    "check_memory_args",
    "estimate_memory",
    "memory_facts",
    "memory_of",
    "memory_parts",
    "parts_total",
    "stages_memory_parts",
]

_GIB = 2.0**30
#: Read per estimate, as a module constant (``Precision.FP8`` goes through the enum metaclass's hook).
_FP8 = Precision.FP8
_new_breakdown = object.__new__  # (estimate_memory's MemoryBreakdown, without its __init__)
#: What usually shrinks each part, for the one-line verdict.
_REMEDIES = {
    "weights": "try more tensor/pipeline parallelism or ZeRO-3",
    "grads": "try ZeRO-2 or more tensor/pipeline parallelism",
    "optimizer": "try ZeRO-1 (shard optimizer states over data parallel) or more model parallelism",
    "activations": "try selective/full recompute, a smaller micro-batch, sequence or context parallelism",
    "temporary": "try a smaller micro-batch or more tensor parallelism",
}

#: The ZeRO stage from which each part is already sharded over data parallelism.
_ZERO_SHARDS_FROM = {"optimizer": 1, "grads": 2, "weights": 3}


def _remedy(part: str, recompute: Recompute | None, zero_stage: int | None) -> str:
    """The advice for ``part``, leaving out what the plan already does (when it is known)."""
    if part == "activations" and recompute is Recompute.SELECTIVE:
        return "try full recompute, a smaller micro-batch, sequence or context parallelism"
    if part == "activations" and recompute is Recompute.FULL:
        return "try a smaller micro-batch, sequence or context parallelism, or more pipeline stages"
    if zero_stage is not None and part in _ZERO_SHARDS_FROM and zero_stage >= _ZERO_SHARDS_FROM[part]:
        return "try more data parallelism (ZeRO shards over it) or more tensor/pipeline parallelism"
    return _REMEDIES[part]


_OPTIMIZER_BYTES = 12  # FP32 master weight, Adam m and v


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes one rank needs at its peak, by kind."""

    weights_bytes: float
    grads_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    temporary_bytes: float

    @property
    def total_bytes(self) -> float:
        return (self.weights_bytes + self.grads_bytes + self.optimizer_bytes + self.activations_bytes
                + self.temporary_bytes)

    def parts(self) -> dict[str, float]:
        """The five parts, largest first."""
        items = {"weights": self.weights_bytes, "grads": self.grads_bytes, "optimizer": self.optimizer_bytes,
                 "activations": self.activations_bytes, "temporary": self.temporary_bytes}  # field order
        return dict(sorted(items.items(), key=lambda kv: -kv[1]))

    def fits(self, capacity_bytes: float) -> bool:
        return self.total_bytes <= capacity_bytes

    def explain(self, capacity_bytes: float, recompute: Recompute | None = None,
                zero_stage: int | None = None) -> str:
        """One line: fits with how much headroom, or short by how much and what dominates.

        Given the plan's ``recompute`` and ``zero_stage``, the advice leaves out what it already does.
        """
        total = self.total_bytes
        if total <= capacity_bytes:
            return (f"fits: {total / _GIB:.1f} GiB of {capacity_bytes / _GIB:.1f} GiB "
                    f"({(capacity_bytes - total) / _GIB:.1f} GiB free)")
        name, largest = next(iter(self.parts().items()))
        advice = _remedy(name, recompute, zero_stage)
        return (f"does not fit: needs {total / _GIB:.1f} GiB, has {capacity_bytes / _GIB:.1f} GiB "
                f"(short by {(total - capacity_bytes) / _GIB:.1f} GiB); largest part: {name} "
                f"{largest / _GIB:.1f} GiB ({100 * largest / total:.0f}%); {advice}")

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "total_bytes": self.total_bytes}


def estimate_memory(
    model: ModelConfig,
    shard: Shard,
    dp: int,
    zero_stage: int,
    micro_batch: int,
    seq_len: int,
    precision: Precision = Precision.BF16,
    recompute: Recompute = Recompute.NONE,
    inflight_microbatches: float = 1.0,
    flash_attention: bool = True,
    fp32_grad_accumulation: bool = True,
    param_passes: ParamPasses | None = None,
    head_inflight: float | None = None,
    reshard_after_forward: bool = True,
) -> MemoryBreakdown:
    """Peak memory of one rank for a shard, a data-parallel size and a ZeRO stage (0-3).

    ``head_inflight``: micro-batches of the output layer's saved tensors held at the peak (None: as
    many as the rest, ``inflight_microbatches``); an interleaved pipeline's last chunk runs each
    micro-batch's backward right after its forward, so it holds one.
    ``reshard_after_forward`` False (ZeRO-3/FSDP keeping the gathered weights for the backward, as
    Llama 3 did, Meta 2024, section 3.3.1): a pipeline stage always has a micro-batch between its
    forward and backward, so the stage's full weights stay gathered (no per-layer gather buffers).

    ``param_passes``: the chip family's precision mode (:func:`~trnsim.devicetime.param_passes.
    load_param_passes`), None for BF16 working weights with FP32 gradients (Megatron-LM).

    The same as :func:`memory_of` of :func:`memory_facts` (which a caller tallying many plans of
    one shard keeps).
    """
    check_memory_args(zero_stage, dp, inflight_microbatches)
    facts = memory_facts(model, shard, micro_batch, seq_len, precision, recompute, flash_attention,
                         fp32_grad_accumulation, param_passes)
    return memory_of(facts, dp, zero_stage, inflight_microbatches, head_inflight, reshard_after_forward)


class MemoryFacts(NamedTuple):
    """What :func:`estimate_memory` reads of a shard's step graph and precision, before the plan's
    data parallelism, ZeRO stage and micro-batches in flight: the same for every plan with this
    shard, micro-batch and recomputation (a tuple: made by the thousand in a search)."""

    cp: int  # the shard's CP: dense weights are replicated over dp x cp ranks
    ep: int  # and EP: expert weights over dp x cp / ep ranks
    dense: int
    expert: int
    held: int  # dense + expert: every parameter the rank holds
    weight_bytes: float  # per held parameter
    grad_bytes: float
    activation_bytes: float  # one micro-batch's saved tensors
    head_activation_bytes: float  # of them, the output layer's
    temporary_bytes: float  # the largest gradient written plus a full recompute's layer
    layers: int


def memory_facts(model: ModelConfig, shard: Shard, micro_batch: int, seq_len: int,
                 precision: Precision = Precision.BF16, recompute: Recompute = Recompute.NONE,
                 flash_attention: bool = True, fp32_grad_accumulation: bool = True,
                 param_passes: ParamPasses | None = None) -> MemoryFacts:
    """:class:`MemoryFacts` of a shard (its graph's figures without its ops, as build_step's graph
    would give them)."""
    graph = build_skeleton(model, shard, micro_batch, seq_len, precision, recompute, flash_attention)
    dense, expert = graph.params.dense, graph.params.expert
    weight_bytes = 2 + (1 if precision is _FP8 else 0)
    grad_bytes = 4 if fp32_grad_accumulation else 2
    if param_passes is not None:  # FP32 parameters + their saved BF16 casts; FP32 .grad
        weight_bytes = param_passes.param_bytes + param_passes.compute_bytes
        grad_bytes = param_passes.grad_bytes
    return MemoryFacts(shard.cp, shard.ep, dense, expert, dense + expert, weight_bytes,
                       grad_bytes, graph.activation_bytes, graph.head_activation_bytes,
                       graph.largest_written_bytes + graph.layer_working_bytes,
                       graph.dense_layers + graph.moe_layers)


#: The ZeRO stages :func:`check_memory_args` accepts.
ZERO_STAGES = (0, 1, 2, 3)


def check_memory_args(zero_stage: int, dp: int, inflight_microbatches: float) -> None:
    """:func:`estimate_memory`'s argument checks (one line each)."""
    if zero_stage not in ZERO_STAGES:
        raise ConfigError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage}")
    if dp < 1 or inflight_microbatches < 1:
        raise ConfigError(
            f"dp and inflight_microbatches must be at least 1, got {dp}, {inflight_microbatches}")


def memory_of(facts: MemoryFacts, dp: int, zero_stage: int, inflight_microbatches: float = 1.0,
              head_inflight: float | None = None, reshard_after_forward: bool = True) -> MemoryBreakdown:
    """:func:`estimate_memory` of a shard's :class:`MemoryFacts` (arguments as checked by
    :func:`check_memory_args`)."""
    return breakdown_of(memory_parts(facts, dp, zero_stage, inflight_microbatches, head_inflight,
                                     reshard_after_forward))


#: :class:`MemoryBreakdown`'s five parts in field order (weights, grads, optimizer, activations, temporary).
MemoryParts = tuple[float, float, float, float, float]


def memory_parts(facts: MemoryFacts, dp: int, zero_stage: int, inflight_microbatches: float = 1.0,
                 head_inflight: float | None = None, reshard_after_forward: bool = True) -> MemoryParts:
    """:func:`memory_of`'s five parts, without the object: a planner tallies tens of thousands of
    stages and reads one breakdown of a few of them (their totals: :func:`parts_total`)."""
    return stages_memory_parts((facts,), dp, zero_stage, ((inflight_microbatches, head_inflight),),
                               reshard_after_forward)[0][0]


def stages_memory_parts(facts: Sequence[MemoryFacts], dp: int, zero_stage: int,
                        inflight: Sequence[tuple[float, float | None]], reshard_after_forward: bool = True
                        ) -> tuple[list[MemoryParts], list[float]]:
    """:func:`memory_parts` of several stages of one plan (each stage's facts with its micro-batches in
    flight and its output layer's, as ``(inflight_microbatches, head_inflight)``) and each one's
    :func:`parts_total`, in one call: a planner's memory check tallies every stage of every plan it
    checks, and the plan's ZeRO choices are read once, not once per stage (the same operations on the
    same values per stage)."""
    # Each part's bytes per parameter times the parameters it holds: its ZeRO shard of each group
    # from the stage that shards it, else all of them; weights sharded from ZeRO-3 unless they stay
    # gathered after the forward (never sharded).
    weights_sharded = zero_stage >= 3 and reshard_after_forward
    grads_sharded = zero_stage >= 2
    optimizer_sharded = zero_stage >= 1
    regathered = zero_stage == 3 and reshard_after_forward  # each layer's weights gathered again
    parts: list[MemoryParts] = []
    totals: list[float] = []
    for stage, (inflight_microbatches, head_inflight) in zip(facts, inflight, strict=True):
        (cp, ep, dense, expert, held, weight_bytes, grad_bytes, activation_bytes, head_activation_bytes,
         temporary, layers) = stage
        # Dense weights are replicated over dp x cp ranks (CP splits the sequence, not the weights),
        # and Megatron-LM's distributed optimizer shards over that data-parallel-with-context group.
        sharded = dense / (dp * cp) + expert / max(1, dp * cp // ep)
        weights = weight_bytes * (sharded if weights_sharded else held)
        grads = grad_bytes * (sharded if grads_sharded else held)
        optimizer = _OPTIMIZER_BYTES * (sharded if optimizer_sharded else held)
        activations = activation_bytes * inflight_microbatches
        if head_inflight is not None:
            activations += head_activation_bytes * (head_inflight - inflight_microbatches)
        if regathered and layers:
            temporary += 2 * weight_bytes * (dense + expert) / layers
        parts.append((weights, grads, optimizer, activations, temporary))
        totals.append(weights + grads + optimizer + activations + temporary)  # parts_total's additions
    return parts, totals


def parts_total(parts: MemoryParts) -> float:
    """:attr:`MemoryBreakdown.total_bytes` of :func:`memory_parts` (the same additions in the same order)."""
    weights, grads, optimizer, activations, temporary = parts
    return weights + grads + optimizer + activations + temporary


def breakdown_of(parts: MemoryParts) -> MemoryBreakdown:
    """The :class:`MemoryBreakdown` of :func:`memory_parts`, without the frozen dataclass's ``__init__``
    (one ``object.__setattr__`` call per field)."""
    weights, grads, optimizer, activations, temporary = parts
    breakdown = _new_breakdown(MemoryBreakdown)
    breakdown.__dict__.update(weights_bytes=weights, grads_bytes=grads, optimizer_bytes=optimizer,
                              activations_bytes=activations, temporary_bytes=temporary)
    return breakdown
