"""Entry points other layers use: predicting a kernel's latency, and the nki.benchmark hook."""

from __future__ import annotations

from typing import Any

from trnsim.core.errors import TimingModelError, wrong_argument
from trnsim.core.simulate import simulate_trace
from trnsim.hardware.neuroncore_timing import NeuronCoreTiming, known_targets
from trnsim.nki.trace import KernelTrace

__all__ = ["estimate_latency_ns", "predict_latency_ns", "register_with_kernel_layer"]


def estimate_latency_ns(trace: KernelTrace) -> float:
    """Latency of one traced launch on the trace's own target (the ``nki.benchmark`` hook)."""
    if not isinstance(trace, KernelTrace):
        raise wrong_argument("estimate_latency_ns", "trace", "a KernelTrace (trnsim.nki.trace_kernel)", trace)
    return simulate_trace(trace, trace.target).latency_ns


def _trace_kernel(kernel: Any, args: tuple[Any, ...], target: str) -> KernelTrace:
    try:
        from trnsim.nki import trace_kernel  # here, not at the top: core's import stays light
    except ImportError:
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
    if not isinstance(target, str | NeuronCoreTiming):
        raise wrong_argument("predict_latency_ns", "target", f"a target name ({', '.join(known_targets())}) "
                             "or a NeuronCoreTiming (load_timing)", target)
    name = target.target if isinstance(target, NeuronCoreTiming) else target
    trace = _trace_kernel(kernel, args, name)
    return simulate_trace(trace, target).latency_ns


def register_with_kernel_layer() -> None:
    """Register :func:`estimate_latency_ns` as ``trnsim.nki.perf``'s latency model (for ``nki.benchmark``)."""
    from trnsim.nki import perf

    perf.register_latency_estimator(estimate_latency_ns)
