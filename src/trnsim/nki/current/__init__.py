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
from trnsim.nki.kernel import GridLauncher, Kernel, launch
from trnsim.nki.legacy import benchmark, profile
from trnsim.nki.runtime import Mode
from trnsim.nki.tensor import Tensor

__all__ = ["benchmark", "dtype", "isa", "jit", "language", "profile", "simulate", "tensor", "typing"]

tensor = Tensor
dtype = np.dtype


def jit(fn: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """Make ``fn`` an NKI kernel (numpy arguments run on trnsim's simulator)."""
    if fn is None:
        return lambda f: Kernel(f, frontend="current", options=kwargs)
    return Kernel(fn, frontend="current", options=kwargs)


def simulate(kernel: Any) -> Callable[..., Any]:
    """``nki.simulate(kernel)(*args)``: run on numpy arrays; returns the kernel's outputs."""
    grid = None
    func = kernel
    target = None
    if isinstance(kernel, GridLauncher):
        grid, func, target = kernel.grid, kernel.kernel.func, kernel.kernel.target
    elif isinstance(kernel, Kernel):
        func, target = kernel.func, kernel.target

    def run(*args: Any, **kwargs: Any) -> Any:
        outputs, _ = launch(
            func,
            args,
            kwargs,
            grid=grid,
            mode=Mode.VALUES,
            target=target,
            frontend="current",
            name=getattr(func, "__name__", None),
        )
        return outputs

    return run
