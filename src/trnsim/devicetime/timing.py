"""Time of one op and of one training step on one rank of a chip.

``time_op(op, chip, method)``:
- ``"roofline"``: max(FLOPs at peak, bytes at HBM bandwidth) for any chip: the fast path.
- ``"analytic"``: GPUs and TPUs: peak by dtype, HBM bandwidth, size-dependent efficiency curves
  and launch overheads from data files (:mod:`trnsim.devicetime.efficiency`).
- ``"table"``: Trainium: interpolated in the shipped tables of simulated kernel times.
- ``"kernel"``: Trainium: the exact shape run through the chip model, cached on disk.
- ``"auto"`` (default): GPU/TPU → analytic; Trainium → the disk cache for the exact shape, else
  the table; a streaming op without a kernel of its own (RoPE, activations, norm backward...)
  ``"proxy"``: the add kernel's simulated throughput at that size; else the roofline (the method
  used is reported, never hidden).

Trainium times from simulated kernels ("table", "kernel", "proxy") are divided by the chip's
end-to-end ``calibration_scale`` (:mod:`trnsim.devicetime.trainium_scale`), as the GPU curves'
efficiencies are multiplied by theirs; the roofline is never scaled.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import repeat
from typing import Protocol

from trnsim.devicetime import kernel_path
from trnsim.devicetime.analytic import analytic_time_s
from trnsim.devicetime.cache import LatencyCache, default_cache
from trnsim.devicetime.efficiency import (
    EfficiencyCurves,
    clear_loaded_efficiency,
    load_efficiency,
    selective_recompute_reruns,
)
from trnsim.devicetime.fusion import apply_fusion, clear_loaded_fusion, load_fusion
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.devicetime.param_passes import clear_loaded_param_passes, load_param_passes, param_pass_ops
from trnsim.devicetime.rank import RankView
from trnsim.devicetime.roofline import roofline_time_s
from trnsim.devicetime.tables import OpTable, find_table
from trnsim.devicetime.trainium_scale import clear_loaded_trainium_scale, load_trainium_scale
from trnsim.devicetime.whatif_timing import whatif_table, whatif_target_key, whatif_timing
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import ChipFamily, ChipSpec, SystemSpec
from trnsim.hardware.datafile import check_catalog_environment, on_data_change

__all__ = ["DeviceStepTime", "Method", "OpTime", "clear_memo", "time_op", "time_op_detailed",
           "time_ops", "time_runs", "time_step"]


class Method(StrEnum):
    AUTO = "auto"
    ROOFLINE = "roofline"
    ANALYTIC = "analytic"
    TABLE = "table"
    KERNEL = "kernel"
    #: Trainium op without its own kernel, timed like a simulated kernel of the same kind.
    PROXY = "proxy"


@dataclass(frozen=True)
class OpTime:
    """The time of all ``count`` instances of one op, and how it was obtained."""

    op: Op
    seconds: float
    method: Method
    #: The chip's end-to-end calibration scale ``seconds`` was divided by (a Trainium time from a
    #: simulated kernel: "table", "kernel", "proxy"); 1.0 for every other method.
    calibration_scale: float = 1.0


# Members read on every op timed, as module constants: reading ``Method.AUTO`` goes through the enum
# metaclass's ``__getattr__`` hook (a few hundred ns each).
_AUTO, _ROOFLINE, _ANALYTIC, _KERNEL = Method.AUTO, Method.ROOFLINE, Method.ANALYTIC, Method.KERNEL
_TABLE_OR_KERNEL = (Method.TABLE, Method.KERNEL)
_TRAINIUM = ChipFamily.TRAINIUM
#: The methods of simulated Trainium kernels, whose times carry the chip's calibration scale.
_CALIBRATED = frozenset((Method.TABLE, Method.KERNEL, Method.PROXY))


def _rank_of(chip: ChipSpec | SystemSpec, ranks_per_chip: int | None) -> RankView:
    if isinstance(chip, SystemSpec):
        return RankView(chip.chip, ranks_per_chip or chip.ranks_per_chip)
    return RankView.of(chip, ranks_per_chip)


class _RankKeys:
    """A rank view and the chip half of its memo keys, one per dtype (built once per chip)."""

    __slots__ = ("_curves", "_scale", "by_dtype", "contexts", "owner", "rank")

    def __init__(self, owner: object, rank: RankView) -> None:
        self.owner, self.rank = owner, rank
        #: By the dtype's value: memo keys hold enum values, not members, since a member hashes
        #: in Python and a key is hashed for every op timed.
        self.by_dtype: dict[str, tuple[object, ...]] = {}
        #: A token per (method, disk-cache part of the key): what ``Op._timed`` is checked against.
        #: A new _RankKeys (after :func:`clear_memo`) makes new tokens, so no op keeps a stale time.
        self.contexts: dict[tuple[object, ...], object] = {}
        self._curves: EfficiencyCurves | None = None
        self._scale: float | None = None

    def curves(self) -> EfficiencyCurves:
        """The chip's efficiency curves (GPUs, TPUs), found once per rank view: the view is dropped
        with the op memo whenever the data in force changes."""
        if self._curves is None:
            self._curves = load_efficiency(self.rank.chip)
        return self._curves

    def trainium_scale(self) -> float:
        """The Trainium chip's end-to-end calibration scale (trainium_scale.py), found once per view."""
        if self._scale is None:
            self._scale = load_trainium_scale(self.rank.chip).calibration_scale
        return self._scale

    def context(self, method: str, store: tuple[object, ...]) -> object:
        """The token of ops timed on this rank with ``method`` and ``store`` (made once)."""
        key = (method, *store)
        token = self.contexts.get(key)
        if token is None:
            token = self.contexts[key] = object()
        return token

    def key(self, dtype: Dtype) -> tuple[object, ...]:
        key = self.by_dtype.get(dtype._value_)
        if key is None:
            chip = self.rank.chip
            key = (chip.name, chip.family._value_, chip.peak_flops(dtype.value), chip.hbm_bw_bytes_per_s,
                   chip.nc_timing_overrides, self.rank.ranks_per_chip)
            self.by_dtype[dtype._value_] = key
        return key


