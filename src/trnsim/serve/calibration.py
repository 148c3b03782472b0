"""Serving validation against published Trn2 inference runs (``trnsim validate --serving``).

Each row of ``neuron_trn2_inference.csv`` (bundled in ``trnsim/data/calibration``) becomes a
:class:`ServeConfig`; trnsim predicts its TTFT and TPOT three ways:

* ``mechanisms``: the named mechanisms only (chip-model op times, collectives on the topology),
  every fixed overhead of ``serving.toml`` set to zero — the figure before any calibration;
* ``in-sample``: with the shipped overheads (fitted on this same file);
* ``leave-one-out``: with overheads refitted on the other rows only, then applied to this one.

The fit (:func:`fit_overheads`): TPOT = base + step_s + n_coll · collective_s, least squares on
relative error over the rows (both ≥ 0); TTFT = base + n_coll · collective_s + request_s, with
request_s the mean relative-weighted residual (≥ 0).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.serve.config import ServeConfig
from trnsim.serve.estimate import estimate_serving
from trnsim.serve.params import Overheads, load_serving_params
from trnsim.workload.models import load_model

__all__ = ["FILE", "ServingCase", "ServingRow", "fit_overheads", "load_serving_cases", "validate_serving"]

FILE = "neuron_trn2_inference.csv"
#: The file's model names and their presets (the dimensions in the file's header are theirs).
_MODELS = {"Llama-3.3-70B": "llama3.3-70b", "Llama-3.1-405B": "llama3.1-405b", "Llama-3.1-8B": "llama3.1-8b"}


@dataclass(frozen=True)
class ServingCase:
    """One published serving measurement."""

    label: str
    config: ServeConfig
    ttft_s: float
    tpot_s: float


@dataclass(frozen=True)
class ServingRow:
    """Predicted TTFT/TPOT of one case three ways, and the collective calls they count."""

    case: ServingCase
    base_ttft_s: float
    base_tpot_s: float
    ttft_calls: float
    tpot_calls: float
    in_sample: tuple[float, float]
    held_out: tuple[float, float]

    @staticmethod
    def error(predicted: float, measured: float) -> float:
        return (predicted - measured) / measured


def load_serving_cases(text: str | None = None) -> list[ServingCase]:
    """The bundled file's rows (or ``text`` in its format)."""
    if text is None:
        text = resources.files("trnsim.data.calibration").joinpath(FILE).read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    cases = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        try:
            name = _MODELS[row["model"]]
            system = load_system("trn2" if row["instance"].startswith("trn2") else row["instance"])
            model = load_model(name)
            tp = int(row["tp"])
            ranks = int(row["chips"]) * system.ranks_per_chip
            config = ServeConfig(model, system, ranks, tp, int(row["concurrency"]), int(row["input_tokens"]),
                                 int(row["output_tokens"]),
                                 weight_bytes=1 if row["precision"] == "fp8" else 2)
            cases.append(ServingCase(f"{row['model']} {row['chips']} chips tp{tp} c{row['concurrency']}",
                                     config, float(row["ttft_ms"]) / 1e3, float(row["tpot_ms"]) / 1e3))
        except (KeyError, ValueError) as error:
            raise ConfigError(f"{FILE}: bad or missing column or model {error}") from None
    return cases


def _predict(case: ServingCase, over: Overheads) -> tuple[float, float]:
    r = estimate_serving(case.config, overheads=over)
    return r.ttft_s, r.tpot_s


def _zero(calls: float = 0.0) -> Overheads:
    return Overheads(0.0, calls, 0.0, "none", "mechanisms only")


def fit_overheads(bases: list[tuple[float, float, float, float]],
                  measured: list[tuple[float, float]]) -> Overheads:
    """Fit step_s, collective_s (on TPOT) and request_s (on TTFT) to rows of
    (base_ttft, base_tpot, ttft_calls, tpot_calls) against measured (ttft, tpot)."""
    a = np.array([[1.0 / m[1], b[3] / m[1]] for b, m in zip(bases, measured, strict=True)])
    y = np.array([(m[1] - b[1]) / m[1] for b, m in zip(bases, measured, strict=True)])
    step, coll = np.linalg.lstsq(a, y, rcond=None)[0] if len(y) >= 2 else (y[0] * measured[0][1], 0.0)
    if coll < 0:  # refit the step cost alone, with the per-collective cost at its bound
        coll, step = 0.0, float(np.sum(a[:, 0] * y) / np.sum(a[:, 0] ** 2))
    if step < 0:
        step = 0.0
        coll = max(0.0, float(np.sum(a[:, 1] * y) / np.sum(a[:, 1] ** 2)))
    weights = np.array([1.0 / m[0] ** 2 for m in measured])
    resid = np.array([m[0] - b[0] - b[2] * coll for b, m in zip(bases, measured, strict=True)])
    request = max(0.0, float(np.sum(weights * resid) / np.sum(weights)))
    return Overheads(float(step), float(coll), request, "fitted", f"fitted on {FILE}")


def validate_serving(cases: list[ServingCase] | None = None) -> tuple[list[ServingRow], Overheads]:
    """Per-row predictions (mechanisms only, in-sample, leave-one-out) and the all-row fit."""
    cases = cases if cases is not None else load_serving_cases()
    bases: list[tuple[float, float, float, float]] = []
    for case in cases:
        ttft, tpot = _predict(case, _zero())
        ttft_c, tpot_c = _predict(case, _zero(1.0))
        bases.append((ttft, tpot, ttft_c - ttft, tpot_c - tpot))
    measured = [(c.ttft_s, c.tpot_s) for c in cases]
    shipped = load_serving_params().overheads["trainium"]
    full = fit_overheads(bases, measured)
    rows = []
    for i, case in enumerate(cases):
        others = [j for j in range(len(cases)) if j != i]
        held = full
        if others:
            held = fit_overheads([bases[j] for j in others], [measured[j] for j in others])
        rows.append(ServingRow(case, bases[i][0], bases[i][1], bases[i][2], bases[i][3],
                               _predict(case, shipped), _predict(case, held)))
    return rows, full
