"""One training step of a parallel plan on a cluster: time, breakdown, throughput, MFU, memory.

How a step is put together:

1. The model is cut into pipeline stages of ``L / pp`` layers (the first stage also holds the
   embedding, the last the output layer); the workload layer builds each stage's op graph for one
   micro-batch on one rank (its TP/SP/CP/EP shard) and ``devicetime`` times the ops.
2. Collectives come from :mod:`traffic` on each group's placement in the topology (rank order
   tp < cp < dp < pp, :mod:`plan`). TP, CP and EP time is added to each micro-batch's forward and
   backward (CP's ring exchange overlaps the attention it feeds; TP overlaps the GEMMs when
   ``overlap_tp_comm``).
3. The slowest stage's per-micro-batch forward and backward drive the pipeline schedule
   (:mod:`pipeline`): ``m`` micro-batches, the bubble, and the stage-to-stage sends.
4. Data-parallel gradient (and ZeRO parameter) traffic follows, overlapped with one micro-batch's
   backward (and the next forward) when ``overlap_dp_comm``; then the optimizer update.

Every evaluation touches each topology level a constant number of times, so its cost does not
grow with the number of ranks; device times and memory are cached per stage shape.
"""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property, partial, reduce
from typing import Any, NamedTuple, NoReturn, TypeVar

from trnsim.cluster.collectives import Collective, collective_time
from trnsim.cluster.goodput import (
    GoodputResult,
    daly_facts,
    daly_goodput,
    estimate_goodput,
    goodput_fraction,
    goodput_upper_bound,
)
from trnsim.cluster.options import CPExchange, GradReduceDtype
from trnsim.cluster.pipeline import Schedule, chunk_layers, held_microbatches, pipeline_timing
from trnsim.cluster.placement import GroupPlacement, place_group
from trnsim.cluster.plan import (
    InfeasiblePlanError,
    InfeasibleReason,
    ParallelPlan,
    default_bucket_params,
    microbatches_of,
)
from trnsim.cluster.topology import TopologySpec, topology_for_system
from trnsim.cluster.traffic import (
    ACTIVATION_BYTES,
    PhaseComm,
    cp_comm,
    dp_comm,
    ep_comm,
    pp_send_s,
    tp_comm,
)
from trnsim.devicetime.efficiency import selective_recompute_reruns
from trnsim.devicetime.fusion import FusionRules, fused_floor, fusion_columns_of_runs, load_fusion
from trnsim.devicetime.ops import Op, OpClass, Phase
from trnsim.devicetime.optimizer_passes import optimizer_pass_ops
from trnsim.devicetime.param_passes import ParamPasses, load_param_passes, param_pass_ops
from trnsim.devicetime.timing import time_ops, time_runs
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import ChipSpec, SystemSpec
from trnsim.hardware.datafile import check_catalog_environment, on_data_change
from trnsim.workload.config import AttentionKind, ModelConfig
from trnsim.workload.flops import hardware_flops, model_flops, model_flops_causal
from trnsim.workload.graph import (
    COLUMN_PARALLEL_GEMMS,
    ParamsOnRank,
    Run,
    StepSkeleton,
    build_optimizer_ops,
    build_skeleton,
    layer_ops,
    params_on_rank,
)
from trnsim.workload.memory import (
    ZERO_STAGES,
    MemoryBreakdown,
    MemoryFacts,
    MemoryParts,
    breakdown_of,
    check_memory_args,
    memory_facts,
    stages_memory_parts,
)
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard

T = TypeVar("T")

__all__ = [
    "BREAKDOWN_KEYS",
    "CHECKPOINT_BYTES_PER_PARAM",
    "COMPUTE_DETAIL_KEYS",
    "StepResult",
    "check_plan",
    "clear_cache",
    "estimate_run_goodput",
    "estimate_step",
    "step_goodput_upper_bound",
    "step_time_floor",
    "step_time_lower_bound",
]

#: Keys of :attr:`StepResult.breakdown`; they sum to the step time.
BREAKDOWN_KEYS = ("compute", "tp_comm", "cp_comm", "ep_comm", "pp_comm", "dp_comm", "pipeline_bubble",
                  "optimizer")


