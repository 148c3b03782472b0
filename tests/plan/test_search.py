"""The search returns the true optimum and never a plan that breaks memory or divisibility."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.plan.toy_steps import ToyStepModel, toy_estimate, toy_problem
from trnsim.cluster.plan import InfeasibleReason, ParallelPlan
from trnsim.cluster.step import StepResult
from trnsim.cluster.topology import TopologySpec
from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.candidate import RECOMPUTE_ORDER, Candidate, Recompute
from trnsim.plan.economics import plan_outcome
from trnsim.plan.errors import NoFeasiblePlanError
from trnsim.plan.problem import Objective, Problem
from trnsim.plan.search import ranking_key, search_plans
from trnsim.plan.space import SearchSpace, candidate_groups
from trnsim.workload.config import ModelConfig
from trnsim.workload.options import Precision

# Non-powers of two on purpose, so the divisibility rules are exercised.
SMALL_SPACE = SearchSpace(
    tp=(1, 2, 3, 4, 8), pp=(1, 2, 3, 4), cp=(1, 2), interleave=(1, 2),
    zero_stages=(0, 1, 3), micro_batches=(1, 2, 4),
)


def brute_force_candidates(problem: Problem, space: SearchSpace) -> set[Candidate]:
    """Every knob combination, filtered by the rules written out independently of space.py."""
    model, job, ranks = problem.model, problem.job, problem.ranks
    out = set()
    assert space.tp and space.pp
    for tp, pp, cp, v, zero, mb, rc, slots in itertools.product(
        space.tp, space.pp, space.cp, space.interleave, space.zero_stages, space.micro_batches,
        RECOMPUTE_ORDER, space.embedding_loss_slots,
    ):
        if ranks % (tp * pp * cp):
            continue
        dp = ranks // (tp * pp * cp)
        kv_ok = model.num_kv_heads % tp == 0 or tp % model.num_kv_heads == 0
        # without the embedding/loss slots every stage has a layer per model chunk; with them, only
        # interleaved, the L + 2 slots split evenly into pp x v chunks
        layout = (v > 1 and (model.num_layers + 2) % (pp * v) == 0 if slots
                  else pp * v <= model.num_layers and model.num_layers // pp >= v)
        ok = (
            tp <= problem.system.ranks_per_node and model.num_heads % tp == 0 and kv_ok
            and job.seq_len % cp == 0 and layout and not (v > 1 and pp == 1)
            and (not space.even_layers or model.num_layers % pp == 0
                 or (pp > 2 and (model.num_layers + 2) % pp == 0))
            and job.global_batch % (dp * mb) == 0 and not (zero > 0 and dp == 1)
            and not (v > 1 and (job.global_batch // (dp * mb)) % pp)
        )
        if ok:
            out.add(Candidate(tp, pp, dp, cp, 1, v, zero, mb, rc, slots))
    return out


def brute_force_best(problem: Problem, steps: ToyStepModel, space: SearchSpace) -> tuple:
    keys = []
    for c in brute_force_candidates(problem, space):
        result = toy_estimate(steps, problem, c)
        if result is not None:
            keys.append(ranking_key(plan_outcome(problem, c, result), problem.job.objective))
    return min(keys)


@pytest.mark.parametrize("even_layers", [True, False])
def test_space_matches_brute_force_enumeration(even_layers: bool) -> None:
    space = SMALL_SPACE.model_copy(update={"even_layers": even_layers})
    problem = toy_problem(ranks=24, global_batch=48, layers=9, heads=12, kv_heads=4)
    enumerated = [c for g in candidate_groups(problem, space) for c in g.members]
    assert len(enumerated) == len(set(enumerated))
    assert set(enumerated) == brute_force_candidates(problem, space)
    # 9 layers: pp·interleave = 4 or 8 only without even_layers; pp 3 (×1) is allowed in both, and
    # pp 3 × 2 too (stages of 3 layers in uneven chunks of 2 + 1, as Megatron's virtual stages).
    depths = {c.pp * c.interleave for c in enumerated}
    assert (4 in depths) is (not even_layers) and 3 in depths and 6 in depths


def test_llama3_405b_interleaves_126_layers_on_16_stages() -> None:
    from trnsim.workload.models import load_model

    # 16 does not divide 126, but 126 + 2 = 128 does: stages of 7, 8 x 14, 7 (Llama 3), and each
    # has >= 2 layers, so interleave 2 and 4 are in the space; 8 is not (7 < 8) unless the
    # embedding and the loss take a slot each: 128 slots = 16 stages x 8 one-slot chunks.
    problem = replace(toy_problem(ranks=2048, global_batch=2048, tokens=1e12),
                      model=load_model("llama3-405b"))
    space = SearchSpace(tp=(8,), pp=(16,), cp=(1,), interleave=(1, 2, 4, 8), zero_stages=(1,),
                        micro_batches=(1,), recompute=(Recompute.NONE,))
    found = {(c.interleave, c.account_for_embedding_loss)
             for g in candidate_groups(problem, space) for c in g.members if c.pp == 16}
    # slots only where interleaved and 16 v divides 128: v = 2, 4 and 8
    assert found == {(1, False), (2, False), (4, False), (2, True), (4, True), (8, True)}
    plain = space.model_copy(update={"embedding_loss_slots": (False,)})
    assert {c.interleave for g in candidate_groups(problem, plain) for c in g.members} == {1, 2, 4}


@pytest.mark.parametrize("capacity_bytes", [2e9, 6e9, 64e9])
@pytest.mark.parametrize("objective", list(Objective))
def test_search_finds_brute_force_optimum(capacity_bytes: float, objective: Objective) -> None:
    steps = ToyStepModel(capacity_bytes=capacity_bytes)
    problem = toy_problem(ranks=32, global_batch=64)
    problem = replace(problem, job=problem.job.model_copy(update={"objective": objective}))
    result = search_plans(problem, SMALL_SPACE, top_k=3, steps=steps)
    best_key = ranking_key(result.best, objective)
    assert best_key == brute_force_best(problem, steps, SMALL_SPACE)
    keys = [ranking_key(o, objective) for o in result.top]
    assert keys == sorted(keys)


@settings(max_examples=30, deadline=None)
@given(
    ranks=st.sampled_from([4, 6, 8, 12, 16, 24, 32]),
    global_batch=st.sampled_from([8, 16, 24, 48]),
    layers=st.sampled_from([4, 6, 12]),
    heads_kv=st.sampled_from([(8, 8), (12, 4), (16, 2)]),
    capacity=st.sampled_from([1e9, 3e9, 1e12]),
)
def test_search_optimal_and_valid_on_random_small_spaces(
    ranks: int, global_batch: int, layers: int, heads_kv: tuple[int, int], capacity: float
) -> None:
    heads, kv = heads_kv
    problem = toy_problem(ranks=ranks, global_batch=global_batch, layers=layers, heads=heads, kv_heads=kv,
                          hidden=1024)
    steps = ToyStepModel(capacity_bytes=capacity)
    valid = brute_force_candidates(problem, SMALL_SPACE)
    try:
        result = search_plans(problem, SMALL_SPACE, top_k=5, steps=steps)
    except NoFeasiblePlanError:
        assert all(toy_estimate(steps, problem, c) is None for c in valid)
        return
    assert ranking_key(result.best, Objective.TIME) == brute_force_best(problem, steps, SMALL_SPACE)
    for outcome in result.top:
        assert outcome.candidate in valid  # divisibility
        assert outcome.estimate.memory_per_rank_bytes <= capacity  # memory
        assert outcome.candidate.ranks == ranks
    assert result.stats.candidates == len(valid)
    stats = result.stats
    assert stats.feasible + stats.infeasible + stats.dominated == len(valid)
    # Without the recompute dominance every valid candidate is evaluated or rejected, same optimum.
    full = search_plans(problem, SMALL_SPACE, top_k=5, recompute_dominance=False, steps=steps)
    assert full.stats.feasible + full.stats.infeasible == len(valid) and full.stats.dominated == 0
    assert ranking_key(full.best, Objective.TIME) == ranking_key(result.best, Objective.TIME)


class CountingStepModel(ToyStepModel):
    evaluations: int = 0

    def estimate_step(self, model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan,
                      seq_len: int, precision: Precision = Precision.BF16,
                      topology: TopologySpec | None = None) -> StepResult:
        object.__setattr__(self, "evaluations", self.evaluations + 1)
        return super().estimate_step(model, system, ranks, plan, seq_len, precision, topology)


def test_groups_that_cannot_fit_are_pruned_before_evaluation() -> None:
    # Toy model: 12·24·2048² = 1.208e9 params, 16 B each of weights, grads and Adam state without
    # ZeRO = 19.3 GB / (tp·pp). With 3 GB per rank, every group with tp·pp ≤ 4 (≥ 4.8 GB) cannot
    # fit even with full recompute and micro-batch 1, so it is dropped after one check; tp·pp = 8
    # (2.4 GB + ≤ 0.2 GB of activations) fits.
    space = SMALL_SPACE.model_copy(update={"zero_stages": (0,)})
    steps = CountingStepModel(capacity_bytes=3e9)
    problem = toy_problem(ranks=32, global_batch=64)
    result = search_plans(problem, space, steps=steps)
    small = [g for g in candidate_groups(problem, space) if g.members[0].tp * g.members[0].pp <= 4]
    assert result.stats.groups_pruned == len(small) > 0
    assert steps.evaluations == result.stats.evaluated < result.stats.candidates
    assert result.stats.checked < result.stats.candidates
    assert result.best.candidate.tp * result.best.candidate.pp >= 8


def test_multiple_rank_counts_rank_by_cost() -> None:
    # Cost objective over 8, 16 and 32 ranks: the result must be the cheapest of the three searches.
    steps = ToyStepModel(capacity_bytes=64e9)
    base = toy_problem(ranks=8, global_batch=64)
    job = base.job.model_copy(update={"objective": Objective.COST})
    problems = [replace(base, ranks=r, job=job) for r in (8, 16, 32)]
    together = search_plans(problems, SMALL_SPACE, steps=steps)
    separate = [search_plans(p, SMALL_SPACE, steps=steps).best for p in problems]
    assert together.best.cost_usd == min(o.cost_usd for o in separate if o.cost_usd is not None)


def test_no_plan_raises_one_line_error() -> None:
    with pytest.raises(NoFeasiblePlanError) as info:
        search_plans(toy_problem(ranks=32), SMALL_SPACE, steps=ToyStepModel(capacity_bytes=1e6))
    message = str(info.value)
    assert "\n" not in message and "memory" in message and "toy" in message


def test_sequence_parallel_follows_the_job_with_tp() -> None:
    from dataclasses import replace

    problem = toy_problem(ranks=16)
    assert problem.job.sequence_parallel  # the default
    assert problem.parallel_plan(Candidate(tp=4, pp=1, dp=4)).sequence_parallel
    assert not problem.parallel_plan(Candidate(tp=1, pp=1, dp=16)).sequence_parallel
    off = replace(problem, job=problem.job.model_copy(update={"sequence_parallel": False}))
    assert not off.parallel_plan(Candidate(tp=4, pp=1, dp=4)).sequence_parallel


def test_a_candidates_plan_is_built_once_for_every_system_at_a_job() -> None:
    """One (immutable) plan per candidate and job serves every system (a comparison searches seven):
    equal to a plan built afresh, and another for a job with another global batch or sequence
    parallelism."""
    from tests.plan.toy_steps import toy_system
    from trnsim.cluster.plan import search_plan

    problem = toy_problem(ranks=16)
    # nodes of 4 limit TP to 4 (8 on the first system): the groups both enumerate are the same objects
    other = replace(problem, system=toy_system("other", chips_per_node=4, speed=2.0))
    mine, theirs = candidate_groups(problem, SMALL_SPACE), candidate_groups(other, SMALL_SPACE)
    assert len(theirs) < len(mine) and all(any(g is h for h in mine) for g in theirs)
    candidate = next(c for g in theirs for c in g.members if c.tp == 4 and c.pp == 2)
    plan = problem.parallel_plan(candidate)
    assert other.parallel_plan(candidate) is plan
    c = candidate
    assert plan == search_plan(tp=4, pp=2, dp=c.dp, cp=c.cp, ep=c.ep, zero_stage=c.zero_stage,
                               micro_batch=c.micro_batch, global_batch=problem.job.global_batch,
                               interleave=c.interleave, recompute=c.recompute, sequence_parallel=True)
    for update in ({"sequence_parallel": False}, {"global_batch": problem.job.global_batch * 2}):
        changed = replace(problem, job=problem.job.model_copy(update=update)).parallel_plan(candidate)
        assert changed != plan and changed.global_batch == (update.get("global_batch")
                                                            or problem.job.global_batch)


def test_infeasible_plans_are_counted_by_the_cluster_layers_reason() -> None:
    from trnsim.plan.search import _check

    problem = toy_problem(ranks=32)
    steps = ToyStepModel(capacity_bytes=1e6)
    # A plan the cluster layer cannot build (dp 0) is INVALID, one that does not fit is MEMORY.
    assert _check(problem, Candidate(tp=1, pp=1, dp=0), steps) is InfeasibleReason.INVALID
    assert _check(problem, Candidate(tp=1, pp=1, dp=32), steps) is InfeasibleReason.MEMORY
    assert _check(problem, Candidate(tp=1, pp=1, dp=32), ToyStepModel(capacity_bytes=1e12)) is None
    with pytest.raises(NoFeasiblePlanError) as info:
        search_plans(problem, SMALL_SPACE, steps=steps)
    assert "rejected (memory " in str(info.value)  # the reason's text, as before it was typed
