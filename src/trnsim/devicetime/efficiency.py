"""Size-dependent efficiency curves and launch overheads of GPUs and TPUs, from data files.

One TOML file per chip in ``devicetime/data/efficiency/`` (``<chip>.toml``, or ``tpu.toml`` for
any TPU and ``h100.toml`` for a GPU without its own file), overridable by a user file of the same
name in ``$TRNSIM_CATALOG/efficiency/`` (or ``catalog_dir=``). Each curve gives the achieved
fraction of peak as a function of log10(FLOPs of one op instance); see ``h100.toml`` for the
model they feed and their sources.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from trnsim.devicetime.ops import Op, OpClass, Phase
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import ChipFamily, ChipSpec
from trnsim.hardware.datafile import CATALOG_ENV, DataKind, overlay_token

__all__ = ["EFFICIENCY", "Curve", "EfficiencyCurves", "EmbeddingGrad", "LossPasses", "MemoryEfficiency",
           "OptimizerPasses", "RecomputeRules", "clear_loaded_efficiency", "has_efficiency_file",
           "load_efficiency", "selective_recompute_reruns"]

#: The efficiency files: a user file replaces the shipped one of the same name whole.
EFFICIENCY = DataKind("efficiency", Path(__file__).parent / "data" / "efficiency",
                      merge=False, new_keys_from_depth=0)
_FAMILY_DEFAULT = {ChipFamily.GPU: "h100", ChipFamily.TPU: "tpu"}


class Curve(BaseModel):
    """Achieved fraction of peak, piecewise linear in log10(FLOPs), constant beyond the ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log10_flops: tuple[float, ...]
    efficiency: tuple[float, ...]
    #: FLOPs the curve's source counts per FLOP of the step graph's convention for a FlashAttention
    #: kernel (the backward: its papers count 5 GEMMs where the graph counts Megatron's 4); 1.0
    #: elsewhere. The op's time takes the source's count, at the source's efficiency.
    flash_flops_per_graph_flop: float = 1.0
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Curve:
        if self.flash_flops_per_graph_flop <= 0:
            raise ValueError("flash_flops_per_graph_flop must be > 0")
        if len(self.log10_flops) != len(self.efficiency) or len(self.efficiency) < 2:
            raise ValueError("log10_flops and efficiency need the same length, at least 2")
        if any(b <= a for a, b in zip(self.log10_flops, self.log10_flops[1:], strict=False)):
            raise ValueError("log10_flops must increase")
        if any(not 0.0 < e <= 1.0 for e in self.efficiency):
            raise ValueError("efficiency values must be in (0, 1]")
        return self

    @cached_property
    def _points(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        # the points as floats, as np.interp reads them
        return tuple(map(float, self.log10_flops)), tuple(map(float, self.efficiency))

    def __call__(self, flops: float) -> float:
        """``np.interp(log10(flops), log10_flops, efficiency)``, done in Python: the same operations
        on the same doubles (numpy's arr_interp for one point), without converting a scalar to an
        array and back, which cost four times the arithmetic."""
        x = float(np.log10(max(flops, 1.0)))  # numpy's log10, as before, to the last bit
        xp, fp = self._points
        if x != x:  # NaN in, NaN out
            return x
        if x <= xp[0]:  # below the first point (or on it): the first value
            return fp[0]
        if x >= xp[-1]:
            return fp[-1]
        j = bisect.bisect_right(xp, x) - 1  # xp[j] <= x < xp[j + 1]
        if xp[j] == x:
            return fp[j]
        slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
        return slope * (x - xp[j]) + fp[j]  # finite: no NaN to retry from the other side


class MemoryEfficiency(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bw_efficiency: float
    launch_overhead_s: float
    #: Vector-unit FLOP/s as a fraction of the BF16 matrix peak (for non-matmul ops).
    vector_peak_fraction: float
    note: str = ""


class LossPasses(BaseModel):
    """The cross-entropy as a framework runs it unfused: memory passes over the logits, per logit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bytes_per_logit_fwd: float
    bytes_per_logit_bwd: float
    kernels_fwd: int
    kernels_bwd: int
    note: str = ""


class RecomputeRules(BaseModel):
    """What the framework's activation recomputation runs again beyond the graph's own rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Selective recomputation checkpoints the attention core even when it is a FlashAttention
    #: kernel, so the kernel's forward runs again in the backward pass before its backward kernel.
    selective_reruns_flash_forward: bool
    note: str = ""


class OptimizerPasses(BaseModel):
    """Memory passes the framework's optimizer step makes besides the Adam update itself.

    The update (read FP32 weight, gradient and moments, write them back and the working copy) is
    the workload's ``build_optimizer_ops``; these are the framework's other passes, in bytes per
    parameter: over every parameter the rank holds (e.g. zeroing the gradient buffer, which the
    distributed optimizer does not shard) and over the rank's optimizer shard (e.g. the gradient
    norm for clipping).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    every_param_bytes: float
    shard_param_bytes: float
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> OptimizerPasses:
        if self.every_param_bytes < 0 or self.shard_param_bytes < 0:
            raise ValueError("optimizer pass bytes must be >= 0")
        return self


class EmbeddingGrad(BaseModel):
    """The embedding's weight gradient as the framework makes it: dense over the rank's table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Bytes moved per weight of the rank's table, every micro-batch (zeroing, accumulation).
    dense_grad_bytes_per_weight: float
    kernels: int
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> EmbeddingGrad:
        if self.dense_grad_bytes_per_weight < 0 or self.kernels < 0:
            raise ValueError("dense_grad_bytes_per_weight and kernels must be >= 0")
        return self


class EfficiencyCurves(BaseModel):
    """The analytic timing parameters of one chip."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chip: str
    source: str
    date: str
    confidence: str
    #: One factor on every matmul and attention efficiency, fitted end to end on the published runs
    #: (benchmarks/calibrate_efficiency.py); 1.0 where no calibration data exists.
    calibration_scale: float = 1.0
    calibration_note: str = ""
    matmul_bf16: Curve
    matmul_fp8: Curve
    attention_fwd: Curve
    attention_bwd: Curve
    memory: MemoryEfficiency
    #: How the loss runs when not one fused kernel (None: the graph's bytes, one kernel).
    loss: LossPasses | None = None
    #: The framework's recomputation beyond the graph's (None: exactly what the graph recomputes).
    recompute: RecomputeRules | None = None
    #: The framework's optimizer-step passes beyond the update (None: the update alone).
    optimizer: OptimizerPasses | None = None
    #: The embedding's dense weight gradient (None: the graph's per-token accumulation only).
    embedding: EmbeddingGrad | None = None


#: Curves by (chip name, family, catalog_dir, $TRNSIM_CATALOG, in-memory overrides): found and
#: parsed once, not looked up on disk per op; :func:`clear_loaded_efficiency`
#: (``devicetime.timing.clear_memo``) forgets them.
_LOADED: dict[tuple[str, ChipFamily, str | None, str | None, int], EfficiencyCurves] = {}


#: Validated curves by what they were made from: the file's name, path and bytes and the overlay in
#: force (tokens are never reused). A file edited in-process is read anew; an unchanged one is not
#: parsed and validated again after :func:`clear_loaded_efficiency` (caches above are emptied far
#: more often than files change: a planner's, a benchmark's rounds).
_PARSED: dict[tuple[str, str, bytes, int], EfficiencyCurves] = {}
_PARSED_LIMIT = 64


def clear_loaded_efficiency() -> None:
    """Forget the curves found so far (after editing an efficiency file in-process)."""
    _LOADED.clear()
    _RERUNS.clear()  # not data, but a cache of the evaluation: emptied with the op-time memo
    _RERUN_RULES.clear()
    _RERUN_TUPLES.clear()


def load_efficiency(chip: ChipSpec, catalog_dir: str | None = None) -> EfficiencyCurves:
    """The efficiency curves for ``chip`` (a user file first, then the shipped one)."""
    key = (chip.name, chip.family, catalog_dir, os.environ.get(CATALOG_ENV), overlay_token())
    curves = _LOADED.get(key)
    if curves is None:
        curves = _LOADED[key] = _find_efficiency(chip, catalog_dir)
    return curves


def _find_efficiency(chip: ChipSpec, catalog_dir: str | None) -> EfficiencyCurves:
    names = [chip.name]
    if chip.family in _FAMILY_DEFAULT:
        names.append(_FAMILY_DEFAULT[chip.family])
    for name in names:
        # the file EFFICIENCY.load reads: a user file replaces the shipped one whole (merge=False)
        user, shipped = EFFICIENCY.user_file(name, catalog_dir), EFFICIENCY.shipped_file(name)
        path = user if user is not None else shipped if shipped.is_file() else None
        if path is not None:
            key = (name, str(path), path.read_bytes(), overlay_token())
            curves = _PARSED.get(key)
            if curves is None:
                if len(_PARSED) >= _PARSED_LIMIT:
                    _PARSED.clear()
                curves = _PARSED[key] = EFFICIENCY.load_model(name, EfficiencyCurves, catalog_dir)
            return curves
    raise ConfigError(
        f"no efficiency curves for chip '{chip.name}' ({chip.family.value}); add "
        f"efficiency/{chip.name}.toml to ${CATALOG_ENV}"
    )


def has_efficiency_file(chip: ChipSpec) -> bool:
    """Whether ``chip`` is timed by efficiency curves (GPUs and TPUs; Trainium by its kernels)."""
    return chip.family in _FAMILY_DEFAULT


def selective_recompute_reruns(ops: Sequence[Op], chip: ChipSpec) -> tuple[Op, ...]:
    """The flash-attention forwards that selective recomputation runs again on ``chip``'s framework.

    The step graph recomputes nothing under selective recomputation with a FlashAttention kernel
    (the kernel's backward recomputes the scores itself). A framework that checkpoints the attention
    core regardless (Megatron-core, ``[recompute]`` in the GPU curves) runs the kernel's forward a
    second time in the backward pass: one more instance of each attention forward op, in the
    recompute phase. Chips without curves (Trainium) or without the rule get none. The caller
    checks that the plan uses selective recomputation with flash attention.
    """
    if chip.family not in _FAMILY_DEFAULT:
        return ()
    if type(ops) is tuple:  # immutable: the same reruns (one tuple) for every stage part holding it
        made = _RERUN_TUPLES.get(id(ops))
        if made is not None and made[0] is ops and made[1] is chip:
            return made[2]
        if len(_RERUN_TUPLES) >= _RERUNS_LIMIT:
            _RERUN_TUPLES.clear()
        reruns = _reruns_of(ops, chip)
        _RERUN_TUPLES[id(ops)] = (ops, chip, reruns)
        return reruns
    return _reruns_of(ops, chip)


#: Members read per op below, as module constants (each ``OpClass.X`` read goes through the enum
#: metaclass's ``__getattr__`` hook).
_ATTENTION, _FWD = OpClass.ATTENTION, Phase.FWD


def _reruns_of(ops: Sequence[Op], chip: ChipSpec) -> tuple[Op, ...]:
    attention = [op for op in ops if op.op_class is _ATTENTION and op.phase is _FWD]
    if not attention:  # nothing to rerun: the rule need not be looked up
        return ()
    rule = _RERUN_RULES.get(id(chip))
    if rule is None or rule[0] is not chip:  # the rule, found once per chip (not per stage part)
        rules = load_efficiency(chip).recompute
        rule = _RERUN_RULES[id(chip)] = (chip, rules is not None and rules.selective_reruns_flash_forward)
    if not rule[1]:
        return ()
    return tuple(_rerun(op) for op in attention)


def _rerun(op: Op) -> Op:
    """``op`` again in the recompute phase (made once per op object: a stage graph's attention op is
    shared by the graphs of every stage with the same layers, and each is timed)."""
    rerun = _RERUNS.get(id(op))
    if rerun is not None and rerun[0] is op:
        return rerun[1]
    if len(_RERUNS) >= _RERUNS_LIMIT:
        _RERUNS.clear()
    # dataclasses.replace(op, name=..., phase=...), without its field-by-field introspection
    made = Op(name=f"{op.name}.recompute", op_class=op.op_class, phase=Phase.RECOMPUTE, flops=op.flops,
              bytes_read=op.bytes_read, bytes_written=op.bytes_written, shape=op.shape, dtype=op.dtype,
              count=op.count, kernel=op.kernel, epilogue_of=op.epilogue_of)
    _RERUNS[id(op)] = (op, made)
    return made


#: Rerun ops by the identity of the op they repeat; an entry keeps that op, so an id is never reused.
_RERUNS: dict[int, tuple[Op, Op]] = {}
#: Whether each chip's framework reruns the flash forward, by the chip's identity (kept with it).
_RERUN_RULES: dict[int, tuple[ChipSpec, bool]] = {}
#: selective_recompute_reruns of a tuple of ops, by the tuple's identity (kept with it and the chip).
_RERUN_TUPLES: dict[int, tuple[tuple[Op, ...], ChipSpec, tuple[Op, ...]]] = {}
_RERUNS_LIMIT = 4096
