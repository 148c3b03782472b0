"""Error bars on the planner's answers: the legend of the bands shown and the verdict of a comparison.

Every format reads these (the terminal prints the lines, JSON carries the dicts, CSV one verdict
column, HTML the lines as notes), so the band and the "beyond the error bars" verdict read the same
everywhere. A band is relative and covers step time, time-to-train, cost and energy alike (they all
scale with the step time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trnsim.cluster.error_band import bands_overlap
from trnsim.plan.compare import Comparison
from trnsim.plan.economics import PlanOutcome

#: What one relative band covers (they scale together with the step time).
BAND_COVERS = "step time, days, cost and MWh"


def band_legend(outcomes: list[PlanOutcome]) -> list[str]:
    """One line per error band shown: what the ± column rests on."""
    seen: dict[str, str] = {}
    for o in outcomes:
        if o.error_band is not None:
            band = o.error_band
            seen[band.family] = f"±{band.fraction:.0%} ({band.family}): {band.label}"
    if not seen:
        return []
    return [f"error band {line}" for line in seen.values()] + [f"± applies to {BAND_COVERS} alike"]


def band_records(outcomes: list[PlanOutcome]) -> dict[str, dict[str, object]]:
    """The bands of ``outcomes`` by family, as JSON values."""
    return {o.error_band.family: o.error_band.to_dict() for o in outcomes if o.error_band is not None}


@dataclass(frozen=True)
class BandVerdict:
    """One system against the fastest at equal chips: how much slower, and whether the bars resolve it."""

    system: str
    fastest: str
    ratio: float
    #: True: the bands do not overlap; False: they do; None: a band is unknown.
    beyond: bool | None

    @property
    def verdict(self) -> str:
        """The verdict in words."""
        if self.beyond is None:
            return "error bars unknown"
        return "beyond the error bars" if self.beyond else "within the error bars: not a resolved difference"

    def text(self) -> str:
        """``p5e faster than trn2 by 1.45x, beyond the error bars``."""
        return f"{self.fastest} faster than {self.system} by {self.ratio:.2f}x, {self.verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "fastest": self.fastest, "ratio": self.ratio,
                "beyond_error_bars": self.beyond, "text": self.text()}


def verdicts(comparison: Comparison) -> list[BandVerdict]:
    """Each system's best plan at equal chips against the fastest one's, by time-to-train."""
    rows = [(r.system.name, r.best) for r in comparison.rows if r.best is not None]
    if len(rows) < 2:
        return []
    fastest_name, fastest = min(rows, key=lambda r: r[1].time_to_train_days)
    out = []
    for name, o in rows:
        if name == fastest_name:
            continue
        beyond = None
        if fastest.error_band is not None and o.error_band is not None:
            beyond = not bands_overlap(fastest.time_to_train_days, fastest.error_band,
                                       o.time_to_train_days, o.error_band)
        out.append(BandVerdict(name, fastest_name, o.time_to_train_days / fastest.time_to_train_days, beyond))
    return out


def band_verdicts(comparison: Comparison) -> list[str]:
    """:func:`verdicts` as lines of text."""
    return [v.text() for v in verdicts(comparison)]


def verdict_by_system(comparison: Comparison) -> dict[str, str]:
    """The verdict column of each system's equal-chip row (the fastest says so)."""
    found = verdicts(comparison)
    out = {v.system: v.text() for v in found}
    if found:
        out[found[0].fastest] = "fastest"
    return out


def bands_meta(outcomes: list[PlanOutcome], comparison: Comparison | None = None) -> dict[str, Any]:
    """The JSON ``meta.error_bars`` of a plan or a comparison: the bands, and the verdicts of a comparison."""
    out: dict[str, Any] = {"covers": BAND_COVERS, "bands": band_records(outcomes)}
    if comparison is not None:
        out["verdicts"] = [v.to_dict() for v in verdicts(comparison)]
    return out