#: Rank views by the identity of the (immutable, catalog-cached) chip or system object; an entry
#: keeps its object so that a recycled id never returns another chip's view.
_RANKS: dict[tuple[int, int | None], _RankKeys] = {}
_RANKS_LIMIT = 4096


def _rank_keys(chip: ChipSpec | SystemSpec, ranks_per_chip: int | None) -> _RankKeys:
    key = (id(chip), ranks_per_chip)
    hit = _RANKS.get(key)
    if hit is not None and hit.owner is chip:
        return hit
    if len(_RANKS) >= _RANKS_LIMIT:
        _RANKS.clear()
    entry = _RANKS[key] = _RankKeys(chip, _rank_of(chip, ranks_per_chip))
    return entry


def _rank(chip: ChipSpec | SystemSpec, ranks_per_chip: int | None) -> RankView:
    return _rank_keys(chip, ranks_per_chip).rank


def _trainium_kernel_s(op: Op, rank: RankView, exact: bool,
                       cache: LatencyCache | None) -> tuple[float, Method]:
    """Seconds per instance from the cache/simulation (exact) or the table; raises if neither.

    A chip with what-if NeuronCore timing (``nc_timing_overrides``) is simulated with that timing
    and uses tables regenerated with it (:mod:`trnsim.devicetime.whatif_timing`), never the
    shipped ones; its cache entries are keyed by a hash of the overrides.
    """
    call = kernel_path.kernel_call(op)
    target = str(rank.chip.nc_target)
    overrides = rank.chip.nc_timing_overrides
    lnc = rank.chip.neuron_cores // rank.ranks_per_chip if rank.chip.neuron_cores else 1
    if call is None:
        if not exact and op.op_class in _PROXY_CLASSES and "rows" in op.shape:
            return _proxy_s(op, target, lnc, overrides)
        raise kernel_path.KernelPathUnavailable(f"op '{op.name}' has no Trainium kernel")
    version = kernel_path.timing_model_version(target)
    cache_target = whatif_target_key(target, overrides)
    store = cache if cache is not None else default_cache()
    cached = store.get(call.kernel, call.shape, call.dtype, cache_target, version)
    if cached is not None:
        return cached * call.repeats / lnc * 1e-9, Method.KERNEL
    if exact:
        timing = whatif_timing(target, overrides) if overrides else None
        ns = kernel_path.simulate_ns(call, target, timing)
        store.put(call.kernel, call.shape, call.dtype, cache_target, version, ns)
        return ns * call.repeats / lnc * 1e-9, Method.KERNEL
    table = _table(call.kernel, call.dtype, target, overrides)
    if table is None:
        raise kernel_path.KernelPathUnavailable(f"no table for {call.kernel}/{call.dtype}/{target}")
    shape, factor = dict(call.shape), 1.0
    if "seq_k" in shape and "seq_k" not in table.axes:
        # Attention tables are simulated at seq_k = seq_q; more keys (context parallelism) scale
        # the work linearly.
        factor = shape["seq_k"] / shape["seq_q"]
    return table.interpolate_ns(shape) * factor * call.repeats / lnc * 1e-9, Method.TABLE


