"""Compiler fusion and cross-engine overlap of a training step's non-GEMM ops (Trainium).

Each op is timed alone, as its own kernel (:mod:`trnsim.devicetime.timing`); the Neuron compiler
does better on a whole step. :func:`apply_fusion` takes the ops of one micro-batch in program order
with their stand-alone times and returns each op's time after three mechanisms, whose rules and
parameters live in ``devicetime/data/fusion/<family>.toml`` (see ``trainium.toml`` for what each
one models and its sources); a chip family without a file (GPUs, TPUs: their curves already time
the fused kernels their frameworks launch) is left unchanged.

1. chain: consecutive streaming ops that feed one another become one memory pass;
2. epilogue: an op reading a GEMM's output (``Op.epilogue_of``) runs on the accumulator copy;
3. overlap: a fraction of a streaming op beside a GEMM hides under the GEMM's TensorE time.

Memory-bound op times are taken proportional to the bytes they move (as the proxy timing of
:mod:`trnsim.devicetime.timing` does), so removing bytes from a pass scales its time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from trnsim.devicetime.ops import Op, OpClass
from trnsim.hardware.catalog import ChipFamily, ChipSpec
from trnsim.hardware.datafile import CATALOG_ENV, DataKind, overlay_token

__all__ = ["FUSION", "FusionRules", "OpEffect", "apply_fusion", "clear_loaded_fusion", "fused_floor",
           "fusion_columns", "fusion_columns_of_runs", "load_fusion"]

#: The fusion files: a user file replaces the shipped one of the same name whole.
FUSION = DataKind("fusion", Path(__file__).parent / "data" / "fusion",
                      merge=False, new_keys_from_depth=0)
_FAMILY_FILE = {ChipFamily.TRAINIUM: "trainium"}


class _Chain(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = True
    classes: tuple[OpClass, ...] = (OpClass.NORM, OpClass.ELEMENTWISE)
    note: str = ""


class _Epilogue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = True
    note: str = ""


class _Overlap(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    fraction: float = Field(ge=0.0, le=1.0)
    classes: tuple[OpClass, ...] = (OpClass.NORM, OpClass.ELEMENTWISE)
    note: str = ""


class FusionRules(BaseModel):
    """The fusion and overlap rules of one chip family (a data file)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    date: str
    confidence: str
    chain: _Chain
    epilogue: _Epilogue
    overlap: _Overlap


@dataclass(slots=True)  # not frozen, for the reason Op is not (devicetime.ops): never change one
class OpEffect:
    """One op's time (all its instances) before and after fusion and overlap."""

    alone_s: float  # timed alone, its own kernel
    fused_s: float  # saved by chain or epilogue fusion
    hidden_s: float  # hidden under a neighbouring GEMM's TensorE time

    @property
    def seconds(self) -> float:
        """The time the op adds to the step."""
        return self.alone_s - self.fused_s - self.hidden_s


#: Rules by (family, $TRNSIM_CATALOG, in-memory overrides): found once, not looked up on disk per stage timed;
#: :func:`clear_loaded_fusion` (``devicetime.timing.clear_memo``) forgets them.
_LOADED: dict[tuple[ChipFamily, str | None, int], FusionRules | None] = {}


def clear_loaded_fusion() -> None:
    """Forget the rules found so far (after editing a fusion file in-process)."""
    _LOADED.clear()


def load_fusion(chip: ChipSpec) -> FusionRules | None:
    """The rules for ``chip``'s family (a user file first), or None where the family has none."""
    key = (chip.family, os.environ.get(CATALOG_ENV), overlay_token())
    if key not in _LOADED:
        _LOADED[key] = _find_fusion(chip)
    return _LOADED[key]


def _find_fusion(chip: ChipSpec) -> FusionRules | None:
    name = _FAMILY_FILE.get(chip.family)
    if name is None:
        return None
    return FUSION.load_model(name, FusionRules)


def _elements(op: Op) -> int:
    return int(op.shape.get("rows", 0)) * int(op.shape.get("cols", 0))


def _link_bytes(producer: Op, consumer: Op) -> float:
    """Bytes of the tensor ``producer`` writes and ``consumer`` reads (both sides of it)."""
    return min(producer.bytes_written, consumer.bytes_read)


