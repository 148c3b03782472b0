"""The seed articles' claims, restated as what trnsim predicts for the compared job.

The claims (AWS News Blog, Dec 2024: Trn2 gives 4 × the performance of Trn1 and 30–40 % better
price-performance than P5e; UltraClusters of 100,000 Trainium2 chips) are never inputs: each
check reads the comparison's own results and says what the model predicts, or why it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

from trnsim.plan.compare import Comparison, SystemRow
from trnsim.plan.economics import PlanOutcome

#: Chip count from which a scaling point counts as "UltraCluster scale" for the third claim.
ULTRACLUSTER_SCALE_CHIPS = 65_536


@dataclass(frozen=True)
class ClaimCheck:
    """One published claim next to trnsim's prediction for this job."""

    claim: str
    prediction: str


def _rows_with_chip(comparison: Comparison, chip: str) -> list[SystemRow]:
    return [r for r in comparison.rows if r.system.chip.name == chip and r.best is not None]


def _best_per_chip(rows: list[SystemRow]) -> tuple[SystemRow, PlanOutcome]:
    pairs = [(r, r.best) for r in rows if r.best is not None]
    return max(pairs, key=lambda pair: _per_chip_tokens_per_s(pair[1]))


def _per_chip_tokens_per_s(outcome: PlanOutcome) -> float:
    return outcome.tokens_per_s / outcome.chips


def _tokens_per_usd(outcome: PlanOutcome) -> float | None:
    if outcome.cost_usd is None or outcome.cost_usd == 0:
        return None
    return outcome.estimate.tokens_per_s * outcome.time_to_train_s / outcome.cost_usd


def check_claims(comparison: Comparison) -> list[ClaimCheck]:
    """What trnsim predicts for each seed claim on this comparison's job."""
    return [_four_times_trn1(comparison), _price_performance(comparison), _ultracluster(comparison)]


def _four_times_trn1(comparison: Comparison) -> ClaimCheck:
    claim = "Trn2 gives 4× the performance of Trn1"
    trn2, trn1 = _rows_with_chip(comparison, "trn2"), _rows_with_chip(comparison, "trn1")
    if not trn2 or not trn1:
        return ClaimCheck(claim, "not checked: compare needs a feasible Trn2 and a feasible Trn1 system")
    a, a_best = _best_per_chip(trn2)
    b, b_best = _best_per_chip(trn1)
    ratio = _per_chip_tokens_per_s(a_best) / _per_chip_tokens_per_s(b_best)
    return ClaimCheck(
        claim,
        f"{ratio:.2f}× training tokens/s per chip ({a.system.name} vs {b.system.name}, "
        f"{comparison.chips} chips each, best plan on each){_ratio_band(ratio, a_best, b_best)}",
    )


def _ratio_band(ratio: float, a: PlanOutcome, b: PlanOutcome) -> str:
    """The range of a throughput ratio ``a / b`` the two step-time bands allow: ``a``'s step time
    up to ``(1 + band)`` longer and ``b``'s up to ``(1 - band)`` shorter, and the reverse."""
    if a.error_band is None or b.error_band is None:
        return "; error bars unknown"
    fa, fb = a.error_band.fraction, b.error_band.fraction
    return f"; {ratio * (1 - fb) / (1 + fa):.2f}-{ratio * (1 + fb) / (1 - fa):.2f}× within the error bars"


def _price_performance(comparison: Comparison) -> ClaimCheck:
    claim = "Trn2 has 30–40 % better price-performance than P5e (H200)"
    trn2, h200 = _rows_with_chip(comparison, "trn2"), _rows_with_chip(comparison, "h200")
    if not trn2 or not h200:
        return ClaimCheck(
            claim, "not checked: compare needs a feasible Trn2 and a feasible P5e (H200) system"
        )
    per_usd_h200 = [(r, _tokens_per_usd(r.best)) for r in h200 if r.best is not None]
    per_usd_trn2 = [(r, _tokens_per_usd(r.best)) for r in trn2 if r.best is not None]
    known_h200 = [(r, v) for r, v in per_usd_h200 if v is not None]
    known_trn2 = [(r, v) for r, v in per_usd_trn2 if v is not None]
    if not known_h200:
        missing = [r.system.name for r, v in per_usd_h200 if v is None]
        return ClaimCheck(claim, f"cannot be checked: no price in the catalog for {', '.join(missing)}")
    if not known_trn2:
        # No Trn2 price: say what price would make the claim true instead of inventing one.
        best_h200 = max(known_h200, key=lambda item: item[1])
        lines = []
        for row, _ in per_usd_trn2:
            outcome = row.best
            assert outcome is not None
            per_node_tokens_per_h = outcome.tokens_per_s * 3600 / outcome.nodes
            lines.append(
                f"{row.system.name} ≤ ${per_node_tokens_per_h / (1.3 * best_h200[1]):,.0f}/node-hour "
                f"(40 %: ≤ ${per_node_tokens_per_h / (1.4 * best_h200[1]):,.0f})"
            )
        return ClaimCheck(
            claim,
            "cannot be checked: no Trn2 price in the catalog (trnsim does not invent prices). "
            f"30 % better than {best_h200[0].system.name} at "
            f"${best_h200[0].system.price_usd_per_node_hour:,.2f}/h needs " + "; ".join(lines),
        )
    best_trn2 = max(known_trn2, key=lambda item: item[1])
    best_h200 = max(known_h200, key=lambda item: item[1])
    gain = best_trn2[1] / best_h200[1] - 1
    return ClaimCheck(
        claim,
        f"{gain:+.0%} training tokens per USD ({best_trn2[0].system.name} "
        f"at ${best_trn2[0].system.price_usd_per_node_hour:,.2f}/h vs {best_h200[0].system.name} at "
        f"${best_h200[0].system.price_usd_per_node_hour:,.2f}/h, catalog prices)",
    )


def _ultracluster(comparison: Comparison) -> ClaimCheck:
    claim = "UltraClusters of 100,000 Trainium2 chips"
    points = [
        (row, p) for row in comparison.rows if row.system.chip.name == "trn2"
        for p in row.scaling if p.chips >= ULTRACLUSTER_SCALE_CHIPS
    ]
    if not points:
        return ClaimCheck(
            claim,
            f"not evaluated: add a scaling point of at least {ULTRACLUSTER_SCALE_CHIPS:,} chips "
            "on a Trn2 system (e.g. --scaling 131072)",
        )
    row, point = max(points, key=lambda item: item[1].chips)
    small = min((p for p in row.scaling), key=lambda p: p.chips)
    efficiency = _per_chip_tokens_per_s(point) / _per_chip_tokens_per_s(small)
    return ClaimCheck(
        claim,
        f"at {point.chips:,} chips ({row.system.name}): MFU {point.estimate.mfu:.1%}, goodput "
        f"{point.estimate.goodput:.1%}, {efficiency:.0%} of the per-chip throughput at {small.chips:,} "
        f"chips; time-to-train {point.time_to_train_days:.2f} days"
        + ("" if point.error_band is None else f" (±{point.error_band.fraction:.0%})"),
    )
