"""Durations as short human text, the unit chosen by magnitude (for tables people read, not JSON)."""

from __future__ import annotations

__all__ = ["format_duration"]

#: (seconds per unit, unit name), largest first; a value takes the first unit it reaches 1 of.
_UNITS: tuple[tuple[float, str], ...] = (
    (86400.0, "d"),
    (3600.0, "h"),
    (60.0, "min"),
    (1.0, "s"),
    (1e-3, "ms"),
    (1e-6, "us"),
)


def format_duration(seconds: float, decimals: int = 2) -> str:
    """``seconds`` as e.g. ``5.88 ms``, ``27.95 s``, ``4.73 h``: the largest unit it reaches 1 of.

    Always ``decimals`` decimals so a column of them reads alike; zero prints as ``0 s`` and anything
    under a microsecond in ``us``. Rounding that reaches the next unit (59.999 s) moves up to it.
    """
    if seconds == 0:
        return "0 s"
    magnitude = abs(seconds)
    for index, (unit_s, name) in enumerate(_UNITS):
        if magnitude >= unit_s or index == len(_UNITS) - 1:
            value = seconds / unit_s
            # 0.9999995 s would print as "1000.00 ms": step up when rounding reaches the larger unit.
            if index > 0 and round(abs(value), decimals) * unit_s >= _UNITS[index - 1][0]:
                bigger_s, bigger = _UNITS[index - 1]
                return f"{seconds / bigger_s:.{decimals}f} {bigger}"
            return f"{value:.{decimals}f} {name}"
    raise AssertionError("unreachable: the last unit catches every magnitude")
