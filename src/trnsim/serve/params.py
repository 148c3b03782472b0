"""Serving parameters from ``serve/data/serving.toml`` (overridable by ``$TRNSIM_CATALOG/serving.toml``).

Loaded through the data-file scheme of :mod:`trnsim.hardware.datafile`: the user file is merged
key by key over the shipped one (a plain number replaces a value and is recorded as coming from
that file), and an in-memory override of ``"serving/serving"`` applies the same way.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import ChipFamily, ChipSpec
from trnsim.hardware.datafile import CATALOG_ENV, DataKind, overlay_token

__all__ = ["Overheads", "ServingParams", "load_serving_params"]

#: The one serving file; the user's is ``<catalog>/serving.toml``.
SERVING = DataKind("serving", Path(__file__).parent / "data", user_subdir="")


@dataclass(frozen=True)
class Overheads:
    """Fixed costs of one chip family's serving runtime, in seconds, and where they come from."""

    step_s: float
    collective_s: float
    request_s: float
    confidence: str
    source: str


@dataclass(frozen=True)
class ServingParams:
    """Everything of ``serving.toml``."""

    overheads: dict[str, Overheads]
    #: Requests one context-encoding graph execution takes, per chip family.
    context_batch: dict[str, int]
    acceptance_rate: float
    speculation_length: int
    reserved_fraction: float

    def for_chip(self, chip: ChipSpec) -> Overheads:
        """The overheads of the chip's family (Trainium, GPU, TPU)."""
        return self.overheads[_family(chip)]

    def context_batch_for(self, chip: ChipSpec) -> int:
        """Requests one context encoding of the chip family's serving runtime takes."""
        return self.context_batch[_family(chip)]


def _family(chip: ChipSpec) -> str:
    if chip.family is ChipFamily.TRAINIUM:
        return "trainium"
    return "tpu" if chip.family is ChipFamily.TPU else "gpu"


def _value(table: dict[str, Any], key: str, where: str) -> Any:
    try:
        entry = table[key]
        return entry["value"] if isinstance(entry, dict) else entry
    except KeyError:
        raise ConfigError(f"{where}: missing '{key}'") from None


def _number(table: dict[str, Any], key: str, where: str) -> float:
    """``table[key]`` as a number; a user's "x" or true is one line, not a ValueError traceback."""
    value = _value(table, key, where)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def _whole(table: dict[str, Any], key: str, where: str) -> int:
    """``table[key]`` as a whole number (a count)."""
    value = _number(table, key, where)
    if not value.is_integer():
        raise ConfigError(f"{where}: '{key}' must be a whole number, got {value!r}")
    return int(value)


def _within(table: dict[str, Any], key: str, where: str, valid: str, low: float = 0.0,
            high: float = math.inf, open_high: bool = False) -> float:
    """``table[key]`` as a finite number in [low, high] ([low, high) when ``open_high``): a negative
    host cost made a negative TPOT, a reserved fraction of 1.5 a negative capacity."""
    value = _number(table, key, where)
    if not (math.isfinite(value) and low <= value and (value < high if open_high else value <= high)):
        raise ConfigError(f"{where}: '{key}' must be {valid}, got {value!r}")
    return value


@cache
def _load(user_dir: str | None, token: int) -> ServingParams:
    data = SERVING.load("serving", user_dir).data
    overheads = {}
    for family, table in data["overhead"].items():
        where = f"serving.toml [overhead.{family}]"
        step = table.get("step_s", {})
        overheads[family] = Overheads(
            step_s=_within(table, "step_s", where, "seconds >= 0"),
            collective_s=_within(table, "collective_s", where, "seconds >= 0"),
            request_s=_within(table, "request_s", where, "seconds >= 0"),
            confidence=str(step.get("confidence", "")) if isinstance(step, dict) else "",
            source=str(step.get("source", "")) if isinstance(step, dict) else "",
        )
    context_batch = {}
    for family, table in data["runtime"].items():
        batch = _whole(table, "context_encoding_batch", f"serving.toml [runtime.{family}]")
        if batch < 1:
            raise ConfigError(f"serving.toml [runtime.{family}]: context_encoding_batch must be at least 1, "
                              f"got {batch}")
        context_batch[family] = batch
    spec = data["speculative"]
    length = _whole(spec, "speculation_length", "serving.toml [speculative]")
    if length < 1:
        raise ConfigError(f"serving.toml [speculative]: 'speculation_length' must be a whole number >= 1, "
                          f"got {length}")
    return ServingParams(
        overheads=overheads, context_batch=context_batch,
        acceptance_rate=_within(spec, "acceptance_rate", "serving.toml [speculative]", "in [0, 1]", high=1.0),
        speculation_length=length,
        reserved_fraction=_within(data["memory"], "reserved_fraction", "serving.toml [memory]",
                                  "a fraction in [0, 1)", high=1.0, open_high=True),
    )


def load_serving_params() -> ServingParams:
    """The shipped serving parameters with the user's ``$TRNSIM_CATALOG/serving.toml`` on top."""
    return _load(os.environ.get(CATALOG_ENV) or None, overlay_token())
