"""Why the best plan wins, in a few sentences derived from the search's own numbers.

For every knob (rank count, TP, PP, interleave, CP, EP, ZeRO stage, micro-batch, recomputation)
the search keeps the best plan with each combination of values. The explanation compares the
winner with the best plan that differs from it in that knob alone (the other knobs equal) and
names the step-time components that differ most, so a reader sees the trade-off (for example less
tensor-parallel communication against a larger pipeline bubble) rather than a bare ranking. Where
no evaluated feasible plan changes a knob alone, the line says so rather than compare with a plan
that changes several knobs at once.

The embedding/loss slots (``account_for_embedding_loss``) are not among the search's knob keys, so
a rival for another knob may switch them too: its line then says so, and a line of its own compares
the winner with the same plan with the slots switched, where the search kept that plan.
"""

from __future__ import annotations

from dataclasses import replace

from trnsim.plan.economics import PlanOutcome
from trnsim.plan.problem import Objective
from trnsim.plan.search import SearchResult, knob_value

GIB = 2**30


def _component_shift(best: PlanOutcome, rival: PlanOutcome, limit: int = 2) -> str:
    names = set(best.estimate.breakdown) | set(rival.estimate.breakdown)
    deltas = {
        n: rival.estimate.breakdown.get(n, 0.0) - best.estimate.breakdown.get(n, 0.0) for n in names
    }
    biggest = sorted(deltas.items(), key=lambda item: -abs(item[1]))[:limit]
    return ", ".join(f"{name} {delta * 1e3:+.1f} ms" for name, delta in biggest if delta != 0.0)


def _relative(best: PlanOutcome, rival: PlanOutcome, objective: Objective) -> str:
    if objective is Objective.COST and best.cost_usd and rival.cost_usd is not None:
        return f"{rival.cost_usd / best.cost_usd - 1:+.1%} cost"
    return f"{rival.time_to_train_s / best.time_to_train_s - 1:+.1%} time-to-train"


SLOTS = "embedding/loss slots"


def _on_off(on: bool) -> str:
    return "on" if on else "off"


def _slots_switch(best: PlanOutcome, rival: PlanOutcome) -> str:
    """``; embedding/loss slots on → off too`` when the rival also switches the slots, else ''."""
    mine, theirs = best.candidate.account_for_embedding_loss, rival.candidate.account_for_embedding_loss
    return "" if mine == theirs else f"; {SLOTS} {_on_off(mine)} → {_on_off(theirs)} too"


def _slots_line(result: SearchResult) -> str | None:
    """The winner against the same plan with the slots switched (None: the search never tried them)."""
    best = result.best
    kept = [*result.top, *result.best_by_knob.values(), *result.best_by_knobs.values()]
    if not best.candidate.account_for_embedding_loss and not any(
            o.candidate.account_for_embedding_loss for o in kept):
        return None  # the slots never came up (e.g. no interleaved plan, or the knob switched off)
    mine = best.candidate.account_for_embedding_loss
    twin = replace(best.candidate, account_for_embedding_loss=not mine)
    rivals = [o for o in kept if o.candidate == twin and o.ranks == best.ranks]
    if not rivals:
        return (f"{SLOTS} {_on_off(mine)}: the search kept no plan that switches them alone, "
                "so there is no one-knob comparison.")
    rival = rivals[0]  # the same candidate on the same ranks: the same outcome wherever it was kept
    shift = _component_shift(best, rival)
    return (f"{SLOTS} {_on_off(mine)} → {_on_off(not mine)}: {_relative(best, rival, result.objective)} "
            f"({rival.candidate.describe()})" + (f"; {shift}" if shift else "") + ".")


def describe_breakdown(outcome: PlanOutcome, limit: int = 4) -> str:
    """The largest step-time components, e.g. ``compute 812 ms, tp_comm 95 ms``."""
    parts = sorted(outcome.estimate.breakdown.items(), key=lambda item: -item[1])[:limit]
    return ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in parts)


def explain(result: SearchResult) -> list[str]:
    """Sentences on why ``result.best`` wins, one per compared alternative."""
    best = result.best
    est = best.estimate
    memory = f"{est.memory_per_rank_bytes / GIB:.1f} GiB per rank"
    if est.memory_capacity_bytes:
        memory += f" of {est.memory_capacity_bytes / GIB:.0f} GiB"
    lines = [
        f"{best.candidate.describe()} on {best.ranks} ranks wins: step {est.step_time_s * 1e3:.1f} ms "
        f"({describe_breakdown(best)}), MFU {est.mfu:.1%}, {memory}."
    ]
    if not best.meets_constraints:
        missed = [name for name, ok in (("deadline", best.meets_deadline), ("budget", best.meets_budget))
                  if not ok]
        lines.append(f"No feasible plan meets the {' and '.join(missed)}; this is the closest.")
    for knob, rival in result.alternatives():
        mine = knob_value(best, knob)
        if rival is None:
            lines.append(
                f"{knob} {mine}: every feasible plan evaluated with another {knob} also changes another "
                "knob, so there is no one-knob comparison."
            )
            continue
        value = knob_value(rival, knob)
        shift = _component_shift(best, rival)
        lines.append(
            f"{knob} {mine} → {value}: {_relative(best, rival, result.objective)} "
            f"({rival.candidate.describe()})" + (f"; {shift}" if shift else "") + _slots_switch(best, rival)
            + "."
        )
    slots = _slots_line(result)
    if slots is not None:
        lines.append(slots)
    stats = result.stats
    if stats.infeasible:
        reasons = ", ".join(f"{r} {n}" for r, n in stats.infeasible_by_reason.most_common())
        lines.append(
            f"{stats.infeasible} of {stats.candidates} candidates infeasible ({reasons}); "
            f"{stats.groups_pruned} of {stats.groups} plan groups pruned before evaluation."
        )
    return lines
