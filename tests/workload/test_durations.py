"""Durations for people: the largest unit the value reaches 1 of, always two decimals."""

from __future__ import annotations

import pytest

from trnsim.workload.durations import format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0 s"),
        (0.004522, "4.52 ms"),  # 4.522e-3 s = 4.522 ms
        (0.08592, "85.92 ms"),
        (27.95, "27.95 s"),
        (90.0, "1.50 min"),  # 90 / 60
        (17030.0, "4.73 h"),  # 17030 / 3600 = 4.7306
        (3 * 86400.0, "3.00 d"),
        (2.5e-7, "0.25 us"),  # below a microsecond stays in us
        (0.9999999, "1.00 s"),  # would round to 1000.00 ms: steps up instead
        (-0.002, "-2.00 ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