def _table(kernel: str, dtype: str, target: str, overrides: tuple[tuple[str, float], ...]) -> OpTable | None:
    """The shipped table, or one regenerated with the chip's what-if timing."""
    if overrides:
        return whatif_table(kernel, dtype, target, overrides)
    return find_table(kernel, dtype, target)


#: Memory-bound op classes that, lacking a kernel of their own, are timed like the add kernel.
_PROXY_CLASSES = (OpClass.NORM, OpClass.ELEMENTWISE, OpClass.EMBEDDING, OpClass.LOSS)


def _proxy_s(op: Op, target: str, lnc: int,
             overrides: tuple[tuple[str, float], ...] = ()) -> tuple[float, Method]:
    """A streaming op without a kernel, at the HBM throughput the add kernel reaches at that size.

    The add kernel moves 3 x rows x cols BF16 elements (two reads, one write); the op takes its
    simulated time scaled by the op's own bytes. Closer to the chip model than the roofline,
    which assumes full HBM bandwidth that no simulated streaming kernel reaches.
    """
    table = _table("add", "bfloat16", target, overrides)
    if table is None:
        raise kernel_path.KernelPathUnavailable(f"no add table for {target} to time '{op.name}' by")
    rows, cols = int(op.shape["rows"]), int(op.shape["cols"])
    add_bytes = 3.0 * rows * cols * 2
    scale = (op.bytes_read + op.bytes_written) / add_bytes
    return table.interpolate_ns({"rows": rows, "cols": cols}) * scale / lnc * 1e-9, Method.PROXY


#: Per-instance results of pure computations (roofline, analytic, table), keyed by everything they
#: depend on, so that a planner timing thousands of similar graphs pays for each op shape once.
_MEMO: dict[tuple[object, ...], tuple[float, Method]] = {}
_MEMO_LIMIT = 200_000


@on_data_change  # an overlay or another $TRNSIM_CATALOG changes the efficiency curves behind _MEMO
def clear_memo() -> None:
    """Forget memoised op times (after editing efficiency files or tables in-process)."""
    _MEMO.clear()
    _RANKS.clear()
    _RUNS.clear()
    clear_loaded_efficiency()
    clear_loaded_fusion()
    clear_loaded_param_passes()
    clear_loaded_trainium_scale()


def _method(method: Method | str) -> Method:
    if isinstance(method, Method):
        return method
    try:
        return Method(method)
    except ValueError:
        valid = ", ".join(m.value for m in Method)
        raise ConfigError(f"unknown timing method '{method}'; valid: {valid}") from None


def _store_key(keys: _RankKeys, chosen: Method, cache: LatencyCache | None) -> tuple[object, ...]:
    """The disk cache's part of a memo key: "auto" on Trainium must see kernel results added to it
    later, so it keys on the cache's generation; empty for everything else."""
    if chosen is _AUTO and keys.rank.chip.family is _TRAINIUM:
        store = cache if cache is not None else default_cache()
        return (id(store), store.generation)
    return ()


def _computed(op: Op, keys: _RankKeys, chosen: Method, cache: LatencyCache | None,
              key: tuple[object, ...], count: int | None = None) -> tuple[float, Method]:
    """(seconds of all ``count`` (default ``op.count``) instances, method), memoised per instance
    under ``key``."""
    if count is None:
        count = op.count
    seconds, used = _time_op_uncached(op, keys, chosen, cache, count)
    if chosen is not _KERNEL:  # exact simulations are memoised by the disk cache itself
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = (seconds / count if count else 0.0, used)
    return seconds, used