@dataclass(frozen=True)
class StepResult:
    """The estimate of one training step."""

    model: str
    system: str
    ranks: int
    chips: int
    plan: ParallelPlan
    seq_len: int
    precision: Precision
    step_time_s: float
    breakdown: dict[str, float]  # seconds, keys BREAKDOWN_KEYS
    tokens_per_s: float
    mfu: float  # model FLOPs over the full sequence's attention (Megatron/PaLM), as HFU
    hfu: float
    #: MFU with the attention products halved for the causal mask (FlashAttention-2's counting).
    mfu_causal: float
    memory_per_rank_bytes: float
    memory: MemoryBreakdown
    memory_capacity_bytes: float
    fits: bool
    microbatches: int
    bubble_fraction: float
    #: Expected fraction of wall time spent training in a long run (failures, Daly-optimal checkpoints).
    goodput: float
    groups: dict[str, str] = field(default_factory=dict)  # where each parallel group sits
    #: Algorithm chosen for each group's main collective (TP all-reduce or all-gather, DP gradient
    #: reduction, CP/EP/PP point-to-point and all-to-all), "" for a group of one rank.
    algorithms: dict[str, str] = field(default_factory=dict)
    #: Peak memory of the first and of the last pipeline stage (they differ: in-flight micro-batches,
    #: embedding, output layer).
    stage_memory_bytes: dict[str, float] = field(default_factory=dict)
    #: The slowest stage's compute per op class over the step (all micro-batches), in seconds, keys
    #: COMPUTE_DETAIL_KEYS: the effect of compiler fusion and cross-engine overlap (Trainium).
    compute_by_class: dict[str, dict[str, float]] = field(default_factory=dict)
    #: The slowest stage's CP ring transfer time hidden behind attention over the step (all
    #: micro-batches; not in the breakdown, whose ``cp_comm`` is the exposed rest; 0 without a ring).
    cp_comm_hidden_s: float = 0.0

    def __getattr__(self, name: str) -> Any:
        """A field :func:`estimate_step` left to be made when first read (``compute_by_class``,
        ``algorithms``, ``groups``: a search makes thousands of results and shows a few), then kept."""
        values = self.__dict__
        lazy: _LazyFields | None = values.get("_lazy")
        if lazy is None or name not in _LAZY_FIELDS:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        value = values[name] = lazy.make(name)
        if all(field in values for field in _LAZY_FIELDS):
            del values["_lazy"]  # every field made: the result holds its fields and nothing else
        return value

    def __getstate__(self) -> dict[str, Any]:
        """Every field, the lazy ones made (a pickle carries values, not what makes them)."""
        for name in _LAZY_FIELDS:
            getattr(self, name)
        return dict(self.__dict__)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the keys of ``trnsim estimate --json``)."""
        return {
            "model": self.model,
            "system": self.system,
            "ranks": self.ranks,
            "chips": self.chips,
            "plan": self.plan.model_dump(mode="json"),
            "seq_len": self.seq_len,
            "precision": str(self.precision),
            "step_time_s": self.step_time_s,
            "breakdown_s": dict(self.breakdown),
            "tokens_per_s": self.tokens_per_s,
            "mfu": self.mfu,
            "hfu": self.hfu,
            "mfu_causal": self.mfu_causal,
            "memory_per_rank_bytes": self.memory_per_rank_bytes,
            "memory_breakdown_bytes": asdict(self.memory),
            "memory_capacity_bytes": self.memory_capacity_bytes,
            "fits": self.fits,
            "microbatches": self.microbatches,
            "bubble_fraction": self.bubble_fraction,
            "goodput": self.goodput,
            "groups": dict(self.groups),
            "algorithms": dict(self.algorithms),
            "stage_memory_bytes": dict(self.stage_memory_bytes),
            "compute_by_class_s": {k: dict(v) for k, v in self.compute_by_class.items()},
            "cp_comm_hidden_s": self.cp_comm_hidden_s,
        }


#: :class:`StepResult`'s fields made when first read (:class:`_LazyFields`).
_LAZY_FIELDS = ("compute_by_class", "algorithms", "groups")


class _LazyFields:
    """What :class:`StepResult`'s lazy fields are made from: the slowest stage's per-class rows and
    the micro-batches (``compute_by_class``), the plan's groups and what their algorithms read
    (``algorithms``, ``groups``). Each is a pure function of these immutable inputs, so a field made
    late is the field an eager result would hold."""

    __slots__ = ("class_rows", "dense_params", "groups", "microbatches", "model", "plan", "seq_len")

    def __init__(self, class_rows: Callable[[], dict[str, dict[str, float]]], microbatches: int,
                 model: ModelConfig, plan: _Plan, groups: _Groups, seq_len: int, dense_params: int) -> None:
        self.class_rows, self.microbatches, self.model, self.plan = class_rows, microbatches, model, plan
        self.groups, self.seq_len, self.dense_params = groups, seq_len, dense_params

    def make(self, name: str) -> Any:
        if name == "compute_by_class":
            m = self.microbatches
            # m * each value of each row (every row has COMPUTE_DETAIL_KEYS, in order)
            return {cls: {"alone": m * row["alone"], "fused": m * row["fused"], "hidden": m * row["hidden"],
                          "step": m * row["step"]} for cls, row in self.class_rows().items()}
        if name == "algorithms":
            return _algorithms(self.model, self.plan, self.groups, self.seq_len, self.dense_params)
        return dict(self.groups.described)


class _StageTime(NamedTuple):
    """Device time of one micro-batch on one stage (seconds) and its hardware FLOPs (a tuple:
    made by the thousand in a search, and a frozen dataclass sets its fields one call each)."""

    fwd_s: float
    bwd_s: float  # backward plus recompute
    matmul_fwd_s: float
    matmul_bwd_s: float
    attention_fwd_s: float
    attention_bwd_s: float
    dense_params: int  # parameters on this stage's rank, replicated over DP
    expert_params: int  # replicated over expert-DP
    layers: int
    moe_layers: int
    colpar_dgrad_s: float  # input-gradient GEMMs of the column-parallel layers (backward)
    colpar_wgrad_s: float  # their weight-gradient GEMMs
    #: Per op class, one micro-batch: seconds timed alone, saved by fusion, hidden by overlap, in step.
    #: A call, made once (then remembered): an evaluation reads the rows of its slowest stage only, so
    #: the other stages' graphs skip half their sums (each class's) and the rows' dicts.
    class_rows: Callable[[], dict[str, dict[str, float]]]


#: Keys of :attr:`StepResult.compute_by_class` rows: op time alone, saved by compiler fusion, hidden
#: under a neighbouring GEMM (cross-engine overlap), and what the step pays (alone - fused - hidden).
COMPUTE_DETAIL_KEYS = ("alone", "fused", "hidden", "step")


#: Results keyed by the identity of the (immutable, catalog-cached) model and system objects, of the
#: stage shards and group placements the step makes once, plus hashable shapes: hashing a whole
#: model or system (or a dataclass, in Python) on every evaluation would cost more than the
#: evaluation. An equal object that is another one misses and recomputes the same result. An entry
#: keeps its objects so that a recycled id can never return a stale result.
_CACHE: dict[tuple[Any, ...], tuple[tuple[object, ...], Any]] = {}
_CACHE_LIMIT = 200_000


@on_data_change  # an overlay or another $TRNSIM_CATALOG changes what the cached results rest on
def clear_cache() -> None:
    """Forget cached stage times (after changing efficiency files in-process, e.g. a scale refit)."""
    _CACHE.clear()
    _TAGS.clear()
    _TAGS_BY_OPS.clear()
    _LAST_RULES[0] = None
    _LAST_TALLY[0] = None
    _CHECKED.clear()


def _by_identity(key: tuple[Any, ...], objects: tuple[object, ...], compute: Callable[[], T]) -> T:
    """``compute()``, cached under ``key``: a kind (a string), the ids of ``objects`` in order,
    then hashable values (a tuple display at the call: no unpacking per lookup)."""
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == objects:  # == on tuples tries identity first: cheap on a hit
        value: T = hit[1]  # the entry's Any, typed without a call to typing.cast
        return value
    if len(_CACHE) > _CACHE_LIMIT:
        _CACHE.clear()
    value = compute()
    _CACHE[key] = (objects, value)
    return value


#: Members read per evaluation, as module constants (each ``Schedule.X`` read goes through the enum
#: metaclass's ``__getattr__`` hook, some 150 ns).
_GPIPE, _ONE_F_ONE_B, _INTERLEAVED = Schedule.GPIPE, Schedule.ONE_F_ONE_B, Schedule.INTERLEAVED
_SELECTIVE = Recompute.SELECTIVE
_STANDARD_ATTENTION = AttentionKind.STANDARD

_COLPAR_DGRAD = frozenset(f"{name}.dgrad" for name in COLUMN_PARALLEL_GEMMS)
_COLPAR_WGRAD = frozenset(f"{name}.wgrad" for name in COLUMN_PARALLEL_GEMMS)


#: Op classes by slot: a graph's per-class rows are a list indexed by slot, not a dict.
_CLASSES = tuple(OpClass)
_SLOT = {cls._value_: slot for slot, cls in enumerate(_CLASSES)}
_ATTENTION_SLOT = _SLOT[OpClass.ATTENTION.value]
_KIND = {OpClass.MATMUL.value: 1, OpClass.ATTENTION.value: 2}
#: An op's tag: (forward?, class slot, 1 GEMM / 2 attention / 0 other, 1 column-parallel input
#: gradient / 2 its weight gradient / 0 other).
_Tag = tuple[bool, int, int, int]


class _PartTags(NamedTuple):
    """What the step's sums read of each op of a graph part, once per part (parts are shared; the
    same for an op and its recounted copies)."""

    tags: tuple[_Tag, ...]
    #: (sum, positions of the ops it adds in op order) for each sum with ops in the part: the
    #: step's sums (_SUMS: forward, backward, forward and backward GEMMs, forward and backward
    #: attention, column-parallel input and weight gradients), then one per class slot
    #: (len(_SUMS) + slot).
    sums: tuple[tuple[int, tuple[int, ...]], ...]
    #: The class slots of the part's ops, in order of first appearance.
    slots: tuple[int, ...]
    #: Where the class slots' entries start in ``sums``.
    first_slot: int
    #: ``sums`` before ``first_slot`` (the step's sums), and after it with each sum as its class slot,
    #: each with a getter of its terms from the part's times (an ``itemgetter`` picks them in C, where
    #: ``map(times.__getitem__, positions)`` calls a method per term)
    step_sums: tuple[tuple[int, Callable[[list[float]], Sequence[float]]], ...]
    slot_sums: tuple[tuple[int, Callable[[list[float]], Sequence[float]]], ...]


#: The step's sums over a graph's ops, by (forward?, 1 GEMM / 2 attention / 0, colpar) of a tag.
_SUMS = ("fwd", "bwd", "matmul_fwd", "matmul_bwd", "attention_fwd", "attention_bwd", "dgrad", "wgrad")
_TERMS = len(_SUMS) + len(_CLASSES)


def _tags(part: tuple[Run, ...]) -> _PartTags:
    """The part's tags; for a part of one run, its ops' (cached by the identity of the ops' tuple: a
    layer template's ops run in the blocks of every pipeline depth)."""
    if len(part) != 1:
        return _tags_of([op for ops, _ in part for op in ops])
    ops = part[0][0]
    hit = _TAGS.get(id(ops))
    if hit is not None and hit[0] is ops:
        return hit[1]
    if len(_TAGS) >= _PLACE_LIMIT:
        _TAGS.clear()
    tags = _tags_of(ops)
    _TAGS[id(ops)] = (ops, tags)
    return tags


#: _tags of a tuple of ops, by its identity (an entry keeps the tuple): names and classes, not data.
_TAGS: dict[int, tuple[tuple[Op, ...], _PartTags]] = {}
#: _tags_of by what it reads of each op (name, class, phase): the layer templates of every shape
#: (TP degree, micro-batch) list the same ops, so they share their tags.
_TAGS_BY_OPS: dict[tuple[tuple[str, str, str], ...], _PartTags] = {}


def _tags_of(ops: Sequence[Op]) -> _PartTags:
    key = tuple([(op.name, op.op_class._value_, op.phase._value_) for op in ops])
    tags = _TAGS_BY_OPS.get(key)
    if tags is None:
        if len(_TAGS_BY_OPS) >= _PLACE_LIMIT:
            _TAGS_BY_OPS.clear()
        tags = _TAGS_BY_OPS[key] = _tags_of_ops(ops)
    return tags


def _tags_of_ops(ops: Sequence[Op]) -> _PartTags:
    fwd = _FWD
    tags = tuple([(op.phase is fwd, _SLOT[op.op_class._value_], _KIND.get(op.op_class._value_, 0),
                   1 if op.name in _COLPAR_DGRAD else 2 if op.name in _COLPAR_WGRAD else 0) for op in ops])
    sums: dict[int, list[int]] = {}  # only the sums the part has ops in
    slots: dict[int, None] = {}
    for i, (forward, slot, kind, colpar) in enumerate(tags):
        n = 0 if forward else 1
        sums.setdefault(n, []).append(i)
        if kind:  # GEMMs 2, 3; attention 4, 5
            sums.setdefault(2 * kind + n, []).append(i)
        if colpar:
            sums.setdefault(5 + colpar, []).append(i)
        sums.setdefault(_STEP_SUMS + slot, []).append(i)
        slots[slot] = None
    entries = tuple([(n, tuple(sums[n])) for n in sorted(sums)])  # by sum, as a scan of every sum finds them
    first_slot = len([n for n in sums if n < _STEP_SUMS])
    return _PartTags(tags, entries, tuple(slots), first_slot,
                     tuple([(n, _terms_getter(at)) for n, at in entries[:first_slot]]),
                     tuple([(n - _STEP_SUMS, _terms_getter(at)) for n, at in entries[first_slot:]]))


#: Members and sizes read per op above, as module constants (``Phase.FWD`` goes through the enum
#: metaclass's ``__getattr__`` hook).
_FWD = Phase.FWD
_STEP_SUMS = len(_SUMS)


def _terms_getter(positions: tuple[int, ...]) -> Callable[[list[float]], Sequence[float]]:
    """A getter of the terms at ``positions`` (in order) of a list, always as a sequence (an
    ``itemgetter`` of one index returns the item itself: a slice of one instead)."""
    if len(positions) == 1:
        return operator.itemgetter(slice(positions[0], positions[0] + 1))
    return operator.itemgetter(*positions)


def _ordered_sums(graph: StepSkeleton, system: SystemSpec, reruns: bool,
                  fusion: Callable[[list[float]], tuple[list[float], list[float]]] | None
                  ) -> tuple[list[float], Callable[[], dict[str, dict[str, float]]]]:
    """The step's sums (_SUMS) and per-class rows (COMPUTE_DETAIL_KEYS) of a stage graph, each added
    in op order from 0.0 as one running total per sum would add them (``reduce`` adds left to
    right; ``sum`` of floats may compensate). ``fusion`` maps the ops' times alone to what fusion
    saves and overlap hides of each (chips with fusion rules); without it every op keeps its time
    alone.

    Each sum is one running total carried from part to part over the part's ops it adds
    (:attr:`_PartTags.sums`): the very additions in the very order of a total over the whole graph.
    The per-class rows are added when first asked (most stage graphs are not the slowest stage's,
    whose rows a step reports).
    """
    if fusion is None:
        return _unfused_sums(graph, system, reruns)
    add = operator.add
    timed = [_part_times(part, system, reruns) for part in graph.parts]
    alone = [t for times, _, _, _ in timed for t in times]
    fused, hidden = fusion(alone)
    steps = [a - f - h for a, f, h in zip(alone, fused, hidden, strict=True)]  # OpEffect.seconds, inline
    totals = [0.0] * len(_SUMS)
    rerun_s: list[float] = []
    at = 0
    for part in timed:
        end = at + len(part.times)
        values = steps[at:end]
        for n, terms in part.tags.step_sums:  # reduce(add, these terms, total): the loop in C
            totals[n] = reduce(add, terms(values), totals[n])
        if part.reruns:
            rerun_s += part.reruns
        at = end
    if rerun_s:  # backward time (and, in the rows, the attention row's, after every op of the graph)
        totals[1] = reduce(add, rerun_s, totals[1])
    return totals, _Once(_fused_rows, timed, (steps, alone, fused, hidden), rerun_s)


def _fused_rows(timed: list[_PartTimes], columns: tuple[list[float], ...],
                rerun_s: list[float]) -> dict[str, dict[str, float]]:
    """:func:`_ordered_sums`'s per-class rows with fusion: each class slot's step, alone, fused and
    hidden seconds (``columns``, over the graph's ops), added in op order from 0.0, and the reruns
    after every op in the attention row (alone and in step)."""
    add = operator.add
    rows: list[list[list[float]]] = [[[] for _ in _CLASSES] for _ in columns]  # by column, by slot
    order: list[int] = []  # class slots as they appear
    at = 0
    for _, _, tags, _ in timed:
        end = at + len(tags.tags)
        parts = [column[at:end] for column in columns]
        for n, positions in tags.sums[tags.first_slot:]:
            slot = n - len(_SUMS)
            for row, values in zip(rows, parts, strict=True):
                row[slot].extend(map(values.__getitem__, positions))
        order += tags.slots
        at = end
    if rerun_s:
        rows[0][_ATTENTION_SLOT] += rerun_s
        rows[1][_ATTENTION_SLOT] += rerun_s
        order.append(_ATTENTION_SLOT)
    by_class = {}
    for slot in dict.fromkeys(order):  # in order of first appearance
        step_s, alone_s, fused_s, hidden_s = (reduce(add, row[slot], 0.0) for row in rows)
        by_class[_CLASSES[slot]._value_] = {"alone": alone_s, "fused": fused_s, "hidden": hidden_s,
                                            "step": step_s}
    return by_class


def _unfused_sums(graph: StepSkeleton, system: SystemSpec, reruns: bool
                  ) -> tuple[list[float], Callable[[], dict[str, dict[str, float]]]]:
    """:func:`_ordered_sums` without fusion rules (every op keeps its time alone): each sum is one
    running total carried from part to part over the part's ops it adds (:attr:`_PartTags.sums`),
    the very additions in the very order of a total over the whole graph; sums a part has no op of
    are not visited. The per-class rows are added when first asked (:func:`_unfused_rows`), from
    the same times."""
    add = operator.add
    totals = [0.0] * len(_SUMS)
    timed = [_part_times(part, system, reruns) for part in graph.parts]
    rerun_s: list[float] = []
    for part in timed:
        for n, terms in part.step_terms:  # reduce(add, these terms, total): the loop in C
            totals[n] = reduce(add, terms, totals[n])
        if part.reruns:
            rerun_s += part.reruns
    if rerun_s:  # backward time (and, in the rows, the attention row's, after every op of the graph)
        totals[1] = reduce(add, rerun_s, totals[1])
    return totals, _Once(_unfused_rows, timed, rerun_s)


class _Once:
    """``make(*args)``, made on the first call and then remembered (``functools.cache`` costs more to
    set up, and most stage graphs are never asked; the arguments kept here, not in a ``partial``)."""

    __slots__ = ("_args", "_made", "_make")

    def __init__(self, make: Callable[..., dict[str, dict[str, float]]], *args: Any) -> None:
        self._make = make
        self._args = args
        self._made: dict[str, dict[str, float]] | None = None

    def __call__(self) -> dict[str, dict[str, float]]:
        made = self._made
        if made is None:
            made = self._made = self._make(*self._args)
            self._args = ()  # what it was made from is no longer needed
        return made


def _unfused_rows(timed: list[_PartTimes], rerun_s: list[float]) -> dict[str, dict[str, float]]:
    """:func:`_unfused_sums`'s per-class rows: each class slot's running total over the parts."""
    add = operator.add
    totals = [0.0] * len(_CLASSES)
    order: list[int] = []  # class slots as they appear
    for times, _, tags, _ in timed:
        for slot, terms in tags.slot_sums:
            totals[slot] = reduce(add, terms(times), totals[slot])
        order += tags.slots
    if rerun_s:
        totals[_ATTENTION_SLOT] = reduce(add, rerun_s, totals[_ATTENTION_SLOT])
        order.append(_ATTENTION_SLOT)
    by_class = {}
    for slot in dict.fromkeys(order):  # in order of first appearance; alone = step, nothing fused or hidden
        step_s = totals[slot]
        by_class[_CLASSES[slot]._value_] = {"alone": step_s, "fused": 0.0, "hidden": 0.0, "step": step_s}
    return by_class


def _fused(runs: tuple[Run, ...], rules: FusionRules, alone: list[float]) -> tuple[list[float], list[float]]:
    """fusion_columns (apply_fusion's saved and hidden seconds) of the runs' ops, with the arguments
    in the order ``partial`` binds them."""
    return fusion_columns_of_runs(runs, alone, rules)


def _graph_time(model: ModelConfig, shard: Shard, micro_batch: int, seq_len: int, precision: Precision,
                recompute: Recompute, flash: bool, system: SystemSpec) -> _StageTime:
    """Fused device time of one micro-batch's step graph, per phase and op class (cached: plans that
    differ in DP, ZeRO or global batch share it)."""
    def compute() -> _StageTime:
        # the graph's parts as runs of shared templates: no op is built per stage
        graph = build_skeleton(model, shard, micro_batch, seq_len, precision, recompute, flash)
        # A framework that checkpoints the attention core under selective recomputation runs the
        # flash kernel's forward again in the backward pass (GPU curves' [recompute]: Megatron-core);
        # backward time, but not a window for the CP ring (the rerun carries its own ring).
        reruns = recompute is _SELECTIVE and flash
        rules = _chip_rules(system.chip)[0]
        # Without fusion rules (GPUs, TPUs) every op keeps its time alone: nothing fused or hidden.
        # Fusion reads each op's neighbours: the graph's runs in order (what the graph's ops are,
        # recounted), whose plan every block of layers of this shape shares.
        fusion = None if rules is None else partial(
            _fused, tuple([run for part in graph.parts for run in part]), rules)
        sums, class_rows = _ordered_sums(graph, system, reruns, fusion)
        fwd_s, bwd_s, mm_fwd, mm_bwd, att_fwd, att_bwd, dgrad_s, wgrad_s = sums
        params = graph.params
        # _StageTime's fields by position (keywords cost more; one per stage graph of a cold plan)
        return _StageTime(fwd_s, bwd_s, mm_fwd, mm_bwd, att_fwd, att_bwd, params.dense, params.expert,
                          graph.dense_layers + graph.moe_layers, graph.moe_layers, dgrad_s, wgrad_s,
                          class_rows)

    # The time depends on the system only through its chip and the ranks sharing one (systems built
    # on the same chip share it).
    chip = system.chip
    return _by_identity(("graph", id(model), id(chip), id(shard), system.ranks_per_chip, micro_batch, seq_len,
                         precision, recompute, flash), (model, chip, shard), compute)


class _PartTimes(NamedTuple):
    """What a stage graph's sums read of one of its parts on one chip."""

    times: list[float]  # each op's seconds, in op order
    reruns: list[float]  # the flash forwards selective recomputation runs again
    tags: _PartTags
    #: (sum, its terms in op order) of each of the step's sums with ops in the part
    #: (:attr:`_PartTags.step_sums` of ``times``): picked once per part, not once per stage graph
    #: holding it (the block of layers is in the first, middle and last stages' graphs).
    step_terms: tuple[tuple[int, Sequence[float]], ...]


def _part(times: list[float], reruns: list[float], tags: _PartTags) -> _PartTimes:
    return _PartTimes(times, reruns, tags, tuple([(n, terms(times)) for n, terms in tags.step_sums]))


def _part_times(part: tuple[Run, ...], system: SystemSpec, reruns: bool) -> _PartTimes:
    """:func:`time_runs` of a step skeleton's part, and of the flash forwards selective
    recomputation runs again in it (``reruns``), on ``system``'s chip; and the part's :func:`_tags`.

    The skeletons of every stage with the same per-rank shapes share their parts (the layers, the
    embedding, the output layer): a part is timed once, and what ``time_runs`` would return for it
    from then on is kept for the next graph (``time_runs``'s ``later``: it may differ in the last bit
    from this first call, as a memo hit is the per-instance time times the count).
    """
    chip = system.chip
    key = ("part", id(part), id(chip), system.ranks_per_chip, reruns)
    hit = _CACHE.get(key)
    if hit is not None and hit[0][0] is part and hit[0][1] is chip:
        known: _PartTimes = hit[1]
        return known
    rerun_runs = tuple((rerun, times) for ops, times in part
                       if (rerun := selective_recompute_reruns(ops, chip))) if reruns else ()
    later: tuple[list[float], list[float]] = ([], [])
    tags = _tags(part)
    # $TRNSIM_CATALOG was checked where the evaluation began (estimate_step, the bounds)
    times = time_runs(part, system, later[0], False)
    rerun_s = time_runs(rerun_runs, system, later[1], False) if rerun_runs else []
    kept = _part(*later, tags)
    # the first call's times differ from later ones' only where an op was timed for the first time
    first = kept if times == later[0] and rerun_s == later[1] else _part(times, rerun_s, tags)
    if len(_CACHE) > _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = ((part, chip), kept)
    return first


def _chip_rules(chip: ChipSpec) -> tuple[FusionRules | None, ParamPasses | None]:
    """The chip family's fusion rules and precision mode: found once per chip, not per stage graph
    (the step caches are emptied whenever the data in force changes); the last chip's first
    (asked several times per evaluation)."""
    last = _LAST_RULES[0]
    if last is not None and last[0] is chip:
        return last[1]
    rules = _by_identity(("chip", id(chip)), (chip,), lambda: (load_fusion(chip), load_param_passes(chip)))
    _LAST_RULES[0] = (chip, rules)
    return rules


#: The last chip :func:`_chip_rules` was asked for and its rules (emptied with the step caches).
_LAST_RULES: list[tuple[ChipSpec, tuple[FusionRules | None, ParamPasses | None]] | None] = [None]


def _param_passes(params: int, system: SystemSpec) -> tuple[tuple[bool, float], ...]:
    """(forward?, seconds) of each pass the precision mode makes over ``params`` weights (cached)."""
    rules = _chip_rules(system.chip)[1]
    if rules is None:  # no precision mode: no passes (param_pass_ops makes none)
        return ()

    def compute() -> tuple[tuple[bool, float], ...]:
        passes = param_pass_ops(params, rules)
        return tuple((op.phase is Phase.FWD, seconds)
                     for op, seconds in zip(passes, time_ops(passes, system), strict=True))

    return _by_identity(("passes", id(system.chip), system.ranks_per_chip, params), (system.chip,), compute)


def _sharded_passes(plan: _Plan, system: SystemSpec) -> bool:
    """Whether a stage's time depends on DP through ZeRO-3's weight passes over this rank's shard:
    only where the chip's precision mode makes passes (Trainium). Elsewhere a ZeRO-3 stage times
    as any other, so scaling points and ZeRO stages share it (a comparison's searches)."""
    return plan.effective_zero_stage == 3 and _chip_rules(system.chip)[1] is not None


def _stage_time(model: ModelConfig, shard: Shard, micro_batch: int, seq_len: int, precision: Precision,
                plan: _Plan, system: SystemSpec) -> _StageTime:
    graph = _graph_time(model, shard, micro_batch, seq_len, precision, plan.recompute, plan.flash_attention,
                        system)
    if _chip_rules(system.chip)[1] is None:  # no precision-mode passes: the stage's time is its graph's
        return graph

    def compute() -> _StageTime:
        fwd, bwd = graph.fwd_s, graph.bwd_s
        class_rows = graph.class_rows  # read-only: shared with every stage of this graph
        # Passes over the rank's weights and gradients that the precision mode adds (Trainium:
        # autocast's weight casts and FP32 gradient accumulation), outside the fusion rules.
        # ZeRO-3 casts and accumulates only this rank's shard (gathered and reduce-scattered in
        # BF16/FP32 every micro-batch, as dp_comm charges); lower stages hold every parameter.
        passes = _param_passes(_passed_params(graph.dense_params, graph.expert_params, plan), system)
        if passes:
            for forward, seconds in passes:
                if forward:
                    fwd += seconds
                else:
                    bwd += seconds
            class_rows = _Once(_with_passes, class_rows, passes)
        return graph._replace(fwd_s=fwd, bwd_s=bwd, class_rows=class_rows)

    zero3 = _sharded_passes(plan, system)
    rest = (system.ranks_per_chip, micro_batch, seq_len, precision, plan.recompute,
            plan.flash_attention, zero3, plan.dp if zero3 else 1, plan.cp if zero3 else 1,
            plan.ep if zero3 else 1)
    # As its graph time and weight passes, it reads the system only through its chip and the ranks
    # sharing one (trn2 and trn2-ultraserver share it).
    return _by_identity(("stage", id(model), id(system.chip), id(shard), *rest), (model, system.chip, shard),
                        compute)


def _with_passes(class_rows: Callable[[], dict[str, dict[str, float]]],
                 passes: tuple[tuple[bool, float], ...]) -> dict[str, dict[str, float]]:
    """A graph's per-class rows and a row of the precision mode's weight passes (a new dict)."""
    by_class = dict(class_rows())
    row = by_class["param_passes"] = dict.fromkeys(COMPUTE_DETAIL_KEYS, 0.0)
    for _, seconds in passes:
        row["alone"] += seconds
        row["step"] += seconds
    return by_class


def _passed_params(dense: int, expert: int, plan: _Plan) -> int:
    """The parameters the precision mode's weight passes go over on a rank holding ``dense`` and
    ``expert`` of them: all, or ZeRO-3's shard of each."""
    if plan.effective_zero_stage == 3:
        expert_shards = max(1, plan.dp * plan.cp // plan.ep)
        return math.ceil(dense / (plan.dp * plan.cp)) + math.ceil(expert / expert_shards)
    return dense + expert


def _optimizer_s(dense_params: int, expert_params: int, plan: _Plan, system: SystemSpec) -> float:
    """The optimizer update of the rank's parameters, sharded over DP x CP from ZeRO-1 (cached by
    what it reads: the parameter counts, the shards and the chip)."""
    zero = plan.effective_zero_stage
    shards = plan.dp * plan.cp if zero >= 1 else 1
    expert_shards = max(1, plan.dp * plan.cp // plan.ep) if zero >= 1 else 1

    def compute() -> float:
        ops = build_optimizer_ops(ParamsOnRank(dense_params, expert_params), shards, expert_shards)
        # The framework's passes beyond the update (GPU curves' [optimizer]): over the gradient
        # buffer of every parameter the rank holds (ZeRO-2 and 3 shard that too) and over the shard.
        shard = math.ceil(dense_params / shards) + math.ceil(expert_params / expert_shards)
        held = shard if zero >= 2 else dense_params + expert_params
        return sum(time_ops((*ops, *optimizer_pass_ops(system.chip, held, shard)), system))

    chip = system.chip
    return _by_identity(("optimizer", id(chip), system.ranks_per_chip, dense_params, expert_params, shards,
                         expert_shards, zero >= 2), (chip,), compute)


def _stage_facts(model: ModelConfig, shards: tuple[tuple[str, int, Shard], ...], micro_batch: int,
                 seq_len: int, precision: Precision, recompute: Recompute, flash: bool,
                 passes: ParamPasses | None) -> tuple[MemoryFacts, ...]:
    """:func:`memory_facts` of each distinct stage's shard (:func:`_stage_shards`), cached: every DP
    size, ZeRO stage and pipeline schedule of the stages shares them (FP32 gradient accumulation,
    as the step counts)."""
    return _by_identity(("memory_facts", id(shards), id(passes), micro_batch, seq_len, precision, recompute,
                         flash), (shards, passes),
                        lambda: tuple([memory_facts(model, shard, micro_batch, seq_len, precision, recompute,
                                                    flash, True, passes) for _, _, shard in shards]))


def _flops_per_token(model: ModelConfig, seq_len: int, recompute: Recompute,
                     flash: bool) -> tuple[float, float, float]:
    """(model, hardware, causal-counted model) FLOPs per token: linear in the tokens, so computed once."""
    return _by_identity(("flops", id(model), seq_len, recompute, flash), (model,), lambda: (
        model_flops(model, 1.0, seq_len), hardware_flops(model, 1.0, seq_len, recompute, flash),
        model_flops_causal(model, 1.0, seq_len)))


def stage_layers(num_layers: int, pp: int, first: int | None = None, last: int | None = None) -> list[int]:
    """Transformer layers per pipeline stage.

    ``first`` / ``last`` fix the first and last stages' layers (Megatron-LM's
    ``--decoder-first-pipeline-num-layers`` / ``--decoder-last-pipeline-num-layers``); the other
    stages share the rest. Without them: even when ``pp`` divides the layers; otherwise the middle
    stages take one layer more and the first and last stages (which also hold the embedding and the
    output layer) one fewer, as in Llama 3 405B's 126 layers on 16 stages (Meta, 2024). Middle
    stages that cannot split evenly differ by one layer, the earlier ones taking more.
    """
    if first is None and last is None:
        base, extra = divmod(num_layers, pp)
        counts = [base] * pp
        order = [*range(1, pp - 1), 0, pp - 1] if pp > 2 else list(range(pp))
        for stage in order[:extra]:
            counts[stage] += 1
        return counts
    fixed = [s for s in (first, last) if s is not None]
    free = pp - len(fixed)
    rest = num_layers - sum(fixed)
    if pp < 2 or rest < free or (free == 0 and rest != 0) or min(fixed) < 1:
        raise ConfigError(
            f"first/last stage layers {first}/{last} leave {rest} of the {num_layers} layers for "
            f"{free} other stage(s) of {pp}; each stage needs at least one layer and all layers a stage")
    base, extra = divmod(rest, free) if free else (0, 0)
    middle = [base + (1 if i < extra else 0) for i in range(free)]
    head = [first] if first is not None else [middle.pop(0)]
    tail = [last] if last is not None else [middle.pop()]
    return head + middle + tail


def _stage_extremes(num_layers: int, pp: int, first: int | None, last: int | None) -> tuple[int, int]:
    """(the fewest layers of a stage, the first stage's layers) of :func:`stage_layers`, kept by its
    arguments: every plan check reads them, and the list costs a pass over the ``pp`` stages (a
    search checks tens of thousands of plans over a few depths). Arguments it rejects raise, each time."""
    key = (num_layers, pp, first, last)
    hit = _EXTREMES.get(key)
    if hit is None:
        counts = stage_layers(num_layers, pp, first, last)
        if len(_EXTREMES) >= _PLACE_LIMIT:
            _EXTREMES.clear()
        hit = _EXTREMES[key] = (min(counts), counts[0])
    return hit


#: :func:`_stage_extremes` by its arguments (plain integers: what it keeps never goes stale).
_EXTREMES: dict[tuple[int, int, int | None, int | None], tuple[int, int]] = {}


def plan_first_last(model: ModelConfig, plan: _Plan) -> tuple[int | None, int | None]:
    """The first and last stages' layers the plan asks for: its own, or with
    ``account_for_embedding_loss`` one layer fewer than the ``(L + 2) / pp`` slots of a stage (the
    embedding and the loss each fill a slot; the middle stages hold whole slots of layers)."""
    if not plan.account_for_embedding_loss:
        return plan.first_stage_layers, plan.last_stage_layers
    per_stage = (model.num_layers + 2) // (plan.pp * plan.interleave) * plan.interleave
    return per_stage - 1, per_stage - 1


def stage_chunks(model: ModelConfig, plan: _Plan, stage: int, layers: int) -> list[int]:
    """Layers of each model chunk of stage ``stage`` (``layers`` in all; :func:`chunk_layers`)."""
    account = plan.account_for_embedding_loss
    return chunk_layers(layers, plan.interleave, embedding=account and stage == 0,
                        loss=account and stage == plan.pp - 1)


def _stage_shards_of(model: ModelConfig, tp: int, sp: bool, cp: int, ep: int, pp: int,
                     first: int | None = None, last: int | None = None) -> tuple[tuple[str, int, Shard], ...]:
    counts = stage_layers(model.num_layers, pp, first, last)

    def shard(role: str, stage: int) -> tuple[str, int, Shard]:
        # Shard(tp, sequence_parallel, cp, ep, layers, first_layer, has_embedding, has_lm_head)
        return role, stage, Shard(tp, sp, cp, ep, counts[stage], sum(counts[:stage]), stage == 0,
                                  stage == pp - 1)

    if pp == 1:
        return (shard("first", 0),)
    if pp == 2:
        return (shard("first", 0), shard("last", 1))
    # a middle stage with the most layers, the first of them (as max over (layers, -stage) picks)
    middles = counts[1:pp - 1]
    middle = 1 + middles.index(max(middles))
    return (shard("first", 0), shard("middle", middle), shard("last", pp - 1))


def _stage_shards(model: ModelConfig, plan: _Plan) -> tuple[tuple[str, int, Shard], ...]:
    """Shards of the distinct stages by role: first, a middle one with the most layers (pp > 2), last."""
    rest = (plan.tp, plan.sequence_parallel, plan.cp, plan.ep, plan.pp, *plan_first_last(model, plan))
    return _by_identity(("shards", id(model), *rest), (model,), lambda: _stage_shards_of(model, *rest))


class _PlanView:
    """A :class:`ParallelPlan`'s fields and derived figures as plain attributes, read once per evaluation.

    Every attribute read of a pydantic model goes through its class's ``__getattr__`` hook (about
    three times a plain attribute's cost, not specialised by the interpreter), and the derived
    figures are Python properties (``microbatches``: about 1 us each); an evaluation reads the plan
    some two hundred times. The same values, so every result is the same.
    """

    # ParallelPlan's fields
    tp: int
    pp: int
    dp: int
    cp: int
    ep: int
    zero_stage: int
    fsdp: bool
    reshard_after_forward: bool
    micro_batch: int
    global_batch: int
    interleave: int
    first_stage_layers: int | None
    last_stage_layers: int | None
    account_for_embedding_loss: bool
    microbatch_group: int | None
    schedule: Schedule
    recompute: Recompute
    sequence_parallel: bool
    cp_exchange: CPExchange
    overlap_dp_comm: bool
    overlap_tp_comm: bool
    overlap_p2p_comm: bool
    flash_attention: bool
    grad_reduce_dtype: GradReduceDtype
    dp_bucket_params: int | None
    # its properties, computed once
    microbatches: int
    effective_zero_stage: int
    ranks: int
    bucket_params: int
    tp_stride: int
    cp_stride: int
    dp_stride: int
    pp_stride: int
    #: the plan itself (for its description in error messages)
    plan: ParallelPlan

    def __init__(self, plan: ParallelPlan) -> None:
        values = self.__dict__
        values.update(plan.__dict__)  # the fields (a frozen model's, in its __dict__)
        # ParallelPlan's properties from the copied fields (reading each property would cost 3.5 us in
        # all); tests/cluster/test_plan_view.py checks every one against the plan's
        tp, cp, dp, pp = values["tp"], values["cp"], values["dp"], values["pp"]
        bucket = values["dp_bucket_params"]
        values.update(plan=plan,
                      microbatches=microbatches_of(values["global_batch"], dp, values["micro_batch"]),
                      effective_zero_stage=3 if values["fsdp"] else values["zero_stage"],
                      ranks=tp * cp * dp * pp,
                      bucket_params=bucket if bucket is not None else default_bucket_params(dp, cp),
                      tp_stride=1, cp_stride=tp, dp_stride=tp * cp, pp_stride=tp * cp * dp)

    def describe(self) -> str:
        return self.plan.describe()


#: A plan as the step's helpers read it: the model itself or its :class:`_PlanView`.
_Plan = ParallelPlan | _PlanView


def _fail(reason: InfeasibleReason, message: str | Callable[[], str]) -> NoReturn:
    raise InfeasiblePlanError(reason, message)


class _Where:
    """The plan, model and system an error message names: formatted only when a check fails (a
    planner runs the checks thousands of times, and most pass)."""

    __slots__ = ("model", "plan", "ranks", "system")

    def __init__(self, model: ModelConfig, system: SystemSpec, ranks: int, plan: _Plan) -> None:
        self.model, self.system, self.ranks, self.plan = model, system, ranks, plan

    def __format__(self, spec: str) -> str:
        return (f"plan {self.plan.describe()} for {self.model.name} on {self.ranks} ranks of "
                f"{self.system.name}")


def _check_structure(model: ModelConfig, system: SystemSpec, ranks: int, plan: _Plan,
                     seq_len: int) -> None:
    """Every check but memory: divisibility, depth, batch (each one line)."""
    where = _Where(model, system, ranks, plan)
    if ranks < 1:
        _fail(InfeasibleReason.RANK_COUNT, f"ranks must be at least 1, got {ranks}")
    if plan.ranks != ranks:
        _fail(InfeasibleReason.RANK_COUNT,
              f"{where}: tp*cp*dp*pp = {plan.tp}*{plan.cp}*{plan.dp}*{plan.pp} = {plan.ranks}, "
              f"not the {ranks} ranks")
    if model.num_heads % plan.tp:
        _fail(InfeasibleReason.DIVISIBILITY,
              f"{where}: tp={plan.tp} does not divide the {model.num_heads} attention heads")
    kv = model.num_kv_heads
    if model.attention is _STANDARD_ATTENTION and kv % plan.tp and plan.tp % kv:
        _fail(InfeasibleReason.DIVISIBILITY,
              f"{where}: tp={plan.tp} and the {kv} KV heads must divide one another")
    if model.ffn_hidden_size % plan.tp or (model.moe_ffn_hidden_size or 0) % plan.tp:  # no list per plan
        ffn = [model.ffn_hidden_size] + ([model.moe_ffn_hidden_size] if model.moe_ffn_hidden_size else [])
        _fail(InfeasibleReason.DIVISIBILITY, f"{where}: tp={plan.tp} does not divide the FFN size(s) {ffn}")
    if plan.ep > 1 and (not model.is_moe or model.num_experts % plan.ep):
        _fail(InfeasibleReason.DIVISIBILITY,
              f"{where}: ep={plan.ep} must divide the {model.num_experts} experts (a dense model needs ep=1)")
    if plan.dp % plan.ep:
        _fail(InfeasibleReason.DIVISIBILITY,
              f"{where}: ep={plan.ep} must divide dp={plan.dp} (expert groups are carved from DP ranks)")
    if seq_len > model.max_seq_len:
        _fail(InfeasibleReason.DIVISIBILITY,
              f"{where}: seq_len={seq_len} exceeds the model's max_seq_len={model.max_seq_len}")
    if seq_len % plan.cp:
        _fail(InfeasibleReason.DIVISIBILITY, f"{where}: cp={plan.cp} does not divide seq_len={seq_len}")
    if plan.sequence_parallel and (plan.micro_batch * seq_len // plan.cp) % plan.tp:
        _fail(InfeasibleReason.DIVISIBILITY,
              f"{where}: sequence parallelism needs tp={plan.tp} to divide the "
              f"{plan.micro_batch * seq_len // plan.cp} tokens of a micro-batch")
    depth = plan.pp * plan.interleave
    account = plan.account_for_embedding_loss
    slots = model.num_layers + (2 if account else 0)  # the embedding and the loss fill a slot each
    if depth > slots:
        _fail(InfeasibleReason.PIPELINE_DEPTH,
              f"{where}: pp*interleave = {depth} stages is deeper than the {model.num_layers} layers"
              + (" and the embedding and loss slots" if account else ""))
    if account and slots % depth:
        _fail(InfeasibleReason.PIPELINE_DEPTH,
              f"{where}: with the embedding and the loss counted as layers, pp*interleave = {depth} must "
              f"divide the {model.num_layers} + 2 = {slots} slots")
    try:
        fewest, first_stage = _stage_extremes(model.num_layers, plan.pp, *plan_first_last(model, plan))
    except ConfigError as error:
        _fail(InfeasibleReason.PIPELINE_DEPTH, f"{where}: {error}")
    if account and fewest < 1:
        _fail(InfeasibleReason.PIPELINE_DEPTH,
              f"{where}: a stage would hold no layer ({first_stage} on the first)")
    if not account and fewest < plan.interleave:
        # Uneven (virtual) stages are allowed, as in Megatron-LM; every model chunk needs a layer.
        _fail(InfeasibleReason.PIPELINE_DEPTH,
              f"{where}: a stage of {fewest} layers cannot hold interleave={plan.interleave} "
              "model chunks of at least one layer")
    if plan.global_batch % (plan.dp * plan.micro_batch):
        _fail(InfeasibleReason.BATCH,
              f"{where}: global_batch={plan.global_batch} is not a multiple of dp*micro_batch = "
              f"{plan.dp * plan.micro_batch}")
    group = plan.microbatch_group
    if group is not None and (not plan.pp <= group <= plan.microbatches or plan.microbatches % group):
        # Megatron-core's range [pp, m] (below pp a chunk's forward waits for its previous chunk to come
        # round the pipeline); a shorter last group stalls too, beyond the (p - 1)/(v m) bubble modelled.
        _fail(InfeasibleReason.SCHEDULE,
              f"{where}: the micro-batch group N={group} must lie in [pp, micro-batches] = "
              f"[{plan.pp}, {plan.microbatches}] and divide the {plan.microbatches} micro-batches")
    if (plan.schedule is _INTERLEAVED and group is None and plan.pp > 1
            and plan.microbatches % plan.pp):
        _fail(InfeasibleReason.SCHEDULE,
              f"{where}: the interleaved schedule needs the {plan.microbatches} micro-batches to be a "
              f"multiple of pp={plan.pp} (or a micro-batch group N, microbatch_group)")


class _Tally:
    """The memory of a plan's distinct stages: each role's five parts (:func:`memory_parts`), its
    total bytes (read-only: a result gets a copy) and the first role with the most, as max() picks;
    the breakdowns made when read (most plans a search checks are never estimated)."""

    __slots__ = ("_peak_memory", "_stages", "parts", "peak", "totals")

    def __init__(self, parts: dict[str, MemoryParts], totals: dict[str, float], peak: str) -> None:
        self.parts, self.totals, self.peak = parts, totals, peak
        self._peak_memory: MemoryBreakdown | None = None
        self._stages: dict[str, MemoryBreakdown] | None = None

    @property
    def stages(self) -> dict[str, MemoryBreakdown]:
        """Each role's breakdown (made once, the peak's the one :meth:`peak_memory` keeps; read-only)."""
        stages = self._stages
        if stages is None:
            stages = self._stages = {role: self.peak_memory() if role == self.peak else breakdown_of(parts)
                                     for role, parts in self.parts.items()}
        return stages

    def peak_memory(self) -> MemoryBreakdown:
        """The peak role's breakdown (made once: every plan with this tally shares it)."""
        memory = self._peak_memory
        if memory is None:
            memory = self._peak_memory = breakdown_of(self.parts[self.peak])
        return memory


def _stage_memory(model: ModelConfig, plan: _Plan, seq_len: int, precision: Precision,
                  system: SystemSpec) -> dict[str, MemoryBreakdown]:
    """Memory of the first stage (most micro-batches in flight, embedding), a middle one, the last.

    Activations held at each stage's peak follow the schedule's warm-up (:func:`held_microbatches`):
    in 1F1B stage ``i`` holds ``p - i`` micro-batches, the last stage one; interleaved, whole model
    chunks of uneven size are counted layer by layer. Cached: a planner checks a plan's memory, then
    estimates the same plan, and many plans share their memory.
    """
    return _stage_tally(model, plan, seq_len, precision, system).stages


def _stage_tally(model: ModelConfig, plan: _Plan, seq_len: int, precision: Precision,
                 system: SystemSpec) -> _Tally:
    """:func:`_stage_memory` with each stage's total and the peak; the last one made is kept, with the
    stages and micro-batches it read (:func:`_held_stages`) and the plan fields it read beyond them, for
    the next plan that reads the same (plans differing in global batch only, evaluated in turn). A
    keyed cache of every tally missed on each of a search's checks (17,541 tallies kept for none
    read again: 3 % of a search's instructions)."""
    # The chip family's precision mode (Trainium autocast: FP32 parameters) changes the bytes.
    passes = _chip_rules(system.chip)[1]
    held = _held_stages(model, plan)
    fields = (seq_len, precision, plan.dp, plan.effective_zero_stage, plan.micro_batch, plan.recompute,
              plan.flash_attention, plan.reshard_after_forward)
    last = _LAST_TALLY[0]
    if last is not None and last[0] is held and last[1] is passes and last[2] == fields:
        return last[3]
    tally = _stage_tally_of(model, held, plan, seq_len, precision, passes)
    _LAST_TALLY[0] = (held, passes, fields, tally)
    return tally


#: The last tally made, with its stages, precision mode and the plan fields it read (emptied with
#: the step caches).
_LAST_TALLY: list[tuple[_Held, ParamPasses | None, tuple[object, ...], _Tally] | None] = [None]


def _stage_tally_of(model: ModelConfig, held: _Held, plan: _Plan, seq_len: int, precision: Precision,
                    passes: ParamPasses | None) -> _Tally:
    dp, zero = plan.dp, plan.effective_zero_stage
    shards, inflight, roles, fewest = held
    if zero not in ZERO_STAGES or dp < 1 or fewest < 1:  # as estimate_memory checks them, before the graphs
        for held_mb, _ in inflight:
            check_memory_args(zero, dp, held_mb)  # raises (the first stage's message first)
    facts = _stage_facts(model, shards, plan.micro_batch, seq_len, precision, plan.recompute,
                         plan.flash_attention, passes)
    parts, stage_totals = stages_memory_parts(facts, dp, zero, inflight, plan.reshard_after_forward)
    totals = dict(zip(roles, stage_totals, strict=True))
    return _Tally(dict(zip(roles, parts, strict=True)), totals, max(totals, key=totals.__getitem__))


#: The distinct stages (:func:`_stage_shards`) and, for each, the micro-batches of activations it
#: holds at its peak and its output layer's (None: as many); then the stages' roles and the fewest
#: micro-batches any of them holds (what a tally checks).
_Held = tuple[tuple[tuple[str, int, Shard], ...], tuple[tuple[float, float | None], ...], tuple[str, ...],
              float]


def _held_stages(model: ModelConfig, plan: _Plan) -> _Held:
    """The stages and the micro-batches each holds, cached by every plan field that
    held_microbatches and _stage_shards read: 1F1B (and any schedule but GPipe without chunks) holds
    min(pp - stage, m), so m only up to pp, and global batches share it. One tuple per key: a cache
    keys on its identity."""
    m = plan.microbatches
    schedule = plan.schedule
    if schedule is _ONE_F_ONE_B or (schedule is not _GPIPE and plan.interleave == 1):
        m = min(m, plan.pp)
    key = ("held", id(model), plan.tp, plan.sequence_parallel, plan.cp, plan.ep, plan.pp, schedule, m,
           plan.interleave, plan.first_stage_layers, plan.last_stage_layers, plan.account_for_embedding_loss,
           plan.microbatch_group)
    return _by_identity(key, (model,), lambda: _held_stages_of(model, plan))


def _held_stages_of(model: ModelConfig, plan: _Plan) -> _Held:
    shards = _stage_shards(model, plan)
    inflight = []
    for _, stage, shard in shards:
        layers = shard.layers or model.num_layers
        # one model chunk per stage: held_microbatches reads no chunks (and one chunk is always valid)
        chunks = stage_chunks(model, plan, stage, layers) if plan.interleave > 1 else None
        held = held_microbatches(plan.schedule, plan.pp, plan.microbatches, plan.interleave, stage, layers,
                                 plan.microbatch_group, chunks)
        # Interleaved, the last stage's last chunk (output layer, loss) runs each micro-batch's backward
        # right after its forward: at the peak it holds one micro-batch, not ``held``.
        head = 1.0 if plan.schedule is _INTERLEAVED and shard.has_lm_head and plan.pp > 1 else None
        inflight.append((held, head))
    roles = tuple([role for role, _, _ in shards])
    return shards, tuple(inflight), roles, min([held for held, _ in inflight])


class _Checked(NamedTuple):
    """A plan that passed :func:`_check_structure` against these objects: its view, its stages' memory
    and which stage needs the most (what :func:`check_plan` and :func:`estimate_step` read of it)."""

    objects: tuple[object, ...]  # (model, system, ranks, plan, seq_len, precision)
    view: _PlanView
    tally: _Tally  # its stages' memory
    totals: dict[str, float]  # each stage's total bytes (read-only: a result gets a copy)
    peak: str  # the first stage with the most, as max() picks


#: Plans that passed :func:`check_plan`'s structure checks, by the plan's identity, with the objects
#: they were checked against, their views and their stages' memory: a planner checks a plan, bounds
#: it and may estimate the same plan object much later, which need not be read, checked and tallied
#: again (nor a plan estimated twice). Each entry keeps its objects, so a recycled id never returns
#: another plan's memory. The oldest entries go first past the limit; cleared with the caches.
_CHECKED: OrderedDict[int, _Checked] = OrderedDict()  # popitem(last=False): the oldest in O(1)
_CHECKED_LIMIT = 4096


def _view_of(plan: ParallelPlan) -> _PlanView:
    """The plan's :class:`_PlanView`: the one :func:`_checked` keeps for it, else a new one."""
    hit = _CHECKED.get(id(plan))
    if hit is not None and hit.view.plan is plan:
        return hit.view
    return _PlanView(plan)


def _checked(model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan, seq_len: int,
             precision: Precision) -> _Checked:
    """The plan checked (:func:`_check_structure`, which raises) and its stages' memory tallied, once
    for these very objects (then kept in :data:`_CHECKED`)."""
    hit = _CHECKED.get(id(plan))
    if hit is not None:
        m, s, r, p, n, q = hit.objects
        if m is model and s is system and p is plan and q is precision and r == ranks and n == seq_len:
            return hit
    view = hit.view if hit is not None and hit.view.plan is plan else _PlanView(plan)
    _check_structure(model, system, ranks, view, seq_len)
    tally = _stage_tally(model, view, seq_len, precision, system)
    checked = _Checked((model, system, ranks, plan, seq_len, precision), view, tally, tally.totals,
                       tally.peak)
    if len(_CHECKED) >= _CHECKED_LIMIT:
        # the oldest: a dict finds its first key by scanning past every slot deleted before it (tens
        # of us per check, thousands of checks past the limit in a search); an OrderedDict pops it
        _CHECKED.popitem(last=False)
    _CHECKED.pop(id(plan), None)  # a plan checked against other objects: now the newest entry
    _CHECKED[id(plan)] = checked
    return checked


def check_plan(model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan, seq_len: int,
               precision: Precision = Precision.BF16) -> None:
    """Raise :class:`InfeasiblePlanError` when ``plan`` cannot run; cheap enough to prune a search."""
    check_catalog_environment()
    checked = _checked(model, system, ranks, plan, seq_len, precision)
    capacity = system.hbm_bytes_per_rank
    if not checked.totals[checked.peak] <= capacity:  # the peak breakdown's fits(capacity)
        # the verdict formatted only if shown (a planner reads the reason alone)
        _fail(InfeasibleReason.MEMORY, partial(_memory_verdict, plan, checked.tally, capacity))


def _memory_verdict(plan: ParallelPlan, tally: _Tally, capacity: float) -> str:
    """:func:`check_plan`'s message for a plan that does not fit."""
    memory = tally.peak_memory()
    return f"plan {plan.describe()}: {memory.explain(capacity, plan.recompute, plan.zero_stage)}"


@dataclass(frozen=True)  # no slots: ``described`` is a cached property
class _Groups:
    tp: GroupPlacement
    cp: GroupPlacement
    ep: GroupPlacement
    dp: GroupPlacement  # dense gradients: the dp x cp ranks holding the same weights
    expert_dp: GroupPlacement
    pp: GroupPlacement  # two adjacent stages

    @cached_property
    def described(self) -> dict[str, str]:
        """Where each group sits, for the report (made once per cached placement; copied out)."""
        return {"tp": self.tp.describe(), "cp": self.cp.describe(), "ep": self.ep.describe(),
                "dp": self.dp.describe(), "pp": self.pp.describe()}


#: A plan's groups by (topology, ranks per chip, degrees), and (key starting "group") each group's
#: placement by (topology, ranks per chip, stride, size): plans share most of their groups.
_PLACE_CACHE: dict[tuple[Any, ...], tuple[TopologySpec, Any]] = {}


def _place(topology: TopologySpec, system: SystemSpec, plan: _Plan) -> _Groups:
    r = system.ranks_per_chip
    key = (id(topology), r, plan.tp, plan.cp, plan.dp, plan.ep, plan.pp)
    hit = _PLACE_CACHE.get(key)
    if hit is not None and hit[0] is topology:
        groups: _Groups = hit[1]
        return groups
    groups = _Groups(
        tp=_group(topology, r, plan.tp_stride, plan.tp),
        cp=_group(topology, r, plan.cp_stride, plan.cp),
        ep=_group(topology, r, plan.dp_stride, plan.ep),
        dp=_group(topology, r, plan.cp_stride, plan.cp * plan.dp),
        expert_dp=_group(topology, r, plan.dp_stride * plan.ep, plan.dp // plan.ep),
        pp=_group(topology, r, plan.pp_stride, 2 if plan.pp > 1 else 1),
    )
    if len(_PLACE_CACHE) >= _PLACE_LIMIT:
        _PLACE_CACHE.clear()
        _INTERNED.clear()
    _PLACE_CACHE[key] = (topology, groups)
    return groups


#: One object per distinct placement made by :func:`_place` (they are immutable values): a cache
#: keyed by a placement's identity then finds every equal one, without hashing or comparing it.
_INTERNED: dict[GroupPlacement, GroupPlacement] = {}
_PLACE_LIMIT = 65536


def _group(topology: TopologySpec, ranks_per_chip: int, stride: int, size: int) -> GroupPlacement:
    """:func:`place_group`, cached; equal placements are made one object, so that the caches above
    key them by identity."""
    key = ("group", id(topology), ranks_per_chip, stride, size)
    hit = _PLACE_CACHE.get(key)
    if hit is not None and hit[0] is topology:
        group: GroupPlacement = hit[1]
        return group
    group = place_group(topology, ranks_per_chip, stride, size)
    group = _INTERNED.setdefault(group, group)
    _PLACE_CACHE[key] = (topology, group)
    return group


def _algorithms(model: ModelConfig, plan: _Plan, groups: _Groups, seq_len: int,
                dense_params: float) -> dict[str, str]:
    """The algorithm each group's main collective runs with (for reports)."""
    activation = plan.micro_batch * seq_len / plan.cp * model.hidden_size * ACTIVATION_BYTES
    tp_kind = Collective.ALL_GATHER if plan.sequence_parallel else Collective.ALL_REDUCE
    dp_kind = Collective.ALL_REDUCE if plan.effective_zero_stage == 0 else Collective.REDUCE_SCATTER
    chosen = {
        "tp": (tp_kind, activation, groups.tp),
        "cp": (Collective.SEND_RECV, activation, groups.cp),
        "ep": (Collective.ALL_TO_ALL, activation, groups.ep),
        "dp": (dp_kind, dense_params * plan.grad_reduce_dtype.nbytes, groups.dp),
        "pp": (Collective.SEND_RECV, activation, groups.pp),
    }
    return {name: str(collective_time(kind, size, group).algorithm) if group.levels else ""
            for name, (kind, size, group) in chosen.items()}


class _Stages(NamedTuple):
    """The slowest stage's per-micro-batch forward and backward (compute plus the collectives inside
    its layers), its device time, the parts of that time, its shard, and every role's total."""

    fwd_s: float
    bwd_s: float
    slow: _StageTime
    parts: dict[str, float]  # read-only: shared by every plan with the same key
    slow_shard: Shard
    stage_total: dict[str, float]
    #: :func:`_pipeline_fill` of these stages (read by every plan evaluated on them: made once)
    fill_s: float


def _stage_comm(plan: _Plan, dev: _StageTime,
                comm: tuple[PhaseComm, PhaseComm, PhaseComm]) -> tuple[float, ...]:
    """TP forward and backward, CP forward and backward, EP forward, backward and total seconds of
    one micro-batch on one stage, net of the GEMMs and attention they hide behind; then the CP
    ring's seconds hidden behind attention.

    ``comm``: the collectives of the stage's layers (:func:`_layer_comm`), kept by what they read,
    which the first, middle and last stages of a pipeline share; what the stage's own GEMMs hide of
    TP's is taken off here (a few operations, not worth a key).
    """
    tp, cp, ep = comm
    tp_f, tp_b = tp.fwd_s, tp.bwd_s
    if plan.overlap_tp_comm:
        tp_b += tp.behind_dgrad_s + tp.behind_wgrad_s
        tp_f, tp_b = max(0.0, tp_f - dev.matmul_fwd_s), max(0.0, tp_b - dev.matmul_bwd_s)
    else:  # SP's backward collectives beside the column-parallel GEMMs (traffic.tp_comm)
        tp_b += (max(0.0, tp.behind_dgrad_s - dev.colpar_dgrad_s)
                 + max(0.0, tp.behind_wgrad_s - dev.colpar_wgrad_s))
    # CP's already net of the attention it hides behind
    return tp_f, tp_b, cp.fwd_s, cp.bwd_s, ep.fwd_s, ep.bwd_s, ep.total_s, cp.hidden_s


def _layer_comm(model: ModelConfig, plan: _Plan, groups: _Groups, layers: int, moe_layers: int,
                attention_fwd_s: float, attention_bwd_s: float,
                seq_len: int) -> tuple[PhaseComm, PhaseComm, PhaseComm]:
    """The TP, CP and EP collectives of one micro-batch over a stage's ``layers`` (``moe_layers`` of
    them with experts; the CP ring hides behind the stage's attention time), cached by exactly what
    they read: not the stage's role, shard or DP, so a pipeline's stages of equal layers and a
    ZeRO-3 plan at another chip count share them."""
    mb, cp, tp, sp, recompute = plan.micro_batch, plan.cp, plan.tp, plan.sequence_parallel, plan.recompute
    exchange = plan.cp_exchange
    # placements by identity: _place makes equal ones one object
    tp_group, cp_group, ep_group = groups.tp, groups.cp, groups.ep
    key = ("layer_comm", id(model), id(tp_group), id(cp_group), id(ep_group), layers, moe_layers,
           attention_fwd_s, attention_bwd_s, mb, seq_len, cp, tp, sp, recompute, exchange)
    return _by_identity(key, (model, tp_group, cp_group, ep_group), lambda: (
        tp_comm(model, tp_group, layers, mb, seq_len, cp, sp, recompute),
        cp_comm(model, cp_group, layers, mb, seq_len, tp, recompute, attention_fwd_s, attention_bwd_s,
                exchange),
        ep_comm(model, ep_group, moe_layers, mb, seq_len, cp, tp, sp, recompute)))


def _stages(model: ModelConfig, system: SystemSpec, plan: _Plan, groups: _Groups, seq_len: int,
            precision: Precision) -> _Stages:
    """Per-stage time of one micro-batch (cached: it does not depend on DP below ZeRO-3, so plans at
    other chip counts or ZeRO stages share it)."""
    mb = plan.micro_batch

    def compute() -> _Stages:
        best: tuple[float, float, _StageTime, tuple[float, ...], Shard] | None = None
        stage_total: dict[str, float] = {}
        # the collectives of each distinct (layers, MoE layers, attention times): equal stages share them
        comms: dict[tuple[int, int, float, float], tuple[PhaseComm, PhaseComm, PhaseComm]] = {}
        for role, _stage, shard in _stage_shards(model, plan):
            dev = _stage_time(model, shard, mb, seq_len, precision, plan, system)
            layers = (dev.layers, dev.moe_layers, dev.attention_fwd_s, dev.attention_bwd_s)
            comm = comms.get(layers)
            if comm is None:
                comm = comms[layers] = _layer_comm(model, plan, groups, *layers, seq_len)
            tp_f, tp_b, cp_f, cp_b, ep_f, ep_b, ep_total, cp_hidden = _stage_comm(plan, dev, comm)
            fwd = dev.fwd_s + tp_f + cp_f + ep_f
            bwd = dev.bwd_s + tp_b + cp_b + ep_b
            stage_total[role] = fwd + bwd
            if best is None or fwd + bwd > best[0] + best[1]:
                # _Stages.parts' values, made a dict for the slowest stage only
                best = (fwd, bwd, dev, (dev.fwd_s + dev.bwd_s, tp_f + tp_b, cp_f + cp_b, ep_total, cp_hidden),
                        shard)
        assert best is not None
        fwd, bwd, dev, (compute_s, tp_s, cp_s, ep_s, hidden_s), shard = best
        parts = {"compute": compute_s, "tp_comm": tp_s, "cp_comm": cp_s, "ep_comm": ep_s,
                 "cp_comm_hidden": hidden_s}  # the last: not in the step
        fill = _pipeline_fill(stage_total, plan.pp, fwd, bwd)
        return _Stages(fwd, bwd, dev, parts, shard, stage_total, fill)

    zero3 = _sharded_passes(plan, system)
    first, last = plan_first_last(model, plan)
    # placements by identity: _place makes equal ones one object
    tp_group, cp_group, ep_group = groups.tp, groups.cp, groups.ep
    key = ("stages", id(model), id(system), id(tp_group), id(cp_group), id(ep_group), plan.tp,
           plan.sequence_parallel, plan.cp, plan.ep, plan.pp, first, last, mb, seq_len, precision,
           plan.recompute, plan.flash_attention, zero3, plan.dp if zero3 else 1, plan.cp_exchange,
           plan.overlap_tp_comm)
    return _by_identity(key, (model, system, tp_group, cp_group, ep_group), compute)


def _pipeline_fill(stage_total: Mapping[str, float], p: int, fwd: float, bwd: float) -> float:
    """Fill and drain time beyond the slowest stage's: every stage but the slowest is crossed once,
    the p - 2 middle ones as their representative (0 without a pipeline)."""
    if p <= 1:
        return 0.0
    counts = {"first": 1, "last": 1, "middle": max(0, p - 2)}
    return max(0.0, sum(counts[role] * t for role, t in stage_total.items()) - (fwd + bwd))


def estimate_step(
    model: ModelConfig,
    system: SystemSpec,
    ranks: int,
    plan: ParallelPlan,
    seq_len: int,
    precision: Precision = Precision.BF16,
    topology: TopologySpec | None = None,
) -> StepResult:
    """Estimate one training step of ``plan`` on ``ranks`` ranks of ``system`` (see the module doc).

    Structural problems raise :class:`InfeasiblePlanError`; a plan that does not fit in memory is
    still estimated, with ``fits`` False.
    """
    check_catalog_environment()
    checked = _checked(model, system, ranks, plan, seq_len, precision)
    view = checked.view  # the plan read some two hundred times below
    topo = topology if topology is not None else _by_identity(("topology", id(system)), (system,),
                                                               lambda: topology_for_system(system))
    chip = system.chip
    groups = _place(topo, system, view)
    m, p, v = view.microbatches, view.pp, view.interleave
    mb = view.micro_batch

    stages_of = _stages(model, system, view, groups, seq_len, precision)
    fwd, bwd, slow, parts = stages_of.fwd_s, stages_of.bwd_s, stages_of.slow, stages_of.parts
    bwd_compute = slow.bwd_s

    p2p = pp_send_s(model, groups.pp, mb, seq_len, view.cp, view.tp)
    pipe = pipeline_timing(view.schedule, p, m, fwd, bwd, v, p2p, stages_of.fill_s,
                           view.overlap_p2p_comm, view.microbatch_group)

    # Data parallel: dense gradients over dp x cp, expert gradients over dp / ep.
    zero = view.effective_zero_stage
    bucket = slow.dense_params / max(1, slow.layers) if zero == 3 else view.bucket_params
    grad_bytes = view.grad_reduce_dtype.nbytes
    dp = _by_identity(("dp", id(groups.dp), id(groups.expert_dp), slow.dense_params, slow.expert_params, zero,
                       bucket, grad_bytes), (groups.dp, groups.expert_dp),
                      lambda: dp_comm(slow.dense_params, slow.expert_params, groups.dp, groups.expert_dp,
                                      zero, bucket, grad_bytes))
    if dp.per_microbatch:  # ZeRO-3: gather before forward and backward, reduce after, every micro-batch
        gather_each = dp.param_s / 2
        # Without resharding after forward the backward finds the weights gathered (Llama 3, 3.3.1).
        back_gather, back_tail = (gather_each, dp.param_tail_s) if view.reshard_after_forward else (0.0, 0.0)
        if view.overlap_dp_comm:  # prefetch layer by layer; the first layer's gather cannot hide
            exposed = (max(dp.param_tail_s, gather_each - fwd)
                       + max(back_tail + dp.grad_tail_s, back_gather + dp.grad_s - bwd_compute))
        else:
            exposed = gather_each + back_gather + dp.grad_s
        dp_s = m * exposed
    elif view.overlap_dp_comm:  # buckets overlap the last backward / the next forward, but for one each
        dp_s = max(dp.grad_tail_s, dp.grad_s - bwd_compute)
        if dp.param_s:
            dp_s += max(dp.param_tail_s, dp.param_s - fwd)
    else:
        dp_s = dp.grad_s + dp.param_s
    optimizer = _optimizer_s(slow.dense_params, slow.expert_params, view, system)

    breakdown = {"compute": m * parts["compute"], "tp_comm": m * parts["tp_comm"],  # BREAKDOWN_KEYS' order
                 "cp_comm": m * parts["cp_comm"], "ep_comm": m * parts["ep_comm"], "pp_comm": pipe.p2p_s,
                 "dp_comm": dp_s, "pipeline_bubble": pipe.bubble_s, "optimizer": optimizer}
    step = sum(breakdown.values())

    tokens = view.global_batch * seq_len
    peak_per_rank = chip.peak_flops(str(precision)) / system.ranks_per_chip
    denominator = step * ranks * peak_per_rank
    model_per_token, hardware_per_token, causal_per_token = _flops_per_token(
        model, seq_len, view.recompute, view.flash_attention)
    totals = dict(checked.totals)  # the result's own copy
    memory, memory_total = checked.tally.peak_memory(), totals[checked.peak]
    capacity = system.hbm_bytes_per_rank
    goodput = _goodput(model, system, topo, math.ceil(ranks / system.ranks_per_chip), step)
    return _step_result(
        model=model.name,
        system=system.name,
        ranks=ranks,
        chips=math.ceil(ranks / system.ranks_per_chip),
        plan=plan,
        seq_len=seq_len,
        precision=precision,
        step_time_s=step,
        breakdown=breakdown,
        tokens_per_s=tokens / step,
        mfu=model_per_token * tokens / denominator,
        hfu=hardware_per_token * tokens / denominator,
        mfu_causal=causal_per_token * tokens / denominator,
        memory_per_rank_bytes=memory_total,
        memory=memory,
        memory_capacity_bytes=capacity,
        fits=memory_total <= capacity,  # memory.fits(capacity)
        microbatches=m,
        bubble_fraction=pipe.bubble_fraction,
        goodput=goodput,
        stage_memory_bytes=totals,
        cp_comm_hidden_s=m * parts["cp_comm_hidden"],
        # compute_by_class, algorithms and groups: made when first read
        _lazy=_LazyFields(slow.class_rows, m, model, view, groups, seq_len, slow.dense_params),
    )


def _step_result(**fields: Any) -> StepResult:
    """``StepResult(**fields)`` with every field given (the lazy ones as ``_lazy``, made when read),
    made without the frozen dataclass's ``__init__``, which sets its 25 fields one
    ``object.__setattr__`` call each (about a tenth of a warm evaluation); once read, the same object
    (tests/cluster/test_step.py compares it with the constructor's)."""
    result = object.__new__(StepResult)
    result.__dict__.update(fields)
    return result


#: Bytes a checkpoint stores per parameter with mixed-precision Adam: BF16 weights (2), FP32
#: master weights (4), first and second moments (4 + 4).
CHECKPOINT_BYTES_PER_PARAM = 14


def _n_params(model: ModelConfig) -> int:
    return _by_identity(("params", id(model)), (model,), model.n_params)


def _goodput(model: ModelConfig, system: SystemSpec, topo: TopologySpec, chips: int, step_s: float) -> float:
    """estimate_goodput(...).goodput, without the result; what does not depend on the step (the
    checkpoint write, the MTBF, Daly's interval) kept per model, system, topology and chip count."""
    facts = _by_identity(("goodput", id(model), id(system), id(topo), chips), (model, system, topo),
                         lambda: daly_facts(*_goodput_args(model, system, topo, chips)))
    if facts is None or not step_s > 0:  # rejected facts or step, or no failures: the full function
        args = _goodput_args(model, system, topo, chips)
        return goodput_fraction(args[0], step_s, *args[1:])
    return daly_goodput(step_s, facts)


def _goodput_args(model: ModelConfig, system: SystemSpec, topo: TopologySpec,
                  chips: int) -> tuple[int, float, float, float, float]:
    """goodput_fraction's arguments but the step time: chips, checkpoint bytes, failure rate, write
    bandwidth (every node writes its share), restart time."""
    rel = topo.reliability
    nodes = math.ceil(chips / system.chips_per_node)
    return (chips, _n_params(model) * CHECKPOINT_BYTES_PER_PARAM, rel.failure_rate_per_chip_hour,
            rel.checkpoint_write_bytes_per_s_per_node * nodes, rel.restart_s)


#: Relative slack of :func:`step_time_lower_bound` below the step's own sum: the same terms, but
#: added in another order (Python's ``sum`` of floats may also compensate), so equal up to rounding.
_STEP_BOUND_SLACK = 1e-9


def step_time_lower_bound(
    model: ModelConfig,
    system: SystemSpec,
    ranks: int,
    plan: ParallelPlan,
    seq_len: int,
    precision: Precision = Precision.BF16,
    topology: TopologySpec | None = None,
) -> float:
    """A lower bound of :func:`estimate_step`'s ``step_time_s`` (memory plays no part in it).

    The slowest stage's micro-batches (compute with its TP, CP and EP collectives) and the pipeline
    bubble, as the step counts them; the step adds its stage-to-stage sends, the exposed DP
    traffic and the optimizer, none negative. Cheap where the stage times are cached (no memory
    tally, DP traffic, goodput or result): a search skips plans whose bound cannot beat its best.
    It never falls with more recomputation (the DP traffic a longer backward hides is not in it),
    which lets a search bound a recomputation ladder by its lightest rung (tests/cluster/test_step_bounds.py).
    """
    check_catalog_environment()  # the stage parts' timing relies on it (_part_times)
    view = _view_of(plan)
    topo = topology if topology is not None else topology_for_system(system)
    groups = _place(topo, system, view)
    stages_of = _stages(model, system, view, groups, seq_len, precision)
    fwd, bwd, parts = stages_of.fwd_s, stages_of.bwd_s, stages_of.parts
    m, p = view.microbatches, view.pp
    # the bubble as estimate_step finds it (its stage-to-stage send does not change the bubble)
    bubble = pipeline_timing(view.schedule, p, m, fwd, bwd, view.interleave, 0.0,
                             stages_of.fill_s,
                             view.overlap_p2p_comm, view.microbatch_group).bubble_s
    inside = m * parts["compute"] + m * parts["tp_comm"] + m * parts["cp_comm"] + m * parts["ep_comm"]
    return (inside + bubble) * (1 - _STEP_BOUND_SLACK)


def step_time_floor(
    model: ModelConfig,
    system: SystemSpec,
    ranks: int,
    plan: ParallelPlan,
    seq_len: int,
    precision: Precision = Precision.BF16,
    topology: TopologySpec | None = None,
) -> float:
    """A looser lower bound than :func:`step_time_lower_bound`, made without a stage graph: the
    micro-batches times the fewest layers of any distinct stage times what fusion must leave of one
    layer's ops (:func:`~trnsim.devicetime.fusion.fused_floor` of its forward and of its backward;
    one layer template per shape, shared by every pipeline depth, ZeRO stage and recomputation).

    Each distinct stage counts its own layers and adds its weight passes (Trainium's precision
    mode, what the stage's time adds; below ZeRO-3 only); the slowest is no faster than the fastest.
    Plus the pipeline bubble with every stage that fast. Every distinct stage holds its layers,
    each with at least those ops (its embedding, output layer, recomputation, weight
    passes and collectives only add; fusion shortens no other op below zero); a block of layers is
    the template with its counts times the layers, in the same order, so its ops keep their
    neighbours and their fusion scales with the layers;
    the bubble is the other ``pp - 1`` stages' time over the chunks, and the step adds only
    non-negative terms. The same for every recomputation, so it bounds a whole recomputation ladder.
    Without TP overlap, one layer's TP collectives (all exposed) count with its ops.
    A search orders plans by it first, and asks for the tighter bound only of those it cannot skip.
    """
    view = _view_of(plan)
    topo = topology if topology is not None else topology_for_system(system)
    zero3 = view.effective_zero_stage == 3
    # every plan field the stage floor reads (its stages, their layer ops, TP group and weight passes)
    rest = (system.ranks_per_chip, view.tp, view.tp_stride, view.sequence_parallel, view.cp, view.ep, view.pp,
            *plan_first_last(model, view), view.micro_batch, seq_len, precision, view.flash_attention,
            view.overlap_tp_comm, zero3)
    stage = _by_identity(("floor", id(model), id(system.chip), id(topo), *rest), (model, system.chip, topo),
                         lambda: _stage_floor(model, system, topo, view, seq_len, precision))
    # the pipeline bubble, (p - 1) stages' fill over v chunks (pipeline_timing), each stage no faster
    bubble = (view.pp - 1) * stage / view.interleave if view.pp > 1 else 0.0
    return (view.microbatches * stage + bubble) * (1 - _STEP_BOUND_SLACK)


def _stage_floor(model: ModelConfig, system: SystemSpec, topology: TopologySpec, plan: _Plan,
                 seq_len: int, precision: Precision) -> float:
    """No more than any distinct stage's time per micro-batch: its layers' floor and its weight passes."""
    shards = _stage_shards(model, plan)
    shard = shards[0][2]
    # Without overlap, a layer's TP collectives are all exposed (tp_comm is linear in the layers).
    tp_group = None if plan.overlap_tp_comm else _place(topology, system, plan).tp

    def layer() -> float:
        rules = _chip_rules(system.chip)[0]
        kinds = layer_ops(model, shard, plan.micro_batch, seq_len, precision, plan.flash_attention)
        # forward and backward apart: each is a run of ops in the stage graph (with others around it)
        ops_s = min(sum(fused_floor(ops[:n], time_ops(ops[:n], system), rules))
                    + sum(fused_floor(ops[n:], time_ops(ops[n:], system), rules)) for ops, n in kinds)
        if tp_group is None:
            return ops_s
        tp = tp_comm(model, tp_group, 1, plan.micro_batch, seq_len, plan.cp, plan.sequence_parallel,
                     Recompute.NONE)
        return ops_s + tp.fwd_s + tp.bwd_s

    per_layer = _by_identity(("layer_floor", id(model), id(system.chip), id(tp_group),
                              system.ranks_per_chip, plan.tp, plan.sequence_parallel, plan.cp, plan.ep,
                              plan.micro_batch, seq_len, precision, plan.flash_attention),
                             (model, system.chip, tp_group), layer)
    # ZeRO-3's passes over the rank's shard are left out: small, and one count per DP degree to time
    zero3 = plan.effective_zero_stage == 3
    return min((model.num_layers if s.layers is None else s.layers) * per_layer
               + (0.0 if zero3 else _passes_s(model, s, plan, system)) for _, _, s in shards)


def _passes_s(model: ModelConfig, shard: Shard, plan: _Plan, system: SystemSpec) -> float:
    """The seconds of the precision mode's weight passes on a stage of ``shard`` below ZeRO-3 (as
    _stage_time adds them: over every parameter the rank holds)."""
    if _chip_rules(system.chip)[1] is None:
        return 0.0

    def compute() -> float:
        params = params_on_rank(model, shard)
        return sum([s for _, s in _param_passes(_passed_params(params.dense, params.expert, plan), system)])

    return _by_identity(("floor_passes", id(model), id(system.chip), id(shard), system.ranks_per_chip),
                        (model, system.chip, shard), compute)


def step_goodput_upper_bound(model: ModelConfig, system: SystemSpec, ranks: int,
                             topology: TopologySpec | None = None) -> float:
    """An upper bound of the ``goodput`` of any plan of ``model`` on ``ranks`` ranks of ``system``."""
    topo = topology if topology is not None else topology_for_system(system)
    rel = topo.reliability
    chips = math.ceil(ranks / system.ranks_per_chip)
    nodes = math.ceil(chips / system.chips_per_node)
    return goodput_upper_bound(
        chips, _n_params(model) * CHECKPOINT_BYTES_PER_PARAM,
        failure_rate_per_chip_hour=rel.failure_rate_per_chip_hour,
        checkpoint_write_bytes_per_s=rel.checkpoint_write_bytes_per_s_per_node * nodes,
        restart_s=rel.restart_s,
    )


def estimate_run_goodput(
    result: StepResult, model: ModelConfig, system: SystemSpec, topology: TopologySpec | None = None,
    interval_s: float | None = None,
) -> GoodputResult:
    """Goodput of a long run of ``result``'s step: the topology's failure and checkpoint facts.

    Every node writes its share of the checkpoint in parallel at the file's per-node bandwidth.
    """
    topo = topology if topology is not None else topology_for_system(system)
    rel = topo.reliability
    nodes = math.ceil(result.chips / system.chips_per_node)
    return estimate_goodput(
        result.chips, result.step_time_s, _n_params(model) * CHECKPOINT_BYTES_PER_PARAM,
        failure_rate_per_chip_hour=rel.failure_rate_per_chip_hour,
        checkpoint_write_bytes_per_s=rel.checkpoint_write_bytes_per_s_per_node * nodes,
        restart_s=rel.restart_s, interval_s=interval_s,
    )
