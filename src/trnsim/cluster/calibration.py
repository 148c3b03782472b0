"""Validation against published training runs (``trnsim validate``).

The package ships published measurements (Narayanan et al. 2021, Korthikanti et al. 2022, the
Megatron-LM README's H100 weak-scaling table) in
``trnsim/data/calibration/*.csv`` (sources in their header comments) and, in ``settings.toml``,
the run settings each file leaves unstated (schedule, recompute, micro-batch), the same for every
row of a file. Each row becomes a model, a system, a rank count and a plan; :func:`validate_case`
estimates it with :func:`trnsim.cluster.estimate_step` and compares the file's metric.
"""

from __future__ import annotations

import csv
import io
import statistics
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from trnsim.cluster.plan import ParallelPlan, make_plan
from trnsim.cluster.step import StepResult, estimate_step
from trnsim.cluster.topology import topology_for_system
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.workload.config import MlpKind, ModelConfig, NormKind, PositionKind
from trnsim.workload.flops import hardware_flops
from trnsim.workload.options import Recompute

__all__ = [
    "CalibrationCase",
    "Metric",
    "ValidationRow",
    "calibration_dir",
    "load_cases",
    "mape_by_file",
    "validate_case",
]


class Metric(StrEnum):
    """What a calibration file measured."""

    STEP_TIME_S = "step_time_s"
    TFLOPS_PER_GPU = "tflops_per_gpu"  # hardware FLOPs (recompute included), per GPU per second
    MFU = "mfu"
    SEQ_PER_S = "seq_per_s"  # sequences per second for the whole job


@dataclass(frozen=True)
class CalibrationCase:
    """One published measurement and the run that produced it."""

    file: str
    label: str
    model: ModelConfig
    system: str
    ranks: int
    plan: ParallelPlan
    seq_len: int
    metric: Metric
    measured: float


@dataclass(frozen=True)
class ValidationRow:
    """A case, what trnsim predicts for it and the relative error."""

    case: CalibrationCase
    predicted: float
    result: StepResult

    @property
    def error(self) -> float:
        """Signed relative error (predicted - measured) / measured."""
        return (self.predicted - self.case.measured) / self.case.measured

    @property
    def measured_step_s(self) -> float:
        """The measured step time (throughput metrics scale inversely with it)."""
        if self.case.metric is Metric.STEP_TIME_S:
            return self.case.measured
        return self.result.step_time_s * self.predicted / self.case.measured

    @property
    def compute_ratio(self) -> float:
        """Predicted device compute / the compute the measurement leaves room for.

        Keeps this layer's communication, optimizer and bubble-to-compute proportion as predicted
        and solves ``c (1 + bubble_fraction) + rest = measured`` for the compute ``c``. A ratio
        below 1 says the device times are optimistic for this run (if the communication model is
        right); it is a diagnostic for the device-time curves, never a correction applied here.
        """
        parts = self.result.breakdown
        rest = self.result.step_time_s - parts["compute"] - parts["pipeline_bubble"]
        implied = (self.measured_step_s - rest) / (1 + self.result.bubble_fraction)
        return parts["compute"] / implied if implied > 0 else float("inf")


def calibration_dir() -> Path:
    """The bundled calibration data directory."""
    return Path(str(resources.files("trnsim"))) / "data" / "calibration"


def _rows(text: str) -> Iterator[dict[str, str]]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    yield from csv.DictReader(io.StringIO("\n".join(lines)))


def _gpt(name: str, hidden: int, layers: int, heads: int, vocab: int, seq_len: int,
         settings: Mapping[str, Any]) -> ModelConfig:
    """A Megatron GPT shape: GELU MLP of 4h, LayerNorm, learned positions, biases."""
    return ModelConfig(
        name=name, family="gpt", hidden_size=hidden, num_layers=layers, num_heads=heads,
        num_kv_heads=heads, head_dim=hidden // heads, ffn_hidden_size=4 * hidden, vocab_size=vocab,
        max_seq_len=seq_len, mlp=MlpKind.GELU, norm=NormKind.LAYERNORM, position=PositionKind.LEARNED,
        tie_embeddings=bool(settings.get("tie_embeddings", True)), linear_bias=True,
        dropout=bool(settings.get("dropout", False)),
        source="calibration row (Megatron-LM GPT shape)",
    )


