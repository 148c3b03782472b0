"""Goodput at scale: the fraction of wall time that trains, given failures and checkpoints.

Failures of ``N`` chips, each failing at rate ``lambda`` per hour (exponential, independent), arrive
with a job mean time between failures ``M = 1 / (N lambda)``. A checkpoint takes ``delta`` to write;
after a failure the job spends ``R`` restarting (reschedule, load the checkpoint) and redoes the work
since the last checkpoint. Daly (2006, "A higher order estimate of the optimum checkpoint interval
for restart dumps") gives the expected wall time per unit of work for a compute interval ``tau``:

    T_wall / T_work = M exp(R / M) (exp((tau + delta) / M) - 1) / tau

so the goodput is its inverse. The optimum interval is Young's ``sqrt(2 delta M)`` to first
order; Daly's higher-order form ``sqrt(2 delta M) (1 + sqrt(delta/(2M))/3 + delta/(18 M)) - delta``
(for ``delta < 2 M``, else ``M``) is the default here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from trnsim.errors import ConfigError

__all__ = [
    "GoodputResult",
    "daly_interval_s",
    "estimate_goodput",
    "goodput_fraction",
    "goodput_upper_bound",
    "young_interval_s",
]

_HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class GoodputResult:
    """Expected useful fraction of wall time and what drives it."""

    chips: int
    mtbf_s: float  # mean time between failures of the whole job
    checkpoint_write_s: float
    recovery_s: float  # restart plus reading the checkpoint back
    interval_s: float  # compute time between checkpoints
    goodput: float  # useful training time / wall time, in (0, 1]
    failures_per_day: float

    def to_dict(self) -> dict[str, float]:
        """Plain dict for JSON output."""
        return {key: float(value) for key, value in asdict(self).items()}


def young_interval_s(checkpoint_write_s: float, mtbf_s: float) -> float:
    """Young's (1974) first-order optimum checkpoint interval ``sqrt(2 delta M)``."""
    return math.sqrt(2 * checkpoint_write_s * mtbf_s)


def daly_interval_s(checkpoint_write_s: float, mtbf_s: float) -> float:
    """Daly's (2006) higher-order optimum checkpoint interval."""
    delta, m = checkpoint_write_s, mtbf_s
    if delta >= 2 * m:
        return m
    ratio = math.sqrt(delta / (2 * m))
    return math.sqrt(2 * delta * m) * (1 + ratio / 3 + (delta / m) / 18) - delta


def _goodput(interval_s: float, delta_s: float, restart_s: float, mtbf_s: float) -> float:
    # wall/work = M e^(R/M) (e^((tau+delta)/M) - 1) / tau, in logs: an interval of many MTBFs would
    # overflow exp() although the answer (goodput -> 0) is well defined.
    x = (interval_s + delta_s) / mtbf_s
    log_expm1 = x + math.log1p(-math.exp(-x)) if x > 1.0 else math.log(math.expm1(x))
    log_ratio = math.log(interval_s) - math.log(mtbf_s) - restart_s / mtbf_s - log_expm1
    return math.exp(log_ratio) if log_ratio > -745.0 else 0.0  # below exp()'s smallest subnormal


def estimate_goodput(
    chips: int,
    step_time_s: float,
    checkpoint_bytes: float,
    *,
    failure_rate_per_chip_hour: float,
    checkpoint_write_bytes_per_s: float,
    restart_s: float,
    interval_s: float | None = None,
) -> GoodputResult:
    """Goodput of a run on ``chips`` chips (checkpoint written at ``checkpoint_write_bytes_per_s`` in all).

    The interval defaults to Daly's optimum, rounded up to whole steps; restoring the checkpoint
    after a failure is counted as reading it back at the write bandwidth, on top of ``restart_s``.
    """
    _check(chips, step_time_s, checkpoint_bytes, failure_rate_per_chip_hour, checkpoint_write_bytes_per_s,
           restart_s, interval_s)
    mtbf, delta, recovery, tau, goodput = _run_goodput(
        chips, step_time_s, checkpoint_bytes, failure_rate_per_chip_hour, checkpoint_write_bytes_per_s,
        restart_s, interval_s)
    per_day = 0.0 if math.isinf(mtbf) else 86400.0 / mtbf
    return GoodputResult(chips, mtbf, delta, recovery, tau, goodput, per_day)


def goodput_fraction(chips: int, step_time_s: float, checkpoint_bytes: float,
                     failure_rate_per_chip_hour: float, checkpoint_write_bytes_per_s: float,
                     restart_s: float) -> float:
    """:func:`estimate_goodput`'s ``goodput`` at Daly's interval (the same checks, the same value),
    without building the result (a step evaluation asks for it alone)."""
    _check(chips, step_time_s, checkpoint_bytes, failure_rate_per_chip_hour, checkpoint_write_bytes_per_s,
           restart_s, None)
    return _run_goodput(chips, step_time_s, checkpoint_bytes, failure_rate_per_chip_hour,
                        checkpoint_write_bytes_per_s, restart_s, None)[4]