def time_op_detailed(op: Op, chip: ChipSpec | SystemSpec, method: Method | str = Method.AUTO,
                     ranks_per_chip: int | None = None, cache: LatencyCache | None = None) -> OpTime:
    """Like :func:`time_op`, with the method that produced the figure."""
    check_catalog_environment()
    chosen = _method(method)
    keys = _rank_keys(chip, ranks_per_chip)
    key = (op.timing_key(), keys.key(op.dtype), chosen._value_, *_store_key(keys, chosen, cache))
    hit = _MEMO.get(key)
    if hit is not None:
        seconds, used = hit
        seconds *= op.count
    else:
        seconds, used = _computed(op, keys, chosen, cache, key)
    return OpTime(op, seconds, used, keys.trainium_scale() if used in _CALIBRATED else 1.0)


def time_ops(ops: Sequence[Op], chip: ChipSpec | SystemSpec, method: Method | str = Method.AUTO,
             ranks_per_chip: int | None = None, later: list[float] | None = None) -> list[float]:
    """:func:`time_op` of each op (the same values), with the chip and method resolved once.

    ``later``, when given, receives what a repeated call would return for each op: once an op's
    time is memoised, a call returns its per-instance time times the count, which can differ in
    the last bit from the first computation (a caller keeping times for reuse keeps these).
    """
    check_catalog_environment()
    chosen = _method(method)
    keys = _rank_keys(chip, ranks_per_chip)
    # Only "kernel" adds to the disk cache, and its keys do not include the cache's generation.
    store = _store_key(keys, chosen, None)
    by_dtype = keys.by_dtype
    method = chosen._value_  # as time_op_detailed keys it
    context = keys.context(method, store)
    out: list[float] = []
    for op in ops:
        timed = op._timed
        if timed is not None and timed[0] is context:  # this op, timed here before: no key to hash
            out.append(timed[1])
            if later is not None:
                later.append(timed[1])
            continue
        op_key = op._timing_key or op.timing_key()  # the attribute first: no call once built
        key = (op_key, by_dtype.get(op.dtype._value_) or keys.key(op.dtype), method, *store)
        hit = _MEMO.get(key)
        if hit is not None:
            seconds = hit[0] * op.count
            out.append(seconds)
        else:
            first = _computed(op, keys, chosen, None, key)[0]
            out.append(first)
            if chosen is _KERNEL:  # not memoised (the disk cache holds it): the same again
                if later is not None:
                    later.append(first)
                continue
            # what a memo hit returns from now on (per instance x count: not always this call's value)
            seconds = _MEMO[key][0] * op.count
        op._timed = (context, seconds)  # a cache, not a change of value
        if later is not None:
            later.append(seconds)
    return out


def time_runs(runs: Iterable[tuple[Sequence[Op], int]], chip: ChipSpec | SystemSpec,
              later: list[float] | None = None, check_environment: bool = True) -> list[float]:
    """:func:`time_ops` (method "auto") of the ops of each run ``(ops, times)``, each op counted
    ``op.count * times`` times: the values ``time_ops`` gives a copy of the op with that count (a
    block of layers built from a one-layer template, without building the block).

    ``later`` receives what a repeated call returns, as for :func:`time_ops`.
    ``check_environment`` False: the caller has just checked ``$TRNSIM_CATALOG`` itself
    (:func:`~trnsim.hardware.datafile.check_catalog_environment`; the step model, once per
    evaluation rather than once per stage part).
    """
    if check_environment:
        check_catalog_environment()
    chosen = _AUTO
    keys = _rank_keys(chip, None)
    store = _store_key(keys, chosen, None)
    by_dtype = keys.by_dtype
    method = chosen._value_
    context = keys.context(method, store)
    out: list[float] = []
    for ops, times in runs:
        known_run = _RUNS.get(id(ops))
        if known_run is not None and known_run[0] is ops and known_run[1] is context:
            # every op's per-instance time known here: the same products, in C
            counts = map(operator.mul, known_run[3], repeat(times))
            seconds_run = list(map(operator.mul, known_run[2], counts))
            out += seconds_run
            if later is not None:
                later += seconds_run
            continue
        for op in ops:
            count = op.count * times
            if op._instance_context is context:  # memoised here before: no key to hash
                seconds = op._instance_s * count
                out.append(seconds)
                if later is not None:
                    later.append(seconds)
                continue
            op_key = op._timing_key or op.timing_key()
            key = (op_key, by_dtype.get(op.dtype._value_) or keys.key(op.dtype), method, *store)
            hit = _MEMO.get(key)
            if hit is not None:
                out.append(hit[0] * count)
            else:  # the first time of this shape: the computed time, as time_ops returns it
                # _computed (method "auto" is memoised), inline: this runs once per op shape timed
                seconds, used = _time_op_uncached(op, keys, chosen, None, count)
                if len(_MEMO) >= _MEMO_LIMIT:
                    _MEMO.clear()
                hit = _MEMO[key] = (seconds / count if count else 0.0, used)
                out.append(seconds)
            op._instance_context, op._instance_s = context, hit[0]  # a cache, not a change of value
            if later is not None:
                later.append(hit[0] * count)
        if type(ops) is tuple:  # immutable: its ops' per-instance times and counts, for the next call
            if len(_RUNS) >= _RUNS_LIMIT:
                _RUNS.clear()
            per_instance = [op._instance_s for op in ops if op._instance_context is not None]
            if len(per_instance) == len(ops):
                _RUNS[id(ops)] = (ops, context, per_instance, [op.count for op in ops])
    return out


