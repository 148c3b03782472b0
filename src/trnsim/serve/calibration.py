"""Serving validation against published Trn2 inference runs (``trnsim validate --serving``).

Each row of ``neuron_trn2_inference.csv`` (bundled in ``trnsim/data/calibration``) becomes a
:class:`ServeConfig`; trnsim predicts its TTFT and TPOT three ways:

* ``mechanisms``: the named mechanisms only (chip-model op times, collectives on the topology, the
  closed-loop client's queueing of the row's concurrency), every fixed cost of ``serving.toml``
  set to zero — the figure before any calibration;
* ``in-sample``: with the shipped fixed costs (the host step cost is fitted on this same file);
* ``leave-one-out``: with the host step cost refitted on the other rows only, then applied to
  this one.

The rows were measured by benchmark clients keeping ``concurrency`` requests in flight, so the
TTFT compared is the closed-loop one (:func:`trnsim.serve.estimate.closed_loop_ttft`). The fit
(:func:`fit_step_cost`): one constant, the host cost of a graph execution, least squares on the
relative TPOT error (≥ 0); TTFT is not fitted (it pays that cost once per context encoding).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.serve.config import ServeConfig
from trnsim.serve.estimate import estimate_serving
from trnsim.serve.params import Overheads, load_serving_params
from trnsim.workload.models import load_model

__all__ = ["FILE", "ServingCase", "ServingRow", "fit_step_cost", "load_serving_cases", "validate_serving"]

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
    """Predicted TTFT/TPOT of one case three ways, and how often each pays the host step cost."""

    case: ServingCase
    base_ttft_s: float
    base_tpot_s: float
    ttft_steps: float
    tpot_steps: float
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
    for number, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), start=1):
        where = f"{FILE} row {number}"
        if None in row.values():  # csv gives None for the fields a short row lacks
            given = ",".join(str(v) for v in row.values() if v is not None)
            raise ConfigError(f"{FILE}: a row has fewer fields than the header: {given}")
        try:
            if row.get("model") not in _MODELS:
                raise ConfigError(f"{where}: model '{row.get('model')}' is not known; valid: "
                                  f"{', '.join(_MODELS)}")
            if row.get("precision") not in ("bf16", "fp8"):
                raise ConfigError(f"{where}: precision '{row.get('precision')}' is not known; valid: "
                                  "bf16, fp8")
            system = load_system("trn2" if row["instance"].startswith("trn2") else row["instance"])
            counts = {key: _count(row, key, where)
                      for key in ("chips", "tp", "concurrency", "input_tokens", "output_tokens")}
            ttft_ms, tpot_ms = _measured(row, "ttft_ms", where), _measured(row, "tpot_ms", where)
            config = ServeConfig(load_model(_MODELS[row["model"]]), system,
                                 counts["chips"] * system.ranks_per_chip, counts["tp"], counts["concurrency"],
                                 counts["input_tokens"], counts["output_tokens"],
                                 weight_bytes=1 if row["precision"] == "fp8" else 2)
        except KeyError as error:
            raise ConfigError(f"{where}: missing column {error}") from None
        except ConfigError as error:  # a layout the model refuses: say which row of which file
            raise ConfigError(str(error) if str(error).startswith(where) else f"{where}: {error}") from None
        label = f"{row['model']} {row['chips']} chips tp{counts['tp']} c{row['concurrency']}"
        cases.append(ServingCase(label, config, ttft_ms / 1e3, tpot_ms / 1e3))
    return cases


def _count(row: dict[str, str], key: str, where: str) -> int:
    """A whole number >= 1 of ``row``, or one line naming the row and column."""
    text = row[key]
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{where}: {key} must be a whole number at least 1, got '{text}'")
    return int(text)


def _measured(row: dict[str, str], key: str, where: str) -> float:
    """A measured latency in ms: a positive, finite number."""
    try:
        value = float(row[key])
    except ValueError:
        raise ConfigError(f"{where}: {key} must be a number of milliseconds, got '{row[key]}'") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{where}: {key} must be a positive number of milliseconds, got '{row[key]}'")
    return value


def _predict(case: ServingCase, over: Overheads) -> tuple[float, float]:
    r = estimate_serving(case.config, overheads=over)
    return r.ttft_closed_loop_s, r.tpot_s


def _with_step(step_s: float, shipped: Overheads, zero: bool = False) -> Overheads:
    if zero:
        return Overheads(step_s, 0.0, 0.0, "none", "mechanisms only")
    return Overheads(step_s, shipped.collective_s, shipped.request_s, "fitted", f"fitted on {FILE}")


def fit_step_cost(bases: list[tuple[float, float, float, float]],
                  measured: list[tuple[float, float]]) -> float:
    """The host step cost (≥ 0) that best fits TPOT in relative error, from rows of
    (base_ttft, base_tpot, ttft_steps, tpot_steps) against measured (ttft, tpot)."""
    a = np.array([b[3] / m[1] for b, m in zip(bases, measured, strict=True)])
    y = np.array([(m[1] - b[1]) / m[1] for b, m in zip(bases, measured, strict=True)])
    if not np.any(a):
        return 0.0
    return max(0.0, float(np.sum(a * y) / np.sum(a * a)))


def validate_serving(cases: list[ServingCase] | None = None) -> tuple[list[ServingRow], Overheads]:
    """Per-row predictions (mechanisms only, in-sample, leave-one-out) and the all-row fit."""
    cases = cases if cases is not None else load_serving_cases()
    shipped = load_serving_params().overheads["trainium"]
    bases: list[tuple[float, float, float, float]] = []
    for case in cases:
        ttft, tpot = _predict(case, _with_step(0.0, shipped, zero=True))
        ttft_1, tpot_1 = _predict(case, _with_step(1.0, shipped, zero=True))
        bases.append((ttft, tpot, ttft_1 - ttft, tpot_1 - tpot))
    measured = [(c.ttft_s, c.tpot_s) for c in cases]
    full = _with_step(fit_step_cost(bases, measured), shipped)
    rows = []
    for i, case in enumerate(cases):
        others = [j for j in range(len(cases)) if j != i]
        held = full
        if others:
            step = fit_step_cost([bases[j] for j in others], [measured[j] for j in others])
            held = _with_step(step, shipped)
        rows.append(ServingRow(case, bases[i][0], bases[i][1], bases[i][2], bases[i][3],
                               _predict(case, shipped), _predict(case, held)))
    return rows, full
