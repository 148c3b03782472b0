"""The current NKI front end, ``nki`` (NKI 0.2+ / SDK 2.27+).

``nki.jit`` kernels write ``dst``-first ``nki.isa`` instructions; ``nki.simulate(kernel)(*args)``
runs one on numpy arrays (so does calling it directly, with or without ``NKI_SIMULATOR=1``);
``kernel[n]`` launches ``n`` logical cores (LNC). ``NEURON_PLATFORM_TARGET_OVERRIDE`` picks the
generation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trnsim.nki.current import isa, language, typing
from trnsim.nki.kernel import decorate, run_values
from trnsim.nki.tensor import Tensor

__all__ = ["benchmark", "dtype", "isa", "jit", "language", "profile", "simulate", "tensor", "typing"]

tensor = Tensor
dtype = np.dtype


def jit(fn: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """Make ``fn`` an NKI kernel (numpy arguments run on trnsim's simulator)."""
    return decorate("auto", fn, kwargs, "current")


def benchmark(
    kernel: Callable[..., Any] | None = None, *, warmup: int = 10, iters: int = 100, **kwargs: Any
) -> Any:
    """Predict latency into ``kernel.benchmark_result`` (see the legacy ``benchmark``)."""
    return decorate("benchmark", kernel, {**kwargs, "warmup": warmup, "iters": iters}, "current")


def profile(func: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """Like ``benchmark`` (no NEFF/NTFF files are written)."""
    return decorate("profile", func, kwargs, "current")


def simulate(kernel: Any) -> Callable[..., Any]:
    """``nki.simulate(kernel)(*args)``: run on numpy arrays; returns the kernel's outputs."""

    def run(*args: Any, **kwargs: Any) -> Any:
        return run_values(kernel, args, kwargs, "current")

    return run