#: By the identity of a tuple of ops that :func:`time_runs` timed: (the tuple, the context, each
#: op's per-instance time, each op's count). An entry keeps its tuple, so an id is never reused;
#: a new context (after :func:`clear_memo`) makes the entry stale.
_RUNS: dict[int, tuple[tuple[Op, ...], object, list[float], list[int]]] = {}
_RUNS_LIMIT = 65536


def _time_op_uncached(op: Op, keys: _RankKeys, chosen: Method,
                      cache: LatencyCache | None, count: int | None = None) -> tuple[float, Method]:
    """(seconds of all ``count`` (default ``op.count``) instances, the method that gave them)."""
    if count is None:
        count = op.count
    rank = keys.rank
    family = rank.chip.family
    if chosen is _ROOFLINE:
        return roofline_time_s(op, rank) * count, _ROOFLINE
    if family is not _TRAINIUM:
        if chosen in _TABLE_OR_KERNEL:
            raise ConfigError(f"method '{chosen.value}' applies to Trainium only; chip "
                              f"'{rank.chip.name}' uses 'analytic' or 'roofline'")
        seconds = analytic_time_s(op, rank, keys.curves())
        return seconds * count, _ANALYTIC
    if chosen is _ANALYTIC:
        raise ConfigError(f"method 'analytic' applies to GPUs and TPUs; chip '{rank.chip.name}' uses "
                          "'kernel', 'table' or 'roofline'")
    try:
        seconds, used = _trainium_kernel_s(op, rank, exact=chosen is _KERNEL, cache=cache)
        # what the compiler's whole step reaches of the simulated kernels: the chip's end-to-end
        # calibration scale, as the GPU curves' (devicetime/trainium_scale.py)
        return seconds * count / keys.trainium_scale(), used
    except kernel_path.KernelPathUnavailable:
        if chosen is not _AUTO:
            raise
        return roofline_time_s(op, rank) * count, Method.ROOFLINE


def time_op(op: Op, chip: ChipSpec | SystemSpec, method: Method | str = Method.AUTO,
            ranks_per_chip: int | None = None) -> float:
    """Seconds for all ``op.count`` instances of ``op`` on one rank of ``chip``.

    ``ranks_per_chip`` defaults to the system's (or the chip's default LNC): a Trainium op runs
    on one logical NeuronCore, with that share of the chip's peak and bandwidth.
    """
    return time_op_detailed(op, chip, method, ranks_per_chip).seconds


class _HasTotal(Protocol):
    @property
    def total(self) -> int: ...


class _HasOps(Protocol):
    @property
    def ops(self) -> Sequence[Op]: ...

    @property
    def params(self) -> _HasTotal: ...

    @property
    def optimizer_ops(self) -> Sequence[Op]: ...

    @property
    def recompute(self) -> object: ...  # the workload's Recompute (a str enum; devicetime sits below it)

    @property
    def flash_attention(self) -> bool: ...


