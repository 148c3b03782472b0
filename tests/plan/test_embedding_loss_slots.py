"""The planner's embedding/loss slots knob: Llama 3 405B's 16 x 8 one-layer-chunk layout is searched."""

from __future__ import annotations

from trnsim.cluster.step import estimate_step
from trnsim.hardware.catalog import load_system
from trnsim.plan.candidate import Candidate
from trnsim.plan.launch import estimate_args, megatron_flags
from trnsim.plan.problem import Problem, TrainingJob
from trnsim.plan.search import search_plans
from trnsim.plan.space import SearchSpace, candidate_groups, quick_space
from trnsim.workload.models import load_model

# Llama 3 405B on 16,384 H100s (Llama 3 paper, Table 4): tp8 pp16 dp128, seq 8,192, 16 sequences
# per DP rank, interleaved with 126 layers + embedding + loss = 128 slots = 16 stages x 8 chunks.
JOB = TrainingJob(tokens=15.6e12, seq_len=8192, global_batch=16 * 128)
PROBLEM = Problem(load_model("llama3-405b"), load_system("p5"), 16384, JOB)
SPACE = SearchSpace(tp=(8,), pp=(16,), cp=(1,), interleave=(4, 8), zero_stages=(1, 3), micro_batches=(1,))


def test_plan_considers_llama3s_v8_layout_with_the_slots() -> None:
    result = search_plans(PROBLEM, SPACE, top_k=50)
    seen = {(o.candidate.interleave, o.candidate.account_for_embedding_loss) for o in result.top}
    # v = 8 only with the slots (7-layer end stages cannot hold 8 chunks otherwise); v = 4 both ways
    assert (8, True) in seen and (8, False) not in seen
    assert {(4, False), (4, True)} <= seen
    v8 = next(o for o in result.top if o.candidate.interleave == 8)
    plan = PROBLEM.parallel_plan(v8.candidate)
    assert plan.account_for_embedding_loss and plan.interleave == 8
    assert "account-emb-loss" in v8.candidate.describe()
    # the outcome is the cluster's estimate of that plan
    assert v8.estimate.step_time_s == estimate_step(PROBLEM.model, PROBLEM.system, PROBLEM.ranks, plan,
                                                    JOB.seq_len).step_time_s
    # without the knob the planner cannot reach it
    plain = search_plans(PROBLEM, SPACE.model_copy(update={"embedding_loss_slots": (False,)}), top_k=50)
    assert {o.candidate.interleave for o in plain.top} == {4}


def test_slots_only_where_meaningful() -> None:
    # 1F1B (v = 1) never takes them: the split they give is the default one (7, 8 x 14, 7).
    space = SPACE.model_copy(update={"interleave": (1, 2, 4, 8)})
    slotted = {c.interleave for g in candidate_groups(PROBLEM, space) for c in g.members
               if c.account_for_embedding_loss}
    assert slotted == {2, 4, 8}
    # the quick space (compare's default) has them too, at interleave 2 (128 / 32 slots a chunk)
    quick = {(c.interleave, c.account_for_embedding_loss) for g in candidate_groups(PROBLEM, quick_space())
             for c in g.members if c.pp == 16 and c.tp == 8}
    assert quick == {(1, False), (2, False), (2, True)}


def test_slots_carry_into_json_and_launch_settings() -> None:
    on = Candidate(tp=8, pp=16, dp=128, interleave=8, zero_stage=1, account_for_embedding_loss=True)
    off = Candidate(tp=8, pp=16, dp=128, interleave=4, zero_stage=1)
    assert Candidate.from_dict(on.to_dict()) == on and on.to_dict()["account_for_embedding_loss"] is True
    assert "account_for_embedding_loss" not in off.to_dict()  # off: the keys plans always had
    assert "--account-for-embedding-loss" in estimate_args(PROBLEM, on, "llama3-405b")
    assert "--account-for-embedding-loss" not in estimate_args(PROBLEM, off, "llama3-405b")
    lines = [line.strip(" \\") for line in megatron_flags(PROBLEM, on).splitlines()]
    # 128 slots over 16 x 8 chunks: one a chunk
    assert "--num-layers-per-virtual-pipeline-stage 1" in lines
    assert {"--account-for-embedding-in-pipeline-split", "--account-for-loss-in-pipeline-split"} <= set(lines)
    assert "--account-for-embedding-in-pipeline-split" not in megatron_flags(PROBLEM, off)