def _plan(row: Mapping[str, str], settings: Mapping[str, Any], ranks: int, **fixed: Any) -> ParallelPlan:
    tp, pp = int(row["tp"]), int(row["pp"])
    fields: dict[str, Any] = {
        "tp": tp, "pp": pp, "dp": ranks // (tp * pp),
        "micro_batch": int(row.get("micro_batch") or settings.get("micro_batch", 1)),
        "global_batch": int(row["global_batch"]),
        "zero_stage": int(settings.get("zero_stage", 0)),
        "recompute": Recompute(settings.get("recompute", "none")),
        "sequence_parallel": bool(settings.get("sequence_parallel", False)) and tp > 1,
        "overlap_dp_comm": bool(settings.get("overlap_dp_comm", True)),
        "overlap_tp_comm": bool(settings.get("overlap_tp_comm", False)),
        "flash_attention": bool(settings.get("flash_attention", True)),
        "grad_reduce_dtype": str(settings.get("grad_reduce_dtype", "fp32")),
    }
    interleave = int(row.get("interleave") or settings.get("interleave", 1))
    fields["interleave"] = interleave
    fields["schedule"] = "interleaved" if interleave > 1 else str(settings.get("schedule", "1f1b"))
    if fields["schedule"] == "interleaved" and interleave == 1:
        fields["schedule"] = "1f1b"
    fields.update(fixed)
    return make_plan(**fields)


def _korthikanti(file: str, text: str, settings: Mapping[str, Any]) -> Iterator[CalibrationCase]:
    modes = {"full": {"recompute": Recompute.FULL, "sequence_parallel": False},
             "selective_sp": {"recompute": Recompute.SELECTIVE, "sequence_parallel": True}}
    for row in _rows(text):
        seq = int(row["seq_len"])
        model = _gpt(row["model"], int(row["hidden"]), int(row["layers"]), int(row["heads"]),
                     int(row["vocab"]), seq, settings)
        ranks = int(row["gpus"])
        for column, mode in dict(settings["columns"]).items():
            plan = _plan(row, settings, ranks, **modes[mode])
            yield CalibrationCase(file, f"{row['model']} {mode}", model, settings["system"], ranks, plan, seq,
                                  Metric.STEP_TIME_S, float(row[column]))


def _narayanan(file: str, text: str, settings: Mapping[str, Any]) -> Iterator[CalibrationCase]:
    for row in _rows(text):
        seq = int(row["seq_len"])
        model = _gpt(f"{row['model_params_b']}B", int(row["hidden"]), int(row["layers"]), int(row["heads"]),
                     int(row["vocab"]), seq, settings)
        ranks = int(row["gpus"])
        yield CalibrationCase(file, f"{row['model_params_b']}B", model, settings["system"], ranks,
                              _plan(row, settings, ranks), seq, Metric.TFLOPS_PER_GPU,
                              float(row["tflops_per_gpu"]))