def fused_floor(ops: Sequence[Op], seconds: Sequence[float], rules: FusionRules | None) -> list[float]:
    """A lower bound of each op's time after :func:`apply_fusion` (``OpEffect.seconds``) wherever
    ``ops`` stand in a longer sequence with other ops before and after them.

    An op no rule applies to keeps its time. Chain and epilogue fusion of an op read only its
    two neighbours: an op inside the sequence keeps them, and loses what it loses here; the first
    and last ops may lose everything. Overlap hides at most the rules' fraction of what fusion
    leaves (how much depends on what the neighbours of its GEMMs took, so no more is counted on).
    """
    if rules is None:
        return list(seconds)
    effects = apply_fusion(ops, seconds, rules)
    chain, epilogue, overlap = rules.chain, rules.epilogue, rules.overlap
    last = len(ops) - 1
    out = []
    for i, (op, s, effect) in enumerate(zip(ops, seconds, effects, strict=True)):
        cls = op.op_class
        left = s
        if (chain.enabled and cls in chain.classes) or (epilogue.enabled and op.epilogue_of):
            left = s - effect.fused_s if 0 < i < last else 0.0
        if overlap.fraction != 0.0 and cls in overlap.classes:
            left *= 1.0 - overlap.fraction
        out.append(left)
    return out


def apply_fusion(ops: Sequence[Op], seconds: Sequence[float], rules: FusionRules | None) -> list[OpEffect]:
    """Each op's time after chain fusion, epilogues and overlap (``ops`` in program order).

    ``seconds[i]`` is op ``i``'s stand-alone time for all its instances. Without rules every op
    keeps its time.
    """
    if len(ops) != len(seconds):
        raise ValueError("apply_fusion: one time per op")
    if rules is None:
        return [OpEffect(s, 0.0, 0.0) for s in seconds]
    fused, hidden = fusion_columns(ops, seconds, rules)
    return [OpEffect(s, f, h) for s, f, h in zip(seconds, fused, hidden, strict=True)]


def fusion_columns(ops: Sequence[Op], seconds: Sequence[float],
                   rules: FusionRules) -> tuple[list[float], list[float]]:
    """:func:`apply_fusion`'s ``fused_s`` and ``hidden_s`` of each op, as two lists (one time per
    op, rules given): the step model sums columns and needs no object per op.

    1 and 2, chain fusion and epilogues: an op loses the share of its time that the bytes it no
    longer moves were of all it moved. 3, overlap: an op of the overlap classes hides part of what
    is left behind the TensorE time of the GEMMs beside it in the same pass, each GEMM one budget
    for both its sides (:func:`_plan_of` finds the pairs, :func:`_columns` spends the times)."""
    if len(ops) != len(seconds):
        raise ValueError("fusion_columns: one time per op")
    return _columns(_plan_of([(ops, 1)], (ops,), rules), seconds, rules)


#: One run of a step graph: a one-layer template's ops (or an end's), each counted ``op.count * times``.
Run = tuple[Sequence[Op], int]


class _RunsPlan:
    """What :func:`fusion_columns` finds of a sequence of ops before it reads their times: the ops
    that chain or epilogue fusion shortens, with the fraction of their time it saves, and the ops
    overlap hides with the GEMMs beside them in the same pass. It reads the ops' classes, names,
    shapes, bytes and phases, and of their counts only which neighbours are equal: a block of any
    number of layers (a template's counts times the layers) has the same plan."""

    __slots__ = ("fusing", "length", "overlap", "rules", "runs")

    def __init__(self, rules: FusionRules, runs: tuple[Sequence[Op], ...],
                 fusing: tuple[tuple[int, float], ...], overlap: tuple[tuple[int, tuple[int, ...]], ...],
                 length: int) -> None:
        self.rules = rules
        self.runs = runs  # the runs' op sequences (kept: the plan is found by their identities)
        self.fusing = fusing  # (op, min(1, bytes removed / bytes moved)) of each op fusion shortens
        self.overlap = overlap  # (op, its GEMM neighbours in its pass, left first) of each overlap op
        self.length = length


def fusion_columns_of_runs(runs: Sequence[Run], seconds: Sequence[float],
                           rules: FusionRules) -> tuple[list[float], list[float]]:
    """:func:`fusion_columns` of the ops of ``runs`` in order, each op counted ``op.count * times``
    (the same values, to the last bit), without building those ops: the ops' plan (:class:`_RunsPlan`)
    is kept by the runs' op sequences and where neighbouring runs share a pass, so every block of
    layers of a shape shares it, and only the ops fusion or overlap touch are visited per call."""
    plan = _runs_plan(runs, rules)
    if plan.length != len(seconds):
        raise ValueError("fusion_columns_of_runs: one time per op")
    return _columns(plan, seconds, rules)


