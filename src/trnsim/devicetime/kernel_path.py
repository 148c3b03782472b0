"""Trainium op times from the project's own kernels run through the NeuronCore model.

An op maps to a kernel of ``trnsim.kernels`` (its ``Op.kernel`` name) and the shape of one call
(:func:`kernel_call`); :func:`simulate_ns` traces that kernel in timing-only mode and runs the
trace through ``trnsim.core``. Both layers are imported lazily: without them (or without a kernel
for an op) :class:`KernelPathUnavailable` says so and callers fall back to the roofline.

A kernel runs on one physical NeuronCore. A logical core of LNC=2 cores splits the op's
independent tiles between its two cores, so the op takes the single-core time divided by the LNC
size (an ideal split: the sharing of HBM bandwidth between the pair is not modelled here).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trnsim.devicetime.ops import Op, OpClass
from trnsim.errors import TrnsimError

__all__ = ["KernelCall", "KernelPathUnavailable", "kernel_call", "simulate_ns", "timing_model_version"]


class KernelPathUnavailable(TrnsimError):
    """The kernel or chip-model layer cannot time this op (not built, or no kernel for it)."""


@dataclass(frozen=True)
class KernelCall:
    """One kernel launch: name, the shape it takes, dtype, and identical launches per op instance."""

    kernel: str
    shape: Mapping[str, int]
    dtype: str
    repeats: int = 1


def kernel_call(op: Op) -> KernelCall | None:
    """The kernel launch that implements one instance of ``op``, or None when none does."""
    if not op.kernel:
        return None
    if op.op_class is OpClass.ATTENTION:
        # One launch per (batch, head): the kernel tables are per head.
        shape = {k: int(op.shape[k]) for k in ("seq_q", "seq_kv", "head_dim_qk", "head_dim_v", "causal")}
        return KernelCall(op.kernel, shape, op.dtype.value, repeats=int(op.shape["batch_heads"]))
    return KernelCall(op.kernel, {k: int(v) for k, v in op.shape.items()}, op.dtype.value)


def _registry() -> Any:
    try:
        return importlib.import_module("trnsim.kernels.registry")
    except ImportError:
        raise KernelPathUnavailable("the kernel library (trnsim.kernels.registry) is not installed") from None


def _core() -> Any:
    try:
        core = importlib.import_module("trnsim.core")
        return core.predict_latency_ns
    except (ImportError, AttributeError):
        raise KernelPathUnavailable(
            "the chip model (trnsim.core.predict_latency_ns) is not installed") from None


def _entry(registry: Any, name: str) -> Any:
    getter = getattr(registry, "get_kernel", None) or getattr(registry, "get", None)
    try:
        if getter is not None:
            return getter(name)
        return registry.KERNELS[name]
    except (KeyError, LookupError, TrnsimError):
        raise KernelPathUnavailable(f"no kernel '{name}' in trnsim.kernels.registry") from None


def simulate_ns(call: KernelCall, target: str) -> float:
    """Latency in ns of one launch of ``call`` on one NeuronCore of ``target`` (event simulation)."""
    entry = _entry(_registry(), call.kernel)
    args = entry.make_args(dict(call.shape), call.dtype)
    return float(_core()(entry.kernel, *args, target=target))


def timing_model_version(target: str) -> str:
    """A tag that changes when the chip model's timing data changes (for cache keys)."""
    try:
        core = importlib.import_module("trnsim.core")
    except ImportError:
        return "none"
    version = getattr(core, "TIMING_MODEL_VERSION", None) or getattr(core, "__version__", None)
    return f"{target}:{version or 'unversioned'}"
