"""The plug-in point for kernel latency.

The chip model (``trnsim.core``) registers an estimator on import with
:func:`register_latency_estimator`; ``nki.benchmark`` and ``nki.profile`` call
:func:`estimate_latency_ns`. If nothing is registered, ``trnsim.core`` is imported so that it can
register itself: the one upward import of the package, listed as allowed in ``tests/test_layering.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from trnsim.errors import TrnsimError
from trnsim.nki.trace import KernelTrace

LatencyEstimator = Callable[[KernelTrace], float]
_ESTIMATOR: list[LatencyEstimator] = []


def register_latency_estimator(fn: LatencyEstimator) -> None:
    """Install ``fn(trace) -> nanoseconds`` as the latency model (replacing any previous one)."""
    _ESTIMATOR[:] = [fn]


def unregister_latency_estimator() -> None:
    """Remove the registered estimator (tests)."""
    _ESTIMATOR.clear()


def estimate_latency_ns(trace: KernelTrace) -> float:
    """Predicted latency of a traced kernel, in nanoseconds, from the registered model."""
    if not _ESTIMATOR:
        with contextlib.suppress(ImportError):
            import trnsim.core  # noqa: F401  (registers itself on import)
    if not _ESTIMATOR:
        raise TrnsimError(
            "no kernel latency model is available: trnsim.core did not register one"
            " (install the chip model, or call trnsim.nki.perf.register_latency_estimator)"
        )
    return float(_ESTIMATOR[0](trace))


#: the percentiles ``nki.benchmark`` reports (nki-semantics §1; others are not computed by the SDK)
PERCENTILES = (0, 1, 10, 25, 50, 90, 99, 100)


@dataclass(frozen=True)
class LatencyResult:
    """``benchmark_result.nc_latency``: percentiles in microseconds (deterministic model: all equal)."""

    latency_us: float

    def get_latency_percentile(self, percentile: int) -> float:
        """The latency at ``percentile`` (one of :data:`PERCENTILES`), in microseconds."""
        if percentile not in PERCENTILES:
            valid = ", ".join(map(str, PERCENTILES))
            raise TrnsimError(f"latency percentile {percentile} is not reported (valid: {valid})")
        return self.latency_us


@dataclass(frozen=True)
class BenchmarkResult:
    """What ``nki.benchmark`` leaves on the kernel as ``benchmark_result``."""

    nc_latency: LatencyResult
    trace: KernelTrace
