"""Goodput: the Young/Daly checkpoint interval and the expected useful fraction of wall time."""

from __future__ import annotations

import math

import pytest

from trnsim.cluster.goodput import (
    _goodput,
    daly_facts,
    daly_goodput,
    daly_interval_s,
    estimate_goodput,
    goodput_fraction,
    young_interval_s,
)
from trnsim.errors import ConfigError


def test_young_interval() -> None:
    # delta = 60 s, M = 3 h = 10,800 s: sqrt(2 x 60 x 10,800) = sqrt(1,296,000) = 1,138.4 s.
    assert young_interval_s(60.0, 10800.0) == pytest.approx(math.sqrt(1_296_000))


def test_daly_interval_is_young_corrected() -> None:
    # Daly: sqrt(2 d M) (1 + sqrt(d/(2M))/3 + d/(18 M)) - d with d/M = 1/180:
    # 1138.42 x (1 + 0.05270/3 + 0.000309) - 60 = 1138.42 x 1.017876 - 60 = 1098.77 s.
    assert daly_interval_s(60.0, 10800.0) == pytest.approx(1098.77, rel=1e-4)
    assert daly_interval_s(100.0, 10.0) == 10.0  # delta >= 2M: checkpoint every MTBF


def test_goodput_matches_daly_and_its_first_order_expansion() -> None:
    # 10,000 chips at 1e-5 failures per chip-hour: 0.1 per hour -> M = 36,000 s.
    # Checkpoint 1 TB at 10 GB/s -> delta = 100 s; restart 500 s + reading back 100 s -> R = 600 s.
    r = estimate_goodput(
        10_000, 1.0, 1e12, failure_rate_per_chip_hour=1e-5, checkpoint_write_bytes_per_s=1e10,
        restart_s=500.0, interval_s=2000.0,
    )
    assert r.mtbf_s == pytest.approx(36_000.0)
    assert r.checkpoint_write_s == pytest.approx(100.0)
    # Daly: tau / (M e^(R/M) (e^((tau+delta)/M) - 1)) = 2000 / (36000 e^(1/60) (e^(2100/36000) - 1))
    exact = 2000 / (36000 * math.exp(600 / 36000) * math.expm1(2100 / 36000))
    assert r.goodput == pytest.approx(exact)
    # First order: 1 - delta/tau - (tau/2 + delta + R)/M ~ 1 - 0.05 - 0.0472 = 0.903 (Daly is 0.90)
    assert r.goodput == pytest.approx(1 - 100 / 2000 - (1000 + 100 + 600) / 36000, abs=0.01)
    assert r.failures_per_day == pytest.approx(2.4)


def test_default_interval_is_the_optimum() -> None:
    kwargs = {"failure_rate_per_chip_hour": 1e-5, "checkpoint_write_bytes_per_s": 1e10, "restart_s": 500.0}
    best = estimate_goodput(10_000, 1.0, 1e12, **kwargs)
    assert best.interval_s == pytest.approx(daly_interval_s(100.0, 36_000.0), abs=1.0)
    for tau in (best.interval_s * 0.5, best.interval_s * 2):
        assert estimate_goodput(10_000, 1.0, 1e12, interval_s=tau, **kwargs).goodput < best.goodput
    # More chips, more failures: lower goodput.
    assert estimate_goodput(100_000, 1.0, 1e12, **kwargs).goodput < best.goodput


def test_no_failures_and_bad_input() -> None:
    r = estimate_goodput(8, 1.0, 1e9, failure_rate_per_chip_hour=0.0, checkpoint_write_bytes_per_s=1e9,
                         restart_s=0.0)
    assert r.goodput == 1.0
    with pytest.raises(ConfigError, match="at least 1 chip"):
        estimate_goodput(0, 1.0, 1e9, failure_rate_per_chip_hour=0.0, checkpoint_write_bytes_per_s=1e9,
                         restart_s=0.0)


@pytest.mark.parametrize(("tau", "delta", "restart", "mtbf"),
                         [(600.0, 30.0, 120.0, 3600.0), (10.0, 1.0, 5.0, 1e6), (5e3, 50.0, 300.0, 2e3)])
def test_goodput_in_logs_matches_the_direct_formula(tau: float, delta: float, restart: float,
                                                    mtbf: float) -> None:
    direct = tau / (mtbf * math.exp(restart / mtbf) * math.expm1((tau + delta) / mtbf))
    assert _goodput(tau, delta, restart, mtbf) == pytest.approx(direct, rel=1e-12)


def test_goodput_of_an_interval_of_many_mtbfs_is_zero_not_overflow() -> None:
    # exp(1e6) overflows a double; the expected useful fraction underflows to 0 instead
    assert _goodput(1e6 * 3600.0, 60.0, 60.0, 3600.0) == 0.0


@pytest.mark.parametrize(("chips", "step_s", "checkpoint_bytes", "rate", "write", "restart"), [
    (8, 1.0, 1e9, 0.0, 1e9, 0.0), (1024, 11.7, 2.45e12, 1e-4, 128 * 2e9, 600.0),
    (1, 0.3, 0.0, 2e-5, 1e9, 10.0),
    (131072, 4.2, 5.7e12, 5e-5, 16384 * 1e9, 900.0), (64, 1e-3, 1e15, 1.0, 1e6, 1e4)])
def test_goodput_fraction_is_estimate_goodputs_goodput(chips: int, step_s: float, checkpoint_bytes: float,
                                                       rate: float, write: float,
                                                       restart: float) -> None:
    full = estimate_goodput(chips, step_s, checkpoint_bytes, failure_rate_per_chip_hour=rate,
                            checkpoint_write_bytes_per_s=write, restart_s=restart)
    assert goodput_fraction(chips, step_s, checkpoint_bytes, rate, write, restart) == full.goodput
    with pytest.raises(ConfigError, match="step_time_s > 0"):
        goodput_fraction(chips, 0.0, checkpoint_bytes, rate, write, restart)


@pytest.mark.parametrize("chips", [1, 64, 16_384, 131_072])
@pytest.mark.parametrize("step_s", [1e-3, 0.7, 13.0, 4000.0, 1e7])
def test_daly_goodput_from_kept_facts_is_goodput_fraction(chips: int, step_s: float) -> None:
    # a step evaluation keeps daly_facts per chip count: the goodput of each step from them must be
    # goodput_fraction's to the last bit (the same operations on the same doubles)
    facts = (chips, 1.6e13, 5e-5, 2.5e9, 600.0)
    kept = daly_facts(*facts)
    assert kept is not None
    assert daly_goodput(step_s, kept) == goodput_fraction(chips, step_s, *facts[1:])


def test_daly_facts_leave_failure_free_and_rejected_facts_to_goodput_fraction() -> None:
    assert daly_facts(8, 1e12, 0.0, 1e9, 60.0) is None  # no failures: goodput 1, by the full function
    for bad in [(0, 1e12, 1e-5, 1e9, 60.0), (8, -1.0, 1e-5, 1e9, 60.0), (8, 1e12, 1e-5, 0.0, 60.0),
                (8, 1e12, -1e-5, 1e9, 60.0), (8, 1e12, 1e-5, 1e9, -1.0)]:
        assert daly_facts(*bad) is None
        with pytest.raises(ConfigError):
            goodput_fraction(bad[0], 1.0, *bad[1:])
