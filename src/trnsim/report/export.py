"""JSON and CSV renderings of report entries, for scripts."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from trnsim.report.entries import Entry

#: CSV columns, in order; the breakdown is flattened to ``breakdown_<component>_s`` after them.
CSV_COLUMNS = (
    "kind", "series", "rank", "system", "model", "chips", "ranks", "nodes", "plan", "plan_tp", "plan_pp",
    "plan_dp", "plan_cp", "plan_ep", "plan_interleave", "plan_zero_stage", "plan_micro_batch",
    "plan_recompute", "step_time_s", "tokens_per_s", "mfu", "goodput", "memory_per_rank_bytes",
    "memory_capacity_bytes", "time_to_train_s", "time_to_train_days", "instance_hours", "cost_usd",
    "energy_mwh", "energy_confidence", "meets_deadline", "meets_budget", "error_band", "step_time_s_low",
    "step_time_s_high",
    "time_to_train_days_low", "time_to_train_days_high", "cost_usd_low", "cost_usd_high", "energy_mwh_low",
    "energy_mwh_high", "error_band_label", "error_bar_verdict",
)


#: Columns a sweep adds, one per swept what-if value (see ``entries.swept_columns``).
SWEPT_PREFIXES = ("knob_", "scale_", "set_", "timing_scale_", "timing_set_")


def to_json(entries: list[Entry], meta: dict[str, Any] | None = None) -> str:
    """A JSON document: ``{"meta": ..., "results": [...]}``; unknown values are ``null``."""
    return json.dumps({"meta": meta or {}, "results": entries}, indent=2, sort_keys=False)


def to_csv(entries: list[Entry]) -> str:
    """One CSV row per entry; unknown values are empty cells."""
    components = sorted({name for e in entries for name in e.get("breakdown_s", {})})
    swept = sorted({k for e in entries for k in e if k.startswith(SWEPT_PREFIXES)})
    header = [*CSV_COLUMNS, *swept, *(f"breakdown_{c}_s" for c in components)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for e in entries:
        row = [e.get(column) for column in (*CSV_COLUMNS, *swept)]
        row += [e.get("breakdown_s", {}).get(c) for c in components]
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()
