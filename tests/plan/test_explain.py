"""Each explanation line compares the winner with a plan that changes that one knob alone."""

from __future__ import annotations

from tests.plan.test_search import SMALL_SPACE, brute_force_candidates
from tests.plan.toy_steps import ToyStepModel, toy_estimate, toy_problem
from trnsim.plan.economics import plan_outcome
from trnsim.plan.explain import explain
from trnsim.plan.search import EXPLAINED_KNOBS, knob_values, ranking_key, search_plans


def _differing(a: tuple[object, ...], b: tuple[object, ...]) -> list[str]:
    return [knob for knob, x, y in zip(EXPLAINED_KNOBS, a, b, strict=True) if x != y]


def test_alternatives_change_one_knob_and_are_the_best_such_plan() -> None:
    problem = toy_problem(ranks=32, global_batch=64)
    steps = ToyStepModel()
    # No recompute dominance, so every candidate is evaluated and a brute force can check the choice.
    result = search_plans(problem, SMALL_SPACE, recompute_dominance=False, steps=steps)
    mine = knob_values(result.best)
    # Brute force: every feasible plan, keyed by its knob values (best ranking per combination).
    feasible: dict[tuple[object, ...], list[tuple[bool, float, float]]] = {}
    for candidate in brute_force_candidates(problem, SMALL_SPACE):
        estimate = toy_estimate(steps, problem, candidate)
        if estimate is not None:
            outcome = plan_outcome(problem, candidate, estimate)
            feasible.setdefault(knob_values(outcome), []).append(ranking_key(outcome, problem.job.objective))
    # The defect this guards against: the best plan with another value of some knob also changes
    # a second knob (e.g. PP 1 -> 2 together with interleave). Make sure this problem has such a case.
    multi_knob = False
    for index, knob in enumerate(EXPLAINED_KNOBS):
        others = [v for v in feasible if v[index] != mine[index]]
        if others and _differing(min(others, key=lambda v: min(feasible[v])), mine) != [knob]:
            multi_knob = True
    assert multi_knob, "test problem no longer exercises a multi-knob best-per-value rival"
    lines = explain(result)
    for knob, rival in result.alternatives():
        single = [v for v in feasible if _differing(v, mine) == [knob]]
        if rival is None:
            assert not single, knob
            assert any(line.startswith(f"{knob} ") and "no one-knob comparison" in line for line in lines)
            continue
        assert _differing(knob_values(rival), mine) == [knob]
        best_key = min(min(feasible[v]) for v in single)
        assert ranking_key(rival, problem.job.objective) == best_key
        assert any(line.startswith(f"{knob} ") and rival.candidate.describe() in line for line in lines)
    # Different knobs name different plans (a plan differing in one knob alone cannot serve two).
    named = [rival.candidate.describe() for _, rival in result.alternatives() if rival is not None]
    assert len(named) == len(set(named))


def test_explain_reports_the_embedding_loss_slots() -> None:
    from dataclasses import replace

    from tests.plan.test_embedding_loss_slots import PROBLEM, SPACE

    result = search_plans(PROBLEM, SPACE.model_copy(update={"pp": (8, 16)}), top_k=10)
    best = result.best
    lines = explain(result)
    switched = 0
    for knob, rival in result.alternatives():
        if rival is None:
            continue
        line = next(line for line in lines
                    if line.startswith(f"{knob} ") and rival.candidate.describe() in line)
        # a rival that also switches the slots says so (the search's knob keys do not hold them)
        differs = rival.candidate.account_for_embedding_loss != best.candidate.account_for_embedding_loss
        assert ("embedding/loss slots" in line) == differs, line
        switched += differs
    assert switched, "no rival switches the slots: the test no longer exercises the case"
    # the slots' own line compares the winner with the same plan, slots switched, on the same ranks
    twin = replace(best.candidate, account_for_embedding_loss=not best.candidate.account_for_embedding_loss)
    rival = next(o for o in result.top if o.candidate == twin)
    slots = [line for line in lines if line.startswith("embedding/loss slots ")]
    assert len(slots) == 1 and twin.describe() in slots[0]
    change = rival.time_to_train_s / best.time_to_train_s - 1
    assert f"{change:+.1%} time-to-train" in slots[0]
    # without that plan kept, the line says there is no one-knob comparison rather than pick another
    others = [o for o in result.top if o.candidate != twin
              and o.candidate.account_for_embedding_loss != best.candidate.account_for_embedding_loss]
    assert others
    alone = replace(result, top=[best, *others], best_by_knob={}, best_by_knobs={})
    assert any(line.startswith("embedding/loss slots ") and "no one-knob comparison" in line
               for line in explain(alone))
    # a search that never tried the slots gets no such line
    plain = search_plans(PROBLEM, SPACE.model_copy(update={"pp": (8, 16), "embedding_loss_slots": (False,)}),
                         top_k=10)
    assert not any("embedding/loss slots" in line for line in explain(plain))
