"""Quantities with units in data files: ``"96 GiB"``, ``"2.9 TB/s"``, ``"667 TFLOPS"``.

Catalog files may give a number in the field's base unit (bytes, bytes/s, FLOP/s, W) or a string
with a unit. Each field declares the kind of quantity it holds, so a value in the wrong unit
(``hbm_bytes = "2.9 TB/s"``) is rejected with a message that says what would be valid. Values
are converted once, here, when the file is loaded.
"""

from __future__ import annotations

import re
from enum import StrEnum

from trnsim.errors import ConfigError

__all__ = ["QuantityKind", "parse_quantity"]


class QuantityKind(StrEnum):
    """What a catalog field measures; decides which unit suffixes it accepts."""

    BYTES = "bytes"
    BYTES_PER_S = "bytes_per_s"
    FLOPS = "flops_per_s"
    WATTS = "watts"
    USD_PER_HOUR = "usd_per_hour"
    COUNT = "count"
    TIME = "seconds"
    FREQUENCY = "hertz"


_DECIMAL = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}


def _unit_table(kind: QuantityKind) -> dict[str, float]:
    """Accepted unit suffixes for one kind, each with its factor to the base unit."""
    table: dict[str, float] = {}
    if kind is QuantityKind.BYTES:
        for prefix, factor in {**_DECIMAL, **_BINARY}.items():
            table[f"{prefix}B"] = factor
    elif kind is QuantityKind.BYTES_PER_S:
        for prefix, factor in {**_DECIMAL, **_BINARY}.items():
            table[f"{prefix}B/s"] = factor
        for prefix, factor in _DECIMAL.items():
            table[f"{prefix}bps"] = factor / 8.0  # network links are quoted in bits
            table[f"{prefix}b/s"] = factor / 8.0
    elif kind is QuantityKind.FLOPS:
        for prefix, factor in _DECIMAL.items():
            table[f"{prefix}FLOPS"] = factor
            table[f"{prefix}FLOP/s"] = factor
    elif kind is QuantityKind.WATTS:
        table.update({"W": 1.0, "kW": 1e3})
    elif kind is QuantityKind.USD_PER_HOUR:
        table.update({"USD/h": 1.0, "$/h": 1.0})
    elif kind is QuantityKind.TIME:
        table.update({"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "h": 3600.0})
    elif kind is QuantityKind.FREQUENCY:
        for prefix, factor in _DECIMAL.items():
            table[f"{prefix}Hz"] = factor
    return table


_PATTERN = re.compile(r"^\s*([-+]?[0-9][0-9_,]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z$/]*)\s*$")


def parse_quantity(value: object, kind: QuantityKind, where: str) -> float:
    """Return ``value`` in the base unit of ``kind``; ``where`` names the field for errors.

    Numbers pass through unchanged (they are already in the base unit). Strings must be a number
    followed by a unit accepted for ``kind``; anything else raises :class:`ConfigError`.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number or a quantity string, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        table = _unit_table(kind)
        if match is None:
            raise ConfigError(
                f"{where}: cannot read {value!r} as a quantity; write a number and a unit "
                f"such as {_example(kind)}"
            )
        digits, unit = match.groups()
        if unit and unit not in table:
            valid = ", ".join(sorted(table)) or "none (a plain number)"
            raise ConfigError(f"{where}: unit {unit!r} is wrong for {kind.value}; valid units: {valid}")
        number = float(digits.replace("_", "").replace(",", "")) * (table[unit] if unit else 1.0)
    else:
        raise ConfigError(f"{where}: expected a number or a quantity string, got {type(value).__name__}")
    if number < 0:
        raise ConfigError(f"{where}: must not be negative, got {value!r}")
    return number


def _example(kind: QuantityKind) -> str:
    return {
        QuantityKind.BYTES: "'96 GiB'",
        QuantityKind.BYTES_PER_S: "'2.9 TB/s' or '3.2 Tbps'",
        QuantityKind.FLOPS: "'667 TFLOPS'",
        QuantityKind.WATTS: "'700 W'",
        QuantityKind.USD_PER_HOUR: "'21.5 USD/h'",
        QuantityKind.COUNT: "'8'",
        QuantityKind.TIME: "'1.5 us'",
        QuantityKind.FREQUENCY: "'1.4 GHz'",
    }[kind]
