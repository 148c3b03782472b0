"""Serving parameters from ``serve/data/serving.toml`` (overridable by ``$TRNSIM_CATALOG/serving.toml``)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import ChipFamily, ChipSpec

__all__ = ["Overheads", "ServingParams", "load_serving_params"]

_FILE = Path(__file__).parent / "data" / "serving.toml"


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


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            and "value" not in value else value
    return out


@cache
def _load(user_dir: str | None) -> ServingParams:
    data = tomllib.loads(_FILE.read_text())
    if user_dir:
        path = Path(user_dir) / "serving.toml"
        if path.is_file():
            try:
                data = _merge(data, tomllib.loads(path.read_text()))
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"{path}: not valid TOML ({error})") from None
    overheads = {}
    for family, table in data["overhead"].items():
        where = f"serving.toml [overhead.{family}]"
        step = table.get("step_s", {})
        overheads[family] = Overheads(
            step_s=float(_value(table, "step_s", where)),
            collective_s=float(_value(table, "collective_s", where)),
            request_s=float(_value(table, "request_s", where)),
            confidence=str(step.get("confidence", "")) if isinstance(step, dict) else "",
            source=str(step.get("source", "")) if isinstance(step, dict) else "",
        )
    context_batch = {}
    for family, table in data["runtime"].items():
        batch = int(_value(table, "context_encoding_batch", f"serving.toml [runtime.{family}]"))
        if batch < 1:
            raise ConfigError(f"serving.toml [runtime.{family}]: context_encoding_batch must be at least 1, "
                              f"got {batch}")
        context_batch[family] = batch
    spec = data["speculative"]
    return ServingParams(
        overheads=overheads, context_batch=context_batch,
        acceptance_rate=float(_value(spec, "acceptance_rate", "serving.toml [speculative]")),
        speculation_length=int(_value(spec, "speculation_length", "serving.toml [speculative]")),
        reserved_fraction=float(_value(data["memory"], "reserved_fraction", "serving.toml [memory]")),
    )


def load_serving_params() -> ServingParams:
    """The shipped serving parameters with the user's ``$TRNSIM_CATALOG/serving.toml`` on top."""
    return _load(os.environ.get("TRNSIM_CATALOG") or None)