def _megatron_h100(file: str, text: str, settings: Mapping[str, Any]) -> Iterator[CalibrationCase]:
    for row in _rows(text):
        seq = int(row["seq_len"])
        hidden = int(row["hidden"])
        model = _gpt(f"{row['model_params_b']}B", hidden, int(row["layers"]),
                     hidden // int(settings["head_dim"]), int(row["vocab"]), seq, settings)
        ranks = int(row["gpus"])
        yield CalibrationCase(file, f"{row['model_params_b']}B", model, settings["system"], ranks,
                              _plan(row, settings, ranks), seq, Metric.MFU, float(row["mfu"]))


def _llama(name: str, row: Mapping[str, str], seq_len: int, settings: Mapping[str, Any]) -> ModelConfig:
    """A Llama 2 shape: SwiGLU MLP, RMSNorm, RoPE, no biases, untied embeddings."""
    hidden, heads = int(row["hidden"]), int(row["heads"])
    return ModelConfig(
        name=name, family="llama", hidden_size=hidden, num_layers=int(row["layers"]), num_heads=heads,
        num_kv_heads=int(row["kv_heads"]), head_dim=hidden // heads, ffn_hidden_size=int(row["ffn"]),
        vocab_size=int(row["vocab"]), max_seq_len=seq_len, mlp=MlpKind.SWIGLU, norm=NormKind.RMSNORM,
        position=PositionKind.ROPE, tie_embeddings=False, linear_bias=False,
        dropout=bool(settings.get("dropout", False)), source="calibration row (Llama 2 shape)",
    )


#: Columns that identify one configuration of the Neuron tables (the SDK release does not).
_NEURON_CONFIG = ("model", "hidden", "layers", "heads", "kv_heads", "ffn", "vocab", "nodes", "ranks", "tp",
                  "pp", "dp", "zero", "sequence_parallel", "recompute", "micro_batch", "global_batch",
                  "seq_len")


def _neuron_trn1(file: str, text: str, settings: Mapping[str, Any]) -> Iterator[CalibrationCase]:
    """One case per configuration: the median of its re-measurements across SDK releases."""
    groups: dict[tuple[str, ...], list[dict[str, str]]] = {}
    for row in _rows(text):
        groups.setdefault(tuple(row[key] for key in _NEURON_CONFIG), []).append(row)
    for rows in groups.values():
        row = rows[0]
        seq = int(row["seq_len"])
        ranks, tp, pp = int(row["ranks"]), int(row["tp"]), int(row["pp"])
        if int(row["dp"]) * tp * pp != ranks:
            raise ValueError(f"'dp' (tp*pp*dp != ranks in row {row['model']} sdk {row['sdk']})")
        fixed = {"zero_stage": int(row["zero"]), "recompute": Recompute(row["recompute"]),
                 "sequence_parallel": row["sequence_parallel"] == "1" and tp > 1}
        plan = _plan(row, settings, ranks, **fixed)
        label = f"{row['model'].removeprefix('Llama2-')} pp{pp} med{len(rows)}"  # median of n releases
        measured = statistics.median(float(r["seq_per_s"]) for r in rows)
        model = _llama(row["model"], row, seq, settings)
        yield CalibrationCase(file, label, model, settings["system"], ranks, plan, seq, Metric.SEQ_PER_S,
                              measured)


_READERS: dict[str, Callable[[str, str, Mapping[str, Any]], Iterator[CalibrationCase]]] = {
    "korthikanti2022_a100": _korthikanti,
    "narayanan2021_a100": _narayanan,
    "megatron_h100_weak_scaling": _megatron_h100,
    "neuron_trn1_llama2": _neuron_trn1,
}


def load_cases(directory: Path | None = None) -> tuple[list[CalibrationCase], list[str]]:
    """Every case of every CSV in ``directory`` (default: the bundled data) and the files skipped."""
    folder = directory if directory is not None else calibration_dir()
    settings_path = folder / "settings.toml"
    try:
        settings = tomllib.loads(settings_path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read calibration settings '{settings_path}': {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:  # UTF-8 is TOML's encoding
        raise ConfigError(f"calibration settings '{settings_path}' is not valid TOML: {error}") from None
    cases: list[CalibrationCase] = []
    skipped: list[str] = []
    for path in sorted(folder.glob("*.csv")):
        if settings.get(path.stem, {}).get("kind") == "serving":
            continue  # TTFT/TPOT rows: trnsim.serve.calibration (trnsim validate --serving)
        reader = _READERS.get(path.stem)
        if reader is None or path.stem not in settings:
            skipped.append(f"{path.name} (no reader or no [{path.stem}] in settings.toml)")
            continue
        try:
            cases.extend(reader(path.name, path.read_text(), settings[path.stem]))
        except (KeyError, ValueError) as error:
            raise ConfigError(f"calibration file '{path.name}': bad or missing column {error}") from None
        except TypeError:  # csv gives None for the fields a short row lacks
            raise ConfigError(f"calibration file '{path.name}': a row has fewer fields than the header "
                              "(a missing value)") from None
    return cases, skipped


def validate_case(case: CalibrationCase) -> ValidationRow:
    """Estimate one case and extract the metric its file measured."""
    system = load_system(case.system)
    topology = topology_for_system(system, case.system)  # the network of the name the file gives
    result = estimate_step(case.model, system, case.ranks, case.plan, case.seq_len, topology=topology)
    if case.metric is Metric.STEP_TIME_S:
        predicted = result.step_time_s
    elif case.metric is Metric.MFU:
        predicted = result.mfu
    elif case.metric is Metric.SEQ_PER_S:
        predicted = case.plan.global_batch / result.step_time_s
    else:
        tokens = case.plan.global_batch * case.seq_len
        flops = hardware_flops(case.model, tokens, case.seq_len, case.plan.recompute,
                               case.plan.flash_attention)
        predicted = flops / result.step_time_s / case.ranks / 1e12
    return ValidationRow(case, predicted, result)


def mape_by_file(rows: list[ValidationRow]) -> dict[str, float]:
    """Mean absolute percentage error per file (as a fraction)."""
    errors: dict[str, list[float]] = {}
    for row in rows:
        errors.setdefault(row.case.file, []).append(abs(row.error))
    return {file: sum(values) / len(values) for file, values in errors.items()}
