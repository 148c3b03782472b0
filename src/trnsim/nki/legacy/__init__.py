"""The legacy NKI front end, ``neuronxcc.nki`` (SDK 2.20-2.26).

``jit`` (every ``mode=``; sub-kernels called from kernels are inlined), ``trace``, ``baremetal``,
``simulate_kernel``, ``benchmark``, ``profile``; SPMD launch ``kernel[grid](...)``. Outputs may be
allocated in ``nl.shared_hbm`` and returned (2.21+), or passed in as arguments (2.20).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from trnsim.nki.kernel import decorate, run_values
from trnsim.nki.legacy import compiler, isa, language, private_api, typing
from trnsim.nki.tensor import Tensor as tensor

#: ``nki._private.private_api`` as kernels reach it by attribute
_private = SimpleNamespace(private_api=private_api)

__all__ = [
    "baremetal",
    "benchmark",
    "compiler",
    "isa",
    "jit",
    "language",
    "profile",
    "simulate_kernel",
    "tensor",
    "trace",
    "typing",
]


def _decorator(mode: str, func: Callable[..., Any] | None, kwargs: dict[str, Any]) -> Any:
    return decorate(mode, func, kwargs, "legacy")


def jit(func: Callable[..., Any] | None = None, mode: str = "auto", **kwargs: Any) -> Any:
    """Make ``func`` an NKI kernel; called with numpy arrays it runs on trnsim's CPU simulator."""
    return _decorator(mode, func, kwargs)


def trace(func: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``jit(mode='trace')``: a sub-kernel inlined into its caller."""
    return _decorator("trace", func, kwargs)


def baremetal(kernel: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """Run standalone with numpy inputs and outputs (on trnsim: a CPU simulation)."""
    return _decorator("baremetal", kernel, kwargs)


def benchmark(
    kernel: Callable[..., Any] | None = None, *, warmup: int = 10, iters: int = 100, **kwargs: Any
) -> Any:
    """Predict latency: afterwards ``kernel.benchmark_result.nc_latency.get_latency_percentile(p)`` (us).

    The kernel is traced in timing-only mode (arguments may be ``nt.tensor[shape, dtype]``
    placeholders) and the trace goes to the registered latency model (``trnsim.nki.perf``).
    """
    return _decorator("benchmark", kernel, {**kwargs, "warmup": warmup, "iters": iters})


def profile(func: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """Like ``benchmark``: fills ``benchmark_result`` from the latency model (no NEFF/NTFF files)."""
    return _decorator("profile", func, kwargs)


def simulate_kernel(kernel: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a kernel (or ``kernel[grid]``) on numpy arrays and return its outputs."""
    return run_values(kernel, args, kwargs, "legacy")
