"""Time-to-train, cost and energy follow their definitions; unknown price or power stays unknown."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.plan.toy_steps import ToyStepModel, toy_problem, toy_system
from trnsim.cluster.plan import make_plan
from trnsim.plan.candidate import Candidate
from trnsim.plan.economics import ChipPower, chip_power, plan_outcome

PLAN = Candidate(tp=4, pp=2, dp=2)
# The cluster's result type with the three figures economics reads set by hand.
_PARALLEL = make_plan(tp=4, pp=2, dp=2, global_batch=64)
ESTIMATE = replace(ToyStepModel().estimate_step(toy_problem().model, toy_system(), 16, _PARALLEL, 2048),
                   step_time_s=2.0, tokens_per_s=1e6, goodput=0.9)


def test_time_cost_energy_by_hand() -> None:
    # 36 ranks on 8-rank nodes → 5 whole nodes billed, 36 chips. 3.24e10 tokens at 1e6 tokens/s
    # = 32,400 s, ÷ goodput 0.9 = 36,000 s = 10 h. Instance-hours = 5 × 10 = 50; at $10/node-hour
    # $500. Energy = 36 chips × 500 W × 10 h × PUE 1.2 = 216 kWh = 0.216 MWh.
    problem = toy_problem(ranks=36, tokens=3.24e10)
    problem = replace(problem, job=problem.job.model_copy(update={"pue": 1.2}))
    out = plan_outcome(problem, PLAN, ESTIMATE)
    assert out.nodes == 5 and out.chips == 36
    assert out.time_to_train_s == pytest.approx(36_000)
    assert out.instance_hours == pytest.approx(50)
    assert out.cost_usd == pytest.approx(500)
    assert out.energy_mwh == pytest.approx(0.216)


def test_unknown_price_and_power_are_reported_unknown() -> None:
    problem = replace(toy_problem(ranks=8), system=toy_system(price=None, power_w=None))
    problem = replace(problem, job=problem.job.model_copy(update={"budget_usd": 1.0}))
    out = plan_outcome(problem, PLAN, ESTIMATE)
    assert out.cost_usd is None and out.energy_mwh is None
    assert out.to_dict()["cost_usd"] is None
    assert out.meets_budget  # an unknown cost cannot be said to break the budget


def test_deadline_and_budget_flags() -> None:
    # 1e9 tokens at 1e6 tokens/s / 0.9 = 1111 s; 8 ranks = 1 node at $10/h → $3.09.
    problem = toy_problem(ranks=8, tokens=1e9)
    tight = problem.job.model_copy(update={"deadline_days": 1000 / 86400, "budget_usd": 3.0})
    out = plan_outcome(replace(problem, job=tight), PLAN, ESTIMATE)
    assert not out.meets_deadline and not out.meets_budget
    loose = problem.job.model_copy(update={"deadline_days": 1200 / 86400, "budget_usd": 3.2})
    assert plan_outcome(replace(problem, job=loose), PLAN, ESTIMATE).meets_constraints


def test_energy_carries_the_confidence_of_the_power_figure() -> None:
    from trnsim.hardware.catalog import Confidence, Provenance, load_system

    # Trn2's 500 W is a third-party estimate: the energy built on it says so; H100's TDP is published.
    trn2, p5 = chip_power(load_system("trn2")), chip_power(load_system("p5"))
    assert trn2 and p5 and trn2.confidence == "estimate" and p5.confidence == "published"
    toy = toy_system()
    estimated = Provenance(source="a third party", confidence=Confidence.ESTIMATE)
    system = toy.model_copy(update={"chip": toy.chip.model_copy(update={"sources": {"power_w": estimated}})})
    assert chip_power(system) == ChipPower(500.0, "estimate: a third party", "estimate")
    problem = replace(toy_problem(ranks=8), system=system)
    out = plan_outcome(problem, PLAN, ESTIMATE)
    assert out.energy_confidence == "estimate" and out.to_dict()["energy_confidence"] == "estimate"
    unknown = replace(toy_problem(ranks=8), system=toy_system(power_w=None))
    assert plan_outcome(unknown, PLAN, ESTIMATE).energy_confidence is None