def _columns(plan: _RunsPlan, seconds: Sequence[float],
             rules: FusionRules) -> tuple[list[float], list[float]]:
    """The fused and hidden seconds of each op of ``plan``, given each op's time alone: only the ops
    fusion or overlap touch are visited."""
    fused = [0.0] * plan.length
    for i, ratio in plan.fusing:
        fused[i] = seconds[i] * ratio  # fusion_columns' seconds[i] * min(1.0, removed[i] / moved)
    hidden = [0.0] * plan.length
    if plan.overlap:
        fraction = rules.overlap.fraction
        # each GEMM's TensorE time, one budget for both sides (only GEMMs' entries are read); a
        # neighbour that is no GEMM has none, and taking nothing from it changes nothing
        budget = list(seconds)
        for i, gemms in plan.overlap:
            want = fraction * (seconds[i] - fused[i])
            taken = 0.0
            for j in gemms:
                if want <= 0.0:
                    break
                take = min(want, budget[j])
                budget[j] -= take
                taken += take
                want -= take
            hidden[i] = taken
    return fused, hidden


def _runs_plan(runs: Sequence[Run], rules: FusionRules) -> _RunsPlan:
    """The :class:`_RunsPlan` of ``runs`` (kept by the identities of the rules and of the runs' op
    sequences, by which runs count their ops at all, and by whether each run's last op and the next
    run's first share a pass: inside a run, counts are equal exactly where the template's are)."""
    runs = [run for run in runs if run[0]]  # an empty run puts its neighbours side by side
    sequences = tuple([ops for ops, _ in runs])
    joins = [left[-1].phase is right[0].phase and left[-1].count * left_times == right[0].count * right_times
             for (left, left_times), (right, right_times) in pairwise(runs)]
    key = (id(rules), *map(id, sequences), *[times != 0 for _, times in runs], *joins)
    hit = _PLANS.get(key)
    # the same objects: the tuples compare by identity first, no op's fields are read
    if hit is not None and hit.rules is rules and hit.runs == sequences:
        return hit
    plan = _plan_of(runs, sequences, rules)
    if len(_PLANS) >= _PLANS_LIMIT:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


#: :func:`_runs_plan`'s plans (each keeps its op sequences and its rules, so a recycled id never
#: finds another's plan).
_PLANS: dict[tuple[object, ...], _RunsPlan] = {}
_PLANS_LIMIT = 16384


def _plan_of(runs: Sequence[Run], sequences: tuple[Sequence[Op], ...], rules: FusionRules) -> _RunsPlan:
    """:func:`fusion_columns`'s passes 1 and 3 without the times: the same pairs, the same bytes."""
    counted = [(op, op.count * times) for ops, times in runs for op in ops]
    ops = [op for op, _ in counted]
    counts = [count for _, count in counted]
    n = len(ops)
    removed = [0.0] * n
    chain = rules.chain
    chain_on, chain_classes, epilogue_on = chain.enabled, chain.classes, rules.epilogue.enabled
    same = [False] * n  # same[i]: ops i - 1 and i share a pass
    for i in range(1, n):
        prev, op = ops[i - 1], ops[i]
        if not (prev.phase is op.phase and counts[i - 1] == counts[i]):
            continue
        same[i] = True
        if (chain_on and prev.op_class in chain_classes and op.op_class in chain_classes
                and _elements(prev) == _elements(op) > 0):
            link = _link_bytes(prev, op)
            removed[i - 1] += link
            removed[i] += link
        elif epilogue_on and op.epilogue_of and prev.name == op.epilogue_of:
            removed[i] += _link_bytes(prev, op)
    fusing = []
    for i, op in enumerate(ops):
        moved = op.bytes_read + op.bytes_written
        if removed[i] and moved:
            fusing.append((i, min(1.0, removed[i] / moved)))
    overlap = []
    if rules.overlap.fraction != 0.0:
        gemm = [op.op_class is OpClass.MATMUL for op in ops]
        classes = rules.overlap.classes
        for i, op in enumerate(ops):
            if op.op_class not in classes:
                continue
            sides = ((i - 1, i >= 1 and same[i]), (i + 1, i + 1 < n and same[i + 1]))
            gemms = tuple([j for j, shared in sides if shared and gemm[j]])
            if gemms:
                overlap.append((i, gemms))
    return _RunsPlan(rules, sequences, tuple(fusing), tuple(overlap), n)