@dataclass(frozen=True)
class DeviceStepTime:
    """One micro-batch's forward+backward (and the optimizer step) on one rank, by op class."""

    by_class_s: dict[OpClass, float]
    by_phase_s: dict[Phase, float]
    compute_s: float  # forward, recompute and backward of one micro-batch
    optimizer_s: float
    methods: dict[Method, int] = field(default_factory=dict)
    op_times: tuple[OpTime, ...] = ()  # after fusion and overlap
    #: Per op class, one micro-batch: (seconds saved by compiler fusion, hidden under TensorE).
    fusion_s: dict[OpClass, tuple[float, float]] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        """One micro-batch plus one optimizer step (a step with a single micro-batch)."""
        return self.compute_s + self.optimizer_s

    def to_dict(self) -> dict[str, object]:
        return {
            "compute_s": self.compute_s, "optimizer_s": self.optimizer_s, "total_s": self.total_s,
            "by_class_s": {k.value: v for k, v in self.by_class_s.items()},
            "by_phase_s": {k.value: v for k, v in self.by_phase_s.items()},
            "fusion_s": {k.value: {"fused": f, "hidden": h} for k, (f, h) in self.fusion_s.items()},
            "methods": {k.value: v for k, v in self.methods.items()},
            "ops": [{"name": t.op.name, "class": t.op.op_class.value, "phase": t.op.phase.value,
                     "count": t.op.count, "flops": t.op.total_flops, "bytes": t.op.total_bytes,
                     "seconds": t.seconds, "method": t.method.value} for t in self.op_times],
        }


def _sum(times: Iterable[OpTime]) -> float:
    return sum(t.seconds for t in times)


def time_step(graph: _HasOps, chip: ChipSpec | SystemSpec, method: Method | str = Method.AUTO,
              ranks_per_chip: int | None = None, optimizer_ops: Sequence[Op] | None = None) -> DeviceStepTime:
    """Time every op of ``graph`` (a :class:`~trnsim.workload.graph.StepGraph`) on one rank.

    ``optimizer_ops`` replaces the graph's own (e.g. ZeRO-sharded ones from
    ``build_optimizer_ops``).
    """
    alone = tuple(time_op_detailed(op, chip, method, ranks_per_chip) for op in graph.ops)
    # Compiler fusion and cross-engine overlap across neighbouring ops (Trainium; see fusion.py).
    rules = load_fusion(_rank(chip, ranks_per_chip).chip)
    effects = apply_fusion(graph.ops, [t.seconds for t in alone], rules)
    compute = tuple(OpTime(t.op, e.seconds, t.method, t.calibration_scale)
                    for t, e in zip(alone, effects, strict=True))
    # The precision mode's passes over the rank's weights and gradients (param_passes.py), and the
    # flash forwards a framework's selective recomputation runs again (efficiency.py).
    rank_chip = _rank(chip, ranks_per_chip).chip
    passes = param_pass_ops(graph.params.total, load_param_passes(rank_chip))
    if str(graph.recompute) == "selective" and graph.flash_attention:
        passes += selective_recompute_reruns(graph.ops, rank_chip)
    compute += tuple(time_op_detailed(op, chip, method, ranks_per_chip) for op in passes)
    saved: dict[OpClass, tuple[float, float]] = {}
    for t, e in zip(alone, effects, strict=True):
        fused, hidden = saved.get(t.op.op_class, (0.0, 0.0))
        saved[t.op.op_class] = (fused + e.fused_s, hidden + e.hidden_s)
    opt_ops = graph.optimizer_ops if optimizer_ops is None else optimizer_ops
    optimizer = tuple(time_op_detailed(op, chip, method, ranks_per_chip) for op in opt_ops)
    by_class: dict[OpClass, float] = {}
    by_phase: dict[Phase, float] = {}
    methods: dict[Method, int] = {}
    for t in (*compute, *optimizer):
        by_class[t.op.op_class] = by_class.get(t.op.op_class, 0.0) + t.seconds
        by_phase[t.op.phase] = by_phase.get(t.op.phase, 0.0) + t.seconds
        methods[t.method] = methods.get(t.method, 0) + 1
    return DeviceStepTime(by_class, by_phase, _sum(compute), _sum(optimizer), methods, (*compute, *optimizer),
                          saved)
