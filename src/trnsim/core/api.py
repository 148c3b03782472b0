"""Entry points other layers use: predicting a kernel's latency, and the nki.benchmark hook."""

from __future__ import annotations

import importlib
from typing import Any

from trnsim.core.errors import TimingModelError
from trnsim.core.simulate import simulate_trace
from trnsim.hardware.neuroncore_timing import NeuronCoreTiming
from trnsim.nki.trace import KernelTrace

__all__ = ["estimate_latency_ns", "predict_latency_ns", "register_with_kernel_layer"]


def estimate_latency_ns(trace: KernelTrace) -> float:
    """Latency of one traced launch on the trace's own target (the ``nki.benchmark`` hook)."""
    return simulate_trace(trace, trace.target).latency_ns


def _trace_kernel(kernel: Any, args: tuple[Any, ...], target: str) -> KernelTrace:
    try:
        nki = importlib.import_module("trnsim.nki")
        trace_kernel = nki.trace_kernel
    except (ImportError, AttributeError):
        raise TimingModelError(
            "tracing a kernel needs trnsim.nki.trace_kernel, which this installation lacks; "
            "pass a KernelTrace to trnsim.core.simulate_trace instead") from None
    trace = trace_kernel(kernel, *args, target=target, timing_only=True)
    if not isinstance(trace, KernelTrace):
        raise TimingModelError(f"trnsim.nki.trace_kernel returned {type(trace).__name__}, not a KernelTrace")
    return trace


def predict_latency_ns(kernel: Any, *args: Any, target: str | NeuronCoreTiming = "trn2") -> float:
    """Trace ``kernel(*args)`` in timing-only mode and predict its latency on ``target`` in ns.

    ``args`` may be NumPy arrays or anything the kernel layer accepts in timing-only mode (shapes
    and dtypes suffice there).
    """
    name = target.target if isinstance(target, NeuronCoreTiming) else target
    trace = _trace_kernel(kernel, args, name)
    return simulate_trace(trace, target).latency_ns


def register_with_kernel_layer() -> bool:
    """Register :func:`estimate_latency_ns` with ``trnsim.nki.perf`` if the kernel layer has it."""
    try:
        perf = importlib.import_module("trnsim.nki.perf")
    except ImportError:
        return False
    register = getattr(perf, "register_latency_estimator", None)
    if register is None:
        return False
    register(estimate_latency_ns)
    return True
