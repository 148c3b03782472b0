"""trnsim from Python: ``estimate``, ``plan``, ``compare``, ``serve``, ``serve_compare`` and ``load_model``
for notebooks and scripts.

Each function takes the same arguments as the CLI command of the same name, with the same
defaults, and returns a result object with ``.to_dict()`` (the command's JSON), ``.to_frame()``
(a pandas DataFrame, when pandas is installed) and an HTML rendering for notebooks. Errors are
:class:`trnsim.errors.TrnsimError` with the CLI's one-line messages. See ``docs/api.md``.
"""

from __future__ import annotations

import functools
import html
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from trnsim.cluster.error_band import load_band, step_band_fields
from trnsim.devicetime.calibration import device_calibration
from trnsim.errors import ConfigError, TrnsimError
from trnsim.hardware.catalog_env import catalog_env, check_catalog_contents, check_catalog_env
from trnsim.hardware.distinct_systems import check_distinct_systems
from trnsim.hardware.node_fit import check_fills_nodes
from trnsim.workload.config import ModelConfig, check_seq_len
from trnsim.workload.models import load_model as _load_model
from trnsim.workload.models import param_counts

__all__ = ["CompareResult", "EstimateResult", "PlanResult", "ServingCompareResult", "ServingResult",
           "compare", "estimate", "load_model", "plan", "serve", "serve_compare"]

#: The systems ``compare`` puts side by side by default (as ``trnsim compare``).
DEFAULT_SYSTEMS = ("trn2-ultraserver", "trn2", "trn1", "p5", "p5e", "tpu-v4", "tpu-v5p")
_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}

#: A run at least this long gets a goodput estimate (failures, checkpoints), as ``trnsim estimate``'s.
_LONG_RUN_S = 3600.0

_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextmanager
def _user_catalog(catalog: str | Path | None) -> Iterator[None]:
    """Within the block, ``catalog`` (when given) is the user catalog of every data file.

    The catalog loaders take the directory as an argument, but the device-time files (efficiency/,
    fusion/, param_passes/, trainium_scale/) are found through ``$TRNSIM_CATALOG``: the variable is
    set for the call (and its worker processes), then restored.
    """
    if catalog is None:
        check_catalog_env()
        yield
        return
    if not Path(catalog).is_dir():
        raise ConfigError(f"catalog directory '{catalog}' does not exist or is not a directory (given by "
                          "catalog=); give a directory that holds systems/, chips/ ...")
    check_catalog_contents(catalog, "catalog=")
    with catalog_env(catalog):
        yield


