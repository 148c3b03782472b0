"""The search space: which parallel plans are valid for a model on a number of ranks.

Every candidate this module yields satisfies the divisibility rules below, so no plan the planner
returns can violate them (the cluster model may still reject a plan for its own reasons, which
the planner counts):

- tp × pp × cp × dp = ranks;
- tp divides the attention heads, and tp and the KV heads divide one another (KV heads are
  replicated when tp exceeds them);
- cp divides the sequence length; ep divides the experts and the data-parallel ranks;
- pp × interleave ≤ layers; with ``even_layers`` pp divides the layers or leaves the first and last
  stages one layer fewer (Llama 3 405B: 126 layers on 16 stages of 7, 8, ..., 8, 7), and every stage
  has at least ``interleave`` layers (uneven virtual stages, as Megatron-LM's); interleave > 1
  only with pp > 1 and a micro-batch count divisible by pp (Megatron's rule for the interleaved
  schedule);
- with ``embedding_loss_slots`` True also interleaved plans whose pp × interleave divides the
  layers + 2 (the embedding and the loss each take a layer's slot: Llama 3 405B's 126 + 2 layers on
  16 stages × 8 one-layer chunks, which the rule above leaves out: its 7-layer stages are < 8);
- dp × micro_batch divides the global batch; with dp = 1 only ZeRO stage 0 (nothing to shard).

Candidates come in *groups* sharing a structure (tp, pp, dp, cp, ep, interleave); within a group
the memory-saving knobs vary. The group's most frugal member (highest ZeRO stage, smallest
micro-batch, most recomputation) is listed first so that the search can drop the whole group
when even that member does not fit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property

from pydantic import BaseModel, ConfigDict, field_validator

from trnsim.plan.candidate import RECOMPUTE_ORDER, Candidate, Recompute
from trnsim.plan.choices import SpaceProfile as SpaceProfile  # re-exported: its old home
from trnsim.plan.problem import Problem
from trnsim.workload.config import ModelConfig


class SearchSpace(BaseModel):
    """Options per knob.

    ``None`` means: TP and EP powers of two up to what the node, heads or experts allow; PP every
    stage count that divides the ranks (and the layers, with ``even_layers``, which the cluster
    model requires).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tp: tuple[int, ...] | None = None
    pp: tuple[int, ...] | None = None
    cp: tuple[int, ...] = (1, 2, 4, 8)
    ep: tuple[int, ...] | None = None
    interleave: tuple[int, ...] = (1, 2, 4)
    zero_stages: tuple[int, ...] = (0, 1, 2, 3)
    micro_batches: tuple[int, ...] = (1, 2, 4, 8)
    recompute: tuple[Recompute, ...] = RECOMPUTE_ORDER
    tp_within_node: bool = True
    even_layers: bool = True
    #: Whether the embedding and the loss take a layer's slot each (ParallelPlan's
    #: account_for_embedding_loss), tried where it means something: interleave > 1 and
    #: pp × interleave dividing the layers + 2.
    embedding_loss_slots: tuple[bool, ...] = (False, True)

    @field_validator("tp", "pp", "cp", "ep", "interleave", "micro_batches")
    @classmethod
    def _positive(cls, values: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if values is not None and (not values or any(v < 1 for v in values)):
            raise ValueError(f"options must be a non-empty list of positive integers, got {list(values)}")
        return values

    @field_validator("zero_stages")
    @classmethod
    def _zero_stages(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if not values or any(v not in (0, 1, 2, 3) for v in values):
            raise ValueError(f"ZeRO stages must be among 0, 1, 2, 3, got {list(values)}")
        return values


def quick_space() -> SearchSpace:
    """A smaller space for broad comparisons (about 1/8 of the default), documented trade-offs:

    - ZeRO 2 and 3 only: stages 0, 1 and 2 move the same gradient volume (2 × parameters per
      step, Rajbhandari et al. 2020), so stage 2, holding the least, stands in for all three;
    - context parallelism up to 2, interleave up to 2, micro-batches up to 4.

    The embedding/loss slots stay in: only interleaved plans with pp × 2 dividing the layers + 2
    take them (none of ``trnsim compare``'s default model, 80 + 2 = 2 × 41 layers).
    """
    return SearchSpace(cp=(1, 2), interleave=(1, 2), micro_batches=(1, 2, 4), zero_stages=(2, 3))


@dataclass(frozen=True)
class CandidateGroup:
    """Candidates sharing one structure; ``members[0]`` is the most memory-frugal."""

    members: tuple[Candidate, ...]

    @cached_property
    def ladders(self) -> tuple[tuple[Candidate, ...], ...]:
        """The members by (micro-batch, ZeRO stage) in order of first appearance, each least
        recomputation first: plans differing only in recomputation (a search walks them in this order)."""
        ladders: dict[tuple[int, int], list[Candidate]] = {}
        for candidate in self.members:
            ladders.setdefault((candidate.micro_batch, candidate.zero_stage), []).append(candidate)
        return tuple(tuple(sorted(ladder, key=lambda c: RECOMPUTE_ORDER.index(c.recompute)))
                     for ladder in ladders.values())


def _powers_of_two_up_to(limit: int) -> tuple[int, ...]:
    out, value = [], 1
    while value <= limit:
        out.append(value)
        value *= 2
    return tuple(out)


def _divides(a: int, b: int) -> bool:
    return b % a == 0


def _tp_ok(model: ModelConfig, tp: int) -> bool:
    kv = model.num_kv_heads
    return _divides(tp, model.num_heads) and (_divides(tp, kv) or _divides(kv, tp))


def _balanced_stages(pp: int, layers: int) -> bool:
    """pp divides the layers, or the first and last stages take one layer fewer than the others."""
    return layers % pp == 0 or (pp > 2 and (layers + 2) % pp == 0)


def _structures(problem: Problem,
                space: SearchSpace) -> Iterator[tuple[int, int, int, int, int, int, bool]]:
    model, ranks, job = problem.model, problem.ranks, problem.job
    tp_limit = problem.system.ranks_per_node if space.tp_within_node else ranks
    tps = space.tp or _powers_of_two_up_to(min(tp_limit, model.num_heads))
    # a degree divides the ranks: none above them (nor above the layers), whatever the layer count
    most = min(model.num_layers, ranks) if ranks > 0 else model.num_layers
    pps = space.pp or tuple(
        d for d in range(1, most + 1)
        if ranks % d == 0 and (not space.even_layers or _balanced_stages(d, model.num_layers))
    )
    experts = max(1, model.num_experts)  # a dense model counts as one expert
    eps = space.ep or _powers_of_two_up_to(experts)
    for tp in tps:
        if tp > tp_limit or not _divides(tp, ranks) or not _tp_ok(model, tp):
            continue
        for pp in pps:
            if not _divides(tp * pp, ranks):
                continue
            for cp in space.cp:
                if not _divides(tp * pp * cp, ranks) or not _divides(cp, job.seq_len):
                    continue
                dp = ranks // (tp * pp * cp)
                if not _divides(dp, job.global_batch):
                    continue
                for ep in eps:
                    if not _divides(ep, experts) or not _divides(ep, dp):
                        continue
                    for v in space.interleave:
                        if v > 1 and pp == 1:
                            continue
                        stages = pp * v
                        if space.even_layers and not _balanced_stages(pp, model.num_layers):
                            continue
                        for slots in space.embedding_loss_slots:
                            if slots:  # interleaved, whole slots per model chunk (cluster's rule)
                                if v == 1 or (model.num_layers + 2) % stages:
                                    continue
                            elif stages > model.num_layers or model.num_layers // pp < v:
                                continue  # the lightest stage (L // pp layers) needs a layer per model chunk
                            yield tp, pp, dp, cp, ep, v, slots


def _members(structure: tuple[int, int, int, int, int, int, bool], global_batch: int,
             micro_batches: list[int], recomputes: list[Recompute],
             zero_stages: list[int]) -> tuple[Candidate, ...]:
    tp, pp, dp, cp, ep, v, slots = structure
    # ZeRO shards over data-parallel ranks: with dp = 1 every stage is plain stage 0.
    zeros = zero_stages if dp > 1 else [0]
    out: list[Candidate] = []
    # Frugal first: highest ZeRO, smallest micro-batch, most recompute.
    for mb in micro_batches:
        if not _divides(dp * mb, global_batch):
            continue
        micro_batches_per_step = global_batch // (dp * mb)
        if v > 1 and not _divides(pp, micro_batches_per_step):
            continue
        for recompute in recomputes:
            for zero in zeros:
                out.append(Candidate(tp, pp, dp, cp, ep, v, zero, mb, recompute, slots))
    return tuple(out)


#: Groups by everything :func:`_structures` and :func:`_members` read (systems of one node size share
#: them at a rank count: a comparison enumerates each set of groups once).
_GROUPS: dict[tuple[object, ...], tuple[CandidateGroup, ...]] = {}
_GROUPS_LIMIT = 1024
#: Each group (None: no members) by its structure and the knobs its members read: the enumerations
#: of systems with other TP limits share their common groups, the same candidate objects (which the
#: plans built of them are keyed by, :meth:`~trnsim.plan.problem.Problem.parallel_plan`).
_GROUP_OF: dict[tuple[object, ...], CandidateGroup | None] = {}


def candidate_groups(problem: Problem, space: SearchSpace) -> list[CandidateGroup]:
    """All valid candidates of ``problem``, grouped by structure, frugal member first."""
    model, job = problem.model, problem.job
    # TP is at most the limit and divides the heads: systems whose nodes hold all heads' worth share
    tp_limit = min(problem.system.ranks_per_node if space.tp_within_node else problem.ranks, model.num_heads)
    key = (model.num_heads, model.num_kv_heads, model.num_layers, model.num_experts, problem.ranks, tp_limit,
           job.seq_len, job.global_batch, space)
    groups = _GROUPS.get(key)
    if groups is None:
        if len(_GROUPS) >= _GROUPS_LIMIT:
            _GROUPS.clear()
            _GROUP_OF.clear()
        # the knobs' values in the members' order (frugal first), once per enumeration
        micro_batches = sorted(space.micro_batches)
        recomputes = sorted(space.recompute, key=RECOMPUTE_ORDER.index, reverse=True)
        zero_stages = sorted(set(space.zero_stages), reverse=True)
        knobs = (job.global_batch, tuple(micro_batches), tuple(recomputes), tuple(zero_stages))
        groups_of = []
        for structure in _structures(problem, space):
            if (structure, knobs) in _GROUP_OF:
                group = _GROUP_OF[structure, knobs]
            else:
                members = _members(structure, job.global_batch, micro_batches, recomputes, zero_stages)
                group = _GROUP_OF[structure, knobs] = CandidateGroup(members) if members else None
            if group is not None:
                groups_of.append(group)
        groups = _GROUPS[key] = tuple(groups_of)
    return list(groups)


def max_usable_ranks(problem: Problem, space: SearchSpace) -> tuple[int, int, int, int]:
    """An upper bound on the ranks any split can use, and its factors (TP, PP, CP limits).

    Data parallelism must divide the global batch, so no split uses more than
    ``global_batch × max TP × max PP × max CP`` ranks.
    """
    model, job = problem.model, problem.job
    tp_limit = problem.system.ranks_per_node if space.tp_within_node else problem.ranks
    tps = [t for t in (space.tp or _powers_of_two_up_to(min(tp_limit, model.num_heads)))
           if t <= tp_limit and _tp_ok(model, t)]
    pps = space.pp or tuple(d for d in range(1, model.num_layers + 1)
                            if not space.even_layers or model.num_layers % d == 0)
    cps = [c for c in space.cp if _divides(c, job.seq_len)]
    tp, pp, cp = max(tps, default=1), max(pps), max(cps, default=1)
    return job.global_batch * tp * pp * cp, tp, pp, cp


def nearest_splittable_ranks(problem: Problem, space: SearchSpace, tries: int = 64) -> int | None:
    """The rank count nearest to ``problem.ranks`` that has a valid split and fills whole nodes
    (or evenly part of one), or ``None`` if none of the ``tries`` nearest products has one.

    Every split is TP × PP × CP × DP with DP dividing the global batch, so the candidates are the
    products of the allowed degrees; only the nearest few are checked in full.
    """
    model, job = problem.model, problem.job
    per_node = problem.system.ranks_per_node
    tp_limit = problem.system.ranks_per_node if space.tp_within_node else problem.ranks
    tps = [t for t in (space.tp or _powers_of_two_up_to(min(tp_limit, model.num_heads)))
           if t <= tp_limit and _tp_ok(model, t)]
    pps = space.pp or tuple(d for d in range(1, model.num_layers + 1)
                            if not space.even_layers or model.num_layers % d == 0)
    cps = [c for c in space.cp if _divides(c, job.seq_len)]
    # divisors of the global batch (all of them up to a batch of 10^12; a larger one gives a partial list)
    dps = [d for d in range(1, min(math.isqrt(job.global_batch), 10**6) + 1) if job.global_batch % d == 0]
    dps += [job.global_batch // d for d in dps]
    products = {t * p * c * d for t in tps for p in pps for c in cps for d in dps}
    whole = [r for r in products if r != problem.ranks and (r % per_node == 0 or per_node % r == 0)]
    for ranks in sorted(whole, key=lambda r: (abs(r - problem.ranks), r))[:tries]:
        if candidate_groups(replace(problem, ranks=ranks), space):
            return ranks
    return None
