"""Trainium op-time tables: a kernel simulated over a grid of shapes, interpolated in between.

The fast half of "two speeds, one truth" (docs/architecture.md): the chip model is the truth for
Trainium op times, but a planner cannot run an event simulation per shape. So
``python -m trnsim.devicetime.regenerate`` runs each kernel of ``trnsim.kernels`` through
``trnsim.core`` over a grid of shapes and writes one JSON table per (kernel, dtype, target) into
``devicetime/data/tables/``; this module loads them and interpolates.

Interpolation: multilinear in (log shape, log time) over the grid axes, which is exact for
power laws (time ∝ m·k·n at large shapes). Beyond the grid, time scales as a power of each axis:
linearly by default (a bigger shape repeats the same tiles), quadratically for an attention
table's sequence axis (queries and keys both grow); ``scale_axes`` are not gridded and multiply
the time directly.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from trnsim.errors import ConfigError

__all__ = ["TABLE_DIR", "OpTable", "find_table", "load_table", "stale_tables", "table_path"]

TABLE_DIR = Path(__file__).parent / "data" / "tables"


@dataclass(frozen=True)
class OpTable:
    """Simulated latencies of one kernel on one target, over a grid of shapes."""

    kernel: str
    dtype: str
    target: str
    axes: tuple[str, ...]
    grid: tuple[tuple[int, ...], ...]
    #: Latency in ns, shape = tuple(len(g) for g in grid).
    times_ns: np.ndarray
    #: Shape keys not gridded that multiply the time (independent instances).
    scale_axes: tuple[str, ...] = ()
    #: Fixed shape values the grid was simulated at (e.g. causal=1).
    fixed: Mapping[str, int] | None = None
    provenance: str = ""
    #: Power of an axis's growth beyond the grid (default 1: linear).
    extrapolation: Mapping[str, float] | None = None
    #: ``kernel_path.timing_model_version`` of the code and data that produced the times.
    model_version: str = ""

    @cached_property
    def _prepared(self) -> tuple[tuple[tuple[str, float, float, float, list[float]], ...], list[float],
                                 tuple[int, ...]]:
        """Per axis (name, low, high, extrapolation power, log grid); log times flat; their strides.

        Made once per table: the same numbers a call would otherwise recompute (np.log of the grid,
        math.log of each corner time), so interpolated values are unchanged to the last bit.
        """
        powers = self.extrapolation or {}
        axes = tuple((axis, float(points[0]), float(points[-1]), powers.get(axis, 1.0),
                      np.log(np.asarray(points, dtype=float)).tolist())
                     for axis, points in zip(self.axes, self.grid, strict=True))
        log_times = [math.log(float(t)) for t in self.times_ns.ravel(order="C")]
        dims = self.times_ns.shape  # strides of the C-order flat list, in elements
        strides = tuple(math.prod(dims[i + 1:]) for i in range(len(dims)))
        return axes, log_times, strides

    def interpolate_ns(self, shape: Mapping[str, int]) -> float:
        """Latency in ns of one call at ``shape`` (every grid axis must be present)."""
        missing = [a for a in (*self.axes, *self.scale_axes) if a not in shape]
        if missing:
            raise ConfigError(f"table {self.kernel}/{self.dtype}/{self.target}: shape lacks {missing}")
        axes, log_times, strides = self._prepared
        corners: list[list[tuple[int, float]]] = []
        scale = 1.0
        for (axis, lo, hi, power, logs), stride in zip(axes, strides, strict=True):
            value = float(shape[axis])
            clamped = min(max(value, lo), hi)
            scale *= (value / clamped) ** power
            if len(logs) == 1:
                corners.append([(0, 1.0)])
                continue
            x = math.log(clamped)
            j = min(max(bisect.bisect_right(logs, x) - 1, 0), len(logs) - 2)
            w = (x - logs[j]) / (logs[j + 1] - logs[j])
            corners.append([(j * stride, 1.0 - w), ((j + 1) * stride, w)])
        log_t = 0.0
        for combo in itertools.product(*corners):
            # math.prod of the weights and the sum of the offsets, in the same order, without two
            # generators per corner (1.0 * w is w, as math.prod's start 1 times w)
            weight, index = 1.0, 0
            for offset, w in combo:
                weight *= w
                index += offset
            if weight:
                log_t += weight * log_times[index]
        for axis in self.scale_axes:
            scale *= float(shape[axis])
        return math.exp(log_t) * scale

    def to_json(self) -> str:
        return json.dumps({
            "kernel": self.kernel, "dtype": self.dtype, "target": self.target, "axes": list(self.axes),
            "grid": [list(g) for g in self.grid], "times_ns": self.times_ns.tolist(),
            "scale_axes": list(self.scale_axes), "fixed": dict(self.fixed or {}),
            "extrapolation": dict(self.extrapolation or {}), "model_version": self.model_version,
            "provenance": self.provenance,
        }, indent=1)


def table_path(kernel: str, dtype: str, target: str, directory: Path = TABLE_DIR) -> Path:
    return directory / target / f"{kernel}-{dtype}.json"


def load_table(path: Path) -> OpTable:
    """Read one table file, checking that its grid and times agree."""
    try:
        data = json.loads(path.read_text())
        table = OpTable(
            kernel=data["kernel"], dtype=data["dtype"], target=data["target"], axes=tuple(data["axes"]),
            grid=tuple(tuple(int(v) for v in g) for g in data["grid"]),
            times_ns=np.asarray(data["times_ns"], dtype=float), scale_axes=tuple(data.get("scale_axes", ())),
            fixed=data.get("fixed") or {}, provenance=data.get("provenance", ""),
            extrapolation={k: float(v) for k, v in (data.get("extrapolation") or {}).items()},
            model_version=str(data.get("model_version", "")),
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{path}: not a valid op-time table ({error})") from None
    expected = tuple(len(g) for g in table.grid)
    if table.times_ns.shape != expected or not np.all(table.times_ns > 0):
        raise ConfigError(f"{path}: times_ns must be positive with shape {expected}")
    return table


@lru_cache(maxsize=128)
def find_table(kernel: str, dtype: str, target: str, directory: Path = TABLE_DIR) -> OpTable | None:
    """The shipped table for (kernel, dtype, target), or None when it has not been generated."""
    path = table_path(kernel, dtype, target, directory)
    return load_table(path) if path.is_file() else None


def stale_tables(directory: Path = TABLE_DIR) -> list[str]:
    """Shipped tables made by other versions of the kernels or chip model than the installed ones."""
    from trnsim.devicetime.kernel_path import timing_model_version

    stale = []
    for path in sorted(directory.glob("*/*.json")):
        table = load_table(path)
        if table.model_version != timing_model_version(table.target):
            stale.append(f"{table.target}/{path.stem}")
    return stale