def daly_facts(chips: int, checkpoint_bytes: float, failure_rate_per_chip_hour: float,
               checkpoint_write_bytes_per_s: float,
               restart_s: float) -> tuple[float, float, float, float] | None:
    """What :func:`goodput_fraction` computes before it reads the step time: (checkpoint write,
    recovery, MTBF, Daly's interval clipped at 0) in seconds; None where :func:`goodput_fraction`
    would reject these facts (whatever the step time) or no chip fails (MTBF infinite). A step
    evaluation keeps them per model, system and chip count, and asks :func:`daly_goodput` per step."""
    if (chips < 1 or checkpoint_bytes < 0 or checkpoint_write_bytes_per_s <= 0
            or failure_rate_per_chip_hour < 0 or restart_s < 0):
        return None
    delta = checkpoint_bytes / checkpoint_write_bytes_per_s
    rate_per_s = chips * failure_rate_per_chip_hour / _HOUR_S
    if rate_per_s == 0:
        return None
    mtbf = 1 / rate_per_s
    return delta, restart_s + delta, mtbf, max(daly_interval_s(delta, mtbf), 0.0)


def daly_goodput(step_time_s: float, facts: tuple[float, float, float, float]) -> float:
    """:func:`goodput_fraction` of a step time > 0 from its :func:`daly_facts` (the same value)."""
    delta, recovery, mtbf, daly = facts
    return _goodput(_whole_steps(daly, step_time_s), delta, recovery, mtbf)


def _whole_steps(interval_s: float, step_time_s: float) -> float:
    """A checkpoint interval rounded up to whole steps, at least one step."""
    return max(step_time_s, math.ceil(interval_s / step_time_s) * step_time_s)


def _check(chips: int, step_time_s: float, checkpoint_bytes: float,
           failure_rate_per_chip_hour: float, checkpoint_write_bytes_per_s: float, restart_s: float,
           interval_s: float | None) -> None:
    if chips < 1:
        raise ConfigError(f"goodput needs at least 1 chip, got {chips}")
    if step_time_s <= 0 or checkpoint_bytes < 0 or checkpoint_write_bytes_per_s <= 0:
        raise ConfigError(
            "goodput needs step_time_s > 0, checkpoint_bytes >= 0 and a write bandwidth > 0; got "
            f"{step_time_s}, {checkpoint_bytes}, {checkpoint_write_bytes_per_s}"
        )
    if failure_rate_per_chip_hour < 0 or restart_s < 0:
        raise ConfigError(
            f"failure rate and restart time must be >= 0, got {failure_rate_per_chip_hour}, {restart_s}"
        )
    if interval_s is not None and interval_s <= 0:
        raise ConfigError(f"checkpoint interval must be > 0 s, got {interval_s}")


def _run_goodput(chips: int, step_time_s: float, checkpoint_bytes: float,
                 failure_rate_per_chip_hour: float, checkpoint_write_bytes_per_s: float, restart_s: float,
                 interval_s: float | None) -> tuple[float, float, float, float, float]:
    """(MTBF, checkpoint write, recovery, interval, goodput) in seconds and as a fraction."""
    delta = checkpoint_bytes / checkpoint_write_bytes_per_s
    recovery = restart_s + delta
    rate_per_s = chips * failure_rate_per_chip_hour / _HOUR_S
    if rate_per_s == 0:
        tau = interval_s if interval_s is not None else math.inf
        return math.inf, delta, recovery, tau, 1.0 if math.isinf(tau) else tau / (tau + delta)
    mtbf = 1 / rate_per_s
    if interval_s is None:
        tau = _whole_steps(max(daly_interval_s(delta, mtbf), 0.0), step_time_s)
    else:
        tau = interval_s
    return mtbf, delta, recovery, tau, _goodput(tau, delta, recovery, mtbf)


#: Relative slack of :func:`goodput_upper_bound` over the formula's maximum: the goodput is computed
#: through logs and exponentials, each good to a few units in the last place (~1e-16).
_BOUND_SLACK = 1e-9


def goodput_upper_bound(
    chips: int,
    checkpoint_bytes: float,
    *,
    failure_rate_per_chip_hour: float,
    checkpoint_write_bytes_per_s: float,
    restart_s: float,
) -> float:
    """No :func:`estimate_goodput` of these facts exceeds this, whatever the step time or interval.

    With ``u = tau + delta`` and ``e^x - 1 >= x + x^2/2`` (x >= 0), the goodput
    ``tau e^(-R/M) / (M (e^(u/M) - 1))`` is at most ``e^(-R/M) (u - delta) / (u + u^2 / (2M))``,
    largest at ``u* = delta + sqrt(delta^2 + 2 delta M)``. A search bounds a plan's time-to-train
    with it before timing the plan (within 1e-4 of the goodput at Daly's interval on the catalog).
    """
    rate_per_s = chips * failure_rate_per_chip_hour / _HOUR_S
    if rate_per_s <= 0:
        return 1.0
    mtbf = 1 / rate_per_s
    delta = checkpoint_bytes / checkpoint_write_bytes_per_s
    restart = math.exp(-(restart_s + delta) / mtbf)
    if delta <= 0:
        return min(1.0, restart * (1 + _BOUND_SLACK))  # the supremum, as tau -> 0
    u = delta + math.sqrt(delta * delta + 2 * delta * mtbf)
    # The ratio first: restart * (u - delta) alone can underflow when both are tiny (u ~ 1e-157).
    return min(1.0, restart * ((u - delta) / (u + u * u / (2 * mtbf))) * (1 + _BOUND_SLACK))