def _catalog_in_force(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``function`` with its keyword argument ``catalog`` as the user catalog of every data file."""
    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        catalog = kwargs.get("catalog")
        if catalog is not None and not isinstance(catalog, str | Path):
            raise ConfigError(f"catalog must be a directory (a path or its text), got {catalog!r:.60}")
        with _user_catalog(catalog if isinstance(catalog, (str, Path)) else None):
            return function(*args, **kwargs)
    return wrapper


def load_model(name_or_path: str | Path, **overrides: Any) -> ModelConfig:
    """A preset name (``"llama3-70b"``) or a Hugging Face ``config.json`` (file or directory).

    Keyword arguments override fields after loading, e.g. ``load_model("afm-server", num_layers=96)``.
    """
    return _load_model(name_or_path, overrides or None)


def _count(value: float | int | str, what: str) -> float:
    """``6.3e12``, ``"6.3T"`` or ``"500B"`` as a number (the CLI's token syntax)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        pattern = r"\s*([0-9][0-9_]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([KMBGTP]?)\s*"
        match = re.fullmatch(pattern, str(value))
        if not match:
            raise ConfigError(f"{what} '{value}' is not a number; write e.g. 6.3T, 500B or 1e12")
        number = float(match.group(1).replace("_", "")) * _SUFFIX[match.group(2)]
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{what} must be a positive finite number, got {value!r}")
    return number


def _flat(record: Mapping[str, Any]) -> dict[str, Any]:
    """One level of nesting flattened (``breakdown_s.compute`` -> ``breakdown_s_compute``)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            out.update({f"{key}_{k}": v for k, v in value.items() if not isinstance(v, Mapping | list)})
        elif not isinstance(value, list):
            out[key] = value
    return out


def _frame(rows: list[dict[str, Any]]) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError("to_frame() needs pandas: pip install pandas (or use to_dict())") from None
    return pd.DataFrame([_flat(r) for r in rows])


def _html_table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape("" if value is None else str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<div><b>{html.escape(title)}</b><table><tr>{head}</tr>{body}</table></div>"


# ---- estimate ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OneRow:
    """One answer as the keys of its command's ``--json`` (``data``), with the views every such
    answer offers."""

    data: dict[str, Any]

    @property
    def fits(self) -> bool:
        return bool(self.data["fits"])

    def to_dict(self) -> dict[str, Any]:
        """The keys of the command's ``--json``."""
        return dict(self.data)

    def to_frame(self) -> Any:
        """A one-row pandas DataFrame (nested parts flattened, e.g. ``breakdown_s_compute``)."""
        return _frame([self.data])


@dataclass(frozen=True)
class EstimateResult(_OneRow):
    """One training step of one plan: ``trnsim estimate``'s answer (``to_dict()``: its ``--json``)."""

    #: The cluster model's :class:`~trnsim.cluster.StepResult`, for everything else.
    step: Any = field(repr=False)

    @property
    def step_time_s(self) -> float:
        return float(self.data["step_time_s"])

    @property
    def tokens_per_s(self) -> float:
        return float(self.data["tokens_per_s"])

    @property
    def mfu(self) -> float:
        return float(self.data["mfu"])

    def __repr__(self) -> str:
        d = self.data
        return (f"EstimateResult({d['model']} on {d['ranks']} ranks of {d['system']}: step "
                f"{d['step_time_s']:.4g} s, {d['tokens_per_s']:,.0f} tokens/s, MFU {d['mfu']:.1%}, "
                f"fits={d['fits']})")

    def _repr_html_(self) -> str:
        columns = ["model", "system", "ranks", "params_total", "params_active", "step_time_s", "tokens_per_s",
                   "mfu", "hfu", "memory_per_rank_bytes", "fits"]
        return _html_table(f"trnsim estimate: {self.data['model']}", [self.data], columns)


@_catalog_in_force
def estimate(
    model: str | Path | ModelConfig,
    system: str,
    *,
    ranks: int | None = None,
    nodes: int | None = None,
    tp: int = 1,
    pp: int = 1,
    dp: int | None = None,
    cp: int = 1,
    cp_exchange: str = "ring",
    ep: int = 1,
    zero: int = 0,
    fsdp: bool = False,
    recompute: str = "none",
    micro_batch: int = 1,
    global_batch: int | None = None,
    seq_len: int = 4096,
    interleave: int = 1,
    first_stage_layers: int | None = None,
    last_stage_layers: int | None = None,
    account_for_embedding_loss: bool = False,
    microbatch_group: int | None = None,
    reshard_after_forward: bool = True,
    schedule: str | None = None,
    sequence_parallel: bool = True,
    overlap_dp: bool = True,
    overlap_tp: bool = False,
    overlap_p2p: bool = False,
    precision: str = "bf16",
    flash_attention: bool = True,
    grad_reduce_dtype: str = "fp32",
    tokens: float | str | None = None,
    lnc: int | None = None,
    catalog: str | Path | None = None,
) -> EstimateResult:
    """Time one training step of a parallel plan, as ``trnsim estimate`` (same arguments and defaults).

    Give exactly one of ``ranks`` or ``nodes``; ``dp`` defaults to ranks / (tp·pp·cp) and
    ``global_batch`` to dp·micro_batch. ``tokens`` (a number or ``"15T"``) adds the run time and, for a
    run of an hour or more, the goodput, as ``--tokens``.
    """
    from trnsim.cluster import Schedule, estimate_run_goodput, estimate_step, make_plan, topology_for_system
    from trnsim.cluster.achieved import flops_fields
    from trnsim.cluster.plan import GradReduceDtype, InfeasiblePlanError, InfeasibleReason
    from trnsim.cluster.traffic import CPExchange
    from trnsim.hardware.catalog import load_system
    from trnsim.workload.options import Precision, Recompute

    spec = load_system(system, catalog, lnc=lnc)
    if (nodes is None) == (ranks is None):
        raise ConfigError("give exactly one of nodes= or ranks=")
    run_tokens = None if tokens is None else _count(tokens, "tokens")
    _at_least_one(nodes=nodes, ranks=ranks, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, micro_batch=micro_batch,
                  global_batch=global_batch, seq_len=seq_len, interleave=interleave)
    total = ranks if ranks is not None else int(nodes or 0) * spec.ranks_per_node
    check_fills_nodes(total, spec.ranks_per_node, "ranks", spec.name, f"ranks={total}")
    if dp is None:
        if total % (tp * pp * cp):
            raise InfeasiblePlanError(InfeasibleReason.RANK_COUNT,
                                      f"tp*pp*cp = {tp * pp * cp} does not divide the {total} ranks; "
                                      "pick degrees that do or give dp=")
        dp = total // (tp * pp * cp)
    if interleave > 1 and pp == 1:
        raise ConfigError(f"interleave={interleave} needs pp > 1: virtual stages interleave a pipeline")
    default_schedule = Schedule.INTERLEAVED if interleave > 1 else Schedule.ONE_F_ONE_B
    chosen = _enum(Schedule, schedule, "schedule") if schedule else default_schedule
    plan_ = make_plan(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, zero_stage=zero, fsdp=fsdp,
                      recompute=_enum(Recompute, recompute, "recompute"), micro_batch=micro_batch,
                      global_batch=global_batch if global_batch is not None else dp * micro_batch,
                      interleave=interleave, first_stage_layers=first_stage_layers,
                      last_stage_layers=last_stage_layers,
                      account_for_embedding_loss=account_for_embedding_loss,
                      microbatch_group=microbatch_group, reshard_after_forward=reshard_after_forward,
                      schedule=chosen,
                      sequence_parallel=sequence_parallel and tp > 1,
                      cp_exchange=_enum(CPExchange, cp_exchange, "cp_exchange"),
                      overlap_dp_comm=overlap_dp, overlap_tp_comm=overlap_tp,
                      overlap_p2p_comm=overlap_p2p,
                      flash_attention=flash_attention,
                      grad_reduce_dtype=_enum(GradReduceDtype, grad_reduce_dtype, "grad_reduce_dtype"))
    config = model if isinstance(model, ModelConfig) else _load_model(model)
    _required(seq_len=seq_len)
    check_seq_len(seq_len, config, f"seq_len={seq_len}")  # as plan's and compare's
    network = topology_for_system(spec, system, {})
    step = estimate_step(config, spec, total, plan_, seq_len, _enum(Precision, precision, "precision"),
                         network)
    band = load_band(spec.chip.family, spec.chip.name)
    data = {**step.to_dict(), **flops_fields(step, spec), **param_counts(config),
            "model_notes": list(config.notes),
            **step_band_fields(band, step.step_time_s),
            "device_calibration": device_calibration(spec.chip)}
    if run_tokens is not None:  # the keys `trnsim estimate --tokens` adds
        run_s = run_tokens / step.tokens_per_s
        data["train_time_s"] = run_s
        data["train_time_range_s"] = list(band.interval(run_s))
        if run_s >= _LONG_RUN_S:
            goodput = estimate_run_goodput(step, config, spec, network)
            data["goodput"] = goodput.to_dict()
            if goodput.goodput > 0:
                data["expected_wall_time_s"] = run_s / goodput.goodput
                data["expected_wall_time_range_s"] = list(band.interval(run_s / goodput.goodput))
    return EstimateResult(data, step)


def _enum(kind: Any, value: Any, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        valid = ", ".join(str(v.value) for v in kind)
        raise ConfigError(f"{what}={value!r} is not valid; valid: {valid}") from None


# ---- plan and compare ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entries:
    """Ranked plans as report entries (the ``results`` of the CLI's JSON) plus its ``meta``."""

    meta: dict[str, Any]
    entries: list[dict[str, Any]]
    raw: Any = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The document of the CLI's ``--json``: ``{"meta": ..., "results": [...]}``."""
        return {"meta": dict(self.meta), "results": [dict(e) for e in self.entries]}

    def to_frame(self) -> Any:
        """One row per result (plan), nested parts flattened; needs pandas."""
        return _frame(self.entries)

    def _repr_html_(self) -> str:
        columns = ["kind", "system", "chips", "plan", "step_time_s", "mfu", "time_to_train_days", "cost_usd"]
        title = f"trnsim {self.meta.get('command')}: {self.meta.get('model')}"
        return _html_table(title, self.entries, columns)


@dataclass(frozen=True)
class PlanResult(_Entries):
    """The best plans of one model on one system: ``trnsim plan``'s answer."""

    @property
    def best(self) -> dict[str, Any]:
        """The best plan's entry (plan, step time, days, cost, ...)."""
        return self.entries[0]

    def __repr__(self) -> str:
        b = self.best
        return (f"PlanResult({self.meta['model']} on {b['system']}: best {b['plan']}, step "
                f"{b['step_time_s']:.4g} s, {b['time_to_train_days']:.3g} days; {len(self.entries)} plans)")


@dataclass(frozen=True)
class CompareResult(_Entries):
    """Systems side by side on one job: ``trnsim compare``'s answer."""

    def __repr__(self) -> str:
        systems = sorted({str(e["system"]) for e in self.entries})
        return f"CompareResult({self.meta['model']}: {', '.join(systems)}; {len(self.entries)} results)"


def _chip_counts(scaling: str | Sequence[int]) -> tuple[int, ...]:
    """``compare``'s scaling points: a sequence of chip counts or the CLI's text ("8192,131072"; ""
    for none), each once (a repeated point doubled the curve's rows)."""
    if isinstance(scaling, str):
        items = [item.strip() for item in scaling.split(",")] if scaling.strip() else []
        counts: list[Any] = []
        for item in items:
            try:
                number = _count(item, "scaling value") if item else None
            except ConfigError:
                number = None
            if number is None or number != int(number):
                raise ConfigError(f"scaling value '{item}' is not a number of chips; give chip counts, "
                                  "e.g. '8192,131072'")
            counts.append(int(number))
    elif isinstance(scaling, Sequence):
        counts = list(scaling)
    else:
        raise ConfigError("scaling must be chip counts (a list, or text such as '8192,131072'; () for none), "
                          f"got {scaling!r:.60}")
    _at_least_one(**{f"scaling[{i}]": c for i, c in enumerate(counts)})
    for i, count in enumerate(counts):
        if count in counts[:i]:
            raise ConfigError(f"scaling names {count} chips twice; give each chip count once")
    return tuple(int(c) for c in counts)


def _system_names(systems: str | Sequence[str]) -> list[str]:
    """The names of ``systems``: a list, or the CLI's comma-separated text (``"trn2,p5e"``)."""
    if not isinstance(systems, str) and not (isinstance(systems, Sequence)
                                             and all(isinstance(n, str) for n in systems)):
        raise ConfigError("systems must be a comma-separated string or a list of system names (e.g. "
                          f"'trn2,p5e'), got {systems!r:.60}")
    names = [s.strip() for s in systems.split(",")] if isinstance(systems, str) else list(systems)
    if not any(names):
        raise ConfigError("systems is empty; give e.g. ['trn2', 'trn1', 'p5e']")
    if not all(names):  # "trn2,,p5": a name left out, not a shorter list
        raise ConfigError(f"systems {systems!r} has an empty name; give each system once, e.g. 'trn2,p5'")
    return names


def _number(name: str, value: object) -> None:
    """``value`` is a number (or None): a string raised a TypeError from ``math.isfinite``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")


def _at_least_one(**values: int | None) -> None:
    """Each given count is a whole number of at least 1 (as the CLI's options; tp=0 divided by zero,
    tp="4" raised a TypeError)."""
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ConfigError(f"{name} must be a whole number, got {value!r}")
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")


def _required(**values: object) -> None:
    """Counts that have no default: None is refused like a wrong type (a TypeError deep inside before)."""
    for name, value in values.items():
        if value is None:
            raise ConfigError(f"{name} must be a whole number, got None")
    _at_least_one(**values)  # type: ignore[arg-type]


def _job(tokens: float | str, seq_len: int, global_batch: int, precision: str, deadline: float | None,
         budget: float | None, objective: str, pue: float, sequence_parallel: bool = True) -> Any:
    from pydantic import ValidationError

    from trnsim.plan.problem import Objective, TrainingJob
    from trnsim.workload.options import Precision

    for name, value in (("deadline", deadline), ("budget", budget), ("pue", pue)):
        _number(name, value)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value}")
    try:
        return TrainingJob(tokens=_count(tokens, "tokens"), seq_len=seq_len, global_batch=global_batch,
                           precision=_enum(Precision, precision, "precision"), deadline_days=deadline,
                           budget_usd=budget, objective=_enum(Objective, objective, "objective"), pue=pue,
                           sequence_parallel=sequence_parallel)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"job {where}: {str(first['msg']).removeprefix('Value error, ')}".strip()) from None


@_catalog_in_force
def plan(
    model: str | Path,
    system: str,
    *,
    tokens: float | str,
    nodes: int | None = None,
    ranks: int | None = None,
    max_ranks: int | None = None,
    global_batch: int = 1024,
    seq_len: int = 4096,
    precision: str = "bf16",
    deadline: float | None = None,
    budget: float | None = None,
    objective: str = "time",
    pue: float = 1.0,
    top: int = 5,
    space: str = "full",
    lnc: int | None = None,
    sequence_parallel: bool = True,
    catalog: str | Path | None = None,
) -> PlanResult:
    """The best parallel plans of ``model`` on ``system``, as ``trnsim plan`` (same defaults).

    ``tokens`` is a number or the CLI's text (``"15T"``); give exactly one of ``nodes``, ``ranks`` or
    ``max_ranks`` (node counts doubling from one up to it, as ``--max-ranks``).
    """
    from trnsim.plan.explain import explain
    from trnsim.plan.inputs import resolve_model, resolve_system
    from trnsim.plan.launch import add_estimate_args
    from trnsim.plan.problem import Problem
    from trnsim.plan.search import search_plans
    from trnsim.plan.space import SpaceProfile
    from trnsim.report.bands import bands_meta
    from trnsim.report.entries import entries_from_search

    if sum(v is not None for v in (nodes, ranks, max_ranks)) != 1:
        raise ConfigError("give exactly one of nodes=, ranks= or max_ranks=")
    _required(seq_len=seq_len, global_batch=global_batch)
    job = _job(tokens, seq_len, global_batch, precision, deadline, budget, objective, pue, sequence_parallel)
    model_config = resolve_model(str(model))
    check_seq_len(seq_len, model_config, f"seq_len={seq_len}")
    system_spec = resolve_system(system, catalog, lnc)
    _at_least_one(nodes=nodes, ranks=ranks, max_ranks=max_ranks, top=top)
    if system_spec.price_usd_per_node_hour is None and (job.objective.value == "cost" or budget is not None):
        raise ConfigError(f"objective='cost' and budget= need a price for {system_spec.name}, which the "
                          "catalog does not have: give one in a user catalog (catalog=)")
    per_node = system_spec.ranks_per_node
    if max_ranks is not None:  # as --max-ranks: whole nodes, doubling from one
        if max_ranks < per_node:
            raise ConfigError(f"max_ranks={max_ranks} is less than one {system_spec.name} node ({per_node} "
                              f"ranks); give at least {per_node}, or ranks= for part of a node")
        counts = [per_node << k for k in range((max_ranks // per_node).bit_length())]
    else:
        counts = [nodes * per_node if nodes is not None else int(ranks or 0)]
        check_fills_nodes(counts[0], per_node, "ranks", system_spec.name, f"ranks={counts[0]}")
    problems = [Problem(model_config, system_spec, count, job) for count in counts]
    search_space = _enum(SpaceProfile, space, "space").space()
    result = search_plans(problems, search_space, top_k=top)
    meta = {"command": "plan", "model": str(model), **param_counts(model_config),
            "job": job.model_dump(mode="json"), "explanation": explain(result),
            "candidates": result.stats.candidates, "evaluated": result.stats.evaluated,
            "infeasible_by_reason": {str(k): v for k, v in result.stats.infeasible_by_reason.items()},
            "error_bars": bands_meta(list(result.top))}
    entries = entries_from_search(result)
    add_estimate_args(entries, model_config, {system_spec.name: system_spec}, job, str(model),
                      None if catalog is None else str(catalog))
    return PlanResult(meta, entries, result)


@_catalog_in_force
def _catalog_reference(reference: str, names: list[str], resolved: list[str],
                       catalog: str | Path | None) -> str:
    """The catalog name of the reference, which must be one of the systems (an alias of one counts)."""
    from trnsim.plan.inputs import resolve_system

    if reference in names:
        return resolved[names.index(reference)]
    try:
        known: str | None = resolve_system(str(reference), catalog).name
    except TrnsimError:
        known = None
    if known is None or known not in resolved:
        raise ConfigError(f"reference '{reference}' is not among systems ({', '.join(names)})")
    return known


def compare(
    model: str | Path = "afm-server",
    *,
    tokens: float | str = "6.3T",
    systems: str | Sequence[str] = DEFAULT_SYSTEMS,
    chips: int = 8192,
    scaling: str | Sequence[int] = (8192, 16384, 32768, 65536, 131072),
    reference: str | None = None,
    hourly_budget: float | None = None,
    global_batch: int = 4096,
    seq_len: int = 4096,
    precision: str = "bf16",
    pue: float = 1.0,
    catalog: str | Path | None = None,
    space: str = "quick",
    workers: int | None = None,
    sequence_parallel: bool = True,
) -> CompareResult:
    """Systems side by side at equal chips and equal budget, as ``trnsim compare`` (same defaults:
    ``workers`` None is its default, on two cores half the searches in a forked child)."""
    from trnsim.plan.claims import check_claims
    from trnsim.plan.compare import compare_parallelism, compare_systems
    from trnsim.plan.inputs import resolve_model, resolve_system
    from trnsim.plan.launch import add_estimate_args
    from trnsim.plan.problem import Objective
    from trnsim.plan.space import SpaceProfile
    from trnsim.report.bands import bands_meta
    from trnsim.report.entries import entries_from_comparison, system_meta
    from trnsim.report.story import headline_sentence

    names = _system_names(systems)
    _required(chips=chips, seq_len=seq_len, global_batch=global_batch)
    scaling = _chip_counts(scaling)
    job = _job(tokens, seq_len, global_batch, precision, None, None, Objective.TIME.value, pue,
               sequence_parallel)
    model_config = resolve_model(str(model))
    check_seq_len(seq_len, model_config, f"seq_len={seq_len}")
    specs = [resolve_system(n, catalog) for n in names]
    resolved = [s.name for s in specs]
    check_distinct_systems(names, resolved, "systems")
    # the reference by its catalog name (the comparison's rows are keyed by it): p5e.48xlarge is p5e
    named_reference = None if reference is None else _catalog_reference(reference, names, resolved, catalog)
    reference = named_reference or ("p5e" if "p5e" in resolved else None)  # the default falls back
    if named_reference is not None and hourly_budget is None \
            and specs[resolved.index(named_reference)].price_usd_per_node_hour is None:
        priced = ", ".join(s.name for s in specs if s.price_usd_per_node_hour is not None) or "none"
        raise ConfigError(f"reference {named_reference} has no price in the catalog, so it sets no equal "
                          f"budget; name a priced system (of systems: {priced}) or give hourly_budget=")
    _at_least_one(chips=chips, workers=workers)
    for spec in specs:
        for count in (chips, *scaling):
            check_fills_nodes(count, spec.chips_per_node, "chips", spec.name, f"chips={count}")
    _number("hourly_budget", hourly_budget)
    if hourly_budget is not None and not (math.isfinite(hourly_budget) and hourly_budget > 0):
        raise ConfigError(f"hourly_budget must be a positive number of USD per hour, got {hourly_budget}")
    pool, split = compare_parallelism(workers)
    comparison = compare_systems(model_config, specs, job, chips,
                                 space=_enum(SpaceProfile, space, "space").space(),
                                 scaling_chips=list(scaling),
                                 reference=reference, hourly_budget_usd=hourly_budget,
                                 workers=pool, split=split)
    entries = entries_from_comparison(comparison)
    add_estimate_args(entries, model_config, {s.name: s for s in specs}, job, str(model),
                      None if catalog is None else str(catalog))
    claims = check_claims(comparison)
    # the keys of `trnsim compare --json`'s meta (docs/api.md: to_dict() is that document)
    meta = {"command": "compare", "headline": headline_sentence(entries, comparison.reference),
            "job": job.model_dump(mode="json"), "model": str(model), **param_counts(model_config),
            "chips": chips, "hourly_budget_usd": comparison.hourly_budget_usd,
            "reference": comparison.reference,
            "claims": [{"claim": c.claim, "prediction": c.prediction} for c in claims],
            "unpriced_systems": [s.name for s in specs if s.price_usd_per_node_hour is None],
            "systems": {s.name: system_meta(s) for s in specs},
            "error_bars": bands_meta([r.best for r in comparison.rows if r.best is not None], comparison)}
    return CompareResult(meta, entries, comparison)


# ---- serve ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServingResult(_OneRow):
    """A model served in one layout: ``trnsim serve``'s answer (``to_dict()``: its ``--json``)."""

    #: The serving model's :class:`~trnsim.serve.ServeResult`, for everything else.
    raw: Any = field(repr=False)

    @property
    def ttft_s(self) -> float:
        return float(self.data["ttft_s"])

    @property
    def tpot_s(self) -> float:
        return float(self.data["tpot_s"])

    @property
    def output_tokens_per_s(self) -> float:
        return float(self.data["output_tokens_per_s"])

    def __repr__(self) -> str:
        d = self.data
        return (f"ServingResult({d['model']} on {d['ranks']} ranks of {d['system']}, tp{d['tp']} pp{d['pp']} "
                f"ep{d['ep']}, {d['concurrency']} in flight: TTFT {d['ttft_s'] * 1e3:,.1f} ms, TPOT "
                f"{d['tpot_s'] * 1e3:,.2f} ms, {d['output_tokens_per_s']:,.0f} output tokens/s, "
                f"fits={d['fits']})")

    def _repr_html_(self) -> str:
        columns = ["model", "system", "ranks", "tp", "pp", "ep", "concurrency", "ttft_s", "tpot_s",
                   "output_tokens_per_s", "memory_per_rank_bytes", "fits",
                   "cost_per_million_output_tokens_usd"]
        return _html_table(f"trnsim serve: {self.data['model']}", [self.data], columns)


@dataclass(frozen=True)
class ServingCompareResult:
    """The best serving layout per system at the latency targets: ``trnsim serve --compare``'s answer."""

    data: dict[str, Any]
    #: The search's :class:`~trnsim.serve.compare.CompareOutcome`.
    raw: Any = field(repr=False)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One row per system, ranked: priced by cost per million output tokens, then by tokens/s/chip."""
        return list(self.data["systems"])

    @property
    def any_meets(self) -> bool:
        """Some system has a layout within the targets (the CLI exits 3 when none has)."""
        return any(r["meets_target"] for r in self.data["systems"])

    def to_dict(self) -> dict[str, Any]:
        """The document of ``trnsim serve --compare --json``."""
        return dict(self.data)

    def to_frame(self) -> Any:
        """One row per system; needs pandas."""
        return _frame(self.rows)

    def __repr__(self) -> str:
        meets = [str(r["system"]) for r in self.rows if r["meets_target"]]
        return (f"ServingCompareResult({len(self.rows)} systems; within the targets, best first: "
                f"{', '.join(meets) or 'none'})")

    def _repr_html_(self) -> str:
        columns = ["system", "meets_target", "chips", "tp", "concurrency", "ttft_s", "tpot_s",
                   "output_tokens_per_s", "cost_per_million_output_tokens_usd", "why_none"]
        return _html_table("trnsim serve --compare", self.rows, columns)


@_catalog_in_force
def serve(
    model: str | Path | ModelConfig,
    system: str,
    *,
    chips: int | None = None,
    nodes: int | None = None,
    ranks: int | None = None,
    tp: int = 1,
    pp: int = 1,
    ep: int = 1,
    concurrency: int = 1,
    input_tokens: int = 1024,
    output_tokens: int = 256,
    precision: str = "bf16",
    kv_dtype: str = "bf16",
    draft_model: str | Path | ModelConfig | None = None,
    speculation_length: int | None = None,
    acceptance_rate: float | None = None,
    prefill_chunk: int | None = None,
    catalog: str | Path | None = None,
) -> ServingResult:
    """Serve ``model`` in one layout on ``system``, as ``trnsim serve`` (same arguments and defaults):
    TTFT, TPOT, tokens/s, memory per rank, cost and energy.

    Give exactly one of ``chips``, ``nodes`` or ``ranks``; ``concurrency`` is the requests in flight
    per replica. ``draft_model`` (with ``speculation_length``/``acceptance_rate``, else the serving
    file's) turns on speculative decoding.
    """
    from trnsim.hardware.catalog import load_system
    from trnsim.serve import estimate_serving
    from trnsim.serve.inputs import API, rank_count, serve_inputs

    inputs = serve_inputs(model, API, concurrency=concurrency, input_tokens=input_tokens,
                          output_tokens=output_tokens, precision=precision, kv_dtype=kv_dtype, tp=tp, pp=pp,
                          ep=ep, draft_model=draft_model, speculation_length=speculation_length,
                          acceptance_rate=acceptance_rate, prefill_chunk=prefill_chunk)
    if not isinstance(system, str):
        raise ConfigError(f"system must be a system name (e.g. 'trn2'), got {system!r:.60}")
    spec = load_system(system, catalog)
    result = estimate_serving(inputs.config(spec, rank_count(spec, API, chips, nodes, ranks)))
    return ServingResult(result.to_dict(), result)


@_catalog_in_force
def serve_compare(
    model: str | Path | ModelConfig,
    *,
    systems: str | Sequence[str] | None = None,
    concurrency: int | None = None,
    input_tokens: int = 1024,
    output_tokens: int = 256,
    precision: str = "bf16",
    kv_dtype: str = "bf16",
    tpot_ms: float | None = None,
    ttft_ms: float | None = None,
    catalog: str | Path | None = None,
) -> ServingCompareResult:
    """The cheapest serving layout per system within the latency targets, as ``trnsim serve --compare``
    (same arguments and defaults).

    ``systems`` None ranks ``trnsim serve --compare``'s defaults
    (:data:`trnsim.serve.compare.DEFAULT_SYSTEMS`). Each system gets one replica of up to one node,
    the concurrency searched up to ``concurrency`` (none given: freely); ``tpot_ms``/``ttft_ms`` are the
    targets. A result in which no system meets them is returned (``any_meets`` False, each row's
    ``why_none`` says why), where the CLI exits 3.
    """
    from trnsim.serve.compare import DEFAULT_SYSTEMS as SERVING_SYSTEMS
    from trnsim.serve.inputs import API, check_systems, serve_inputs

    inputs = serve_inputs(model, API, concurrency=concurrency, input_tokens=input_tokens,
                          output_tokens=output_tokens, precision=precision, kv_dtype=kv_dtype,
                          tpot_ms=tpot_ms, ttft_ms=ttft_ms)
    names = _system_names(SERVING_SYSTEMS if systems is None else systems)
    check_systems(names, API)
    outcome = inputs.compare(names)
    return ServingCompareResult(outcome.to_dict(), outcome)
