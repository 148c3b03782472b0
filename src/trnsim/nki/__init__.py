"""trnsim.nki: NKI kernels on the CPU, with the chip's numerics and an instruction trace.

Two front ends share one execution core: :mod:`trnsim.nki.legacy` (``neuronxcc.nki``) and
:mod:`trnsim.nki.current` (``nki``, NKI 0.2+). :mod:`trnsim.nki.hook` lets unmodified SDK files
import them under their real names.

Programmatic API (used by the chip model and the training-step model):

* :func:`trace_kernel` — run a kernel and return its :class:`~trnsim.nki.trace.KernelTrace`;
  timing-only by default (arguments may be :class:`TensorSpec` placeholders; no values computed).
* :func:`simulate` — run a kernel on numpy arrays and return its outputs.
* :class:`KernelError` — the one-line error a kernel's mistake produces.
"""

from __future__ import annotations

from typing import Any

from trnsim.nki.errors import KernelError
from trnsim.nki.kernel import Kernel, TensorSpec, as_launch, launch, run_values
from trnsim.nki.runtime import Mode
from trnsim.nki.trace import KernelTrace

__all__ = ["KernelError", "KernelTrace", "TensorSpec", "simulate", "trace_kernel"]


def trace_kernel(
    kernel: Any, *args: Any, target: str = "trn2", grid: Any = None, timing_only: bool = True, **kwargs: Any
) -> KernelTrace:
    """Run ``kernel`` (an nki.jit kernel, ``kernel[grid]`` or a plain function) and return its trace.

    ``args`` are numpy arrays or placeholders (:class:`TensorSpec`, legacy ``nt.tensor[shape, dtype]``);
    placeholders need ``timing_only=True``. ``grid`` is an SPMD grid (``(2, 2)``, ``nl.nc(2)``...).
    """
    func, g, k = as_launch(kernel, grid)
    frontend = k.frontend if isinstance(k, Kernel) else "legacy"
    _, trace = launch(
        func,
        args,
        kwargs,
        grid=g,
        mode=Mode.TIMING if timing_only else Mode.VALUES,
        target=target,
        frontend=frontend,
        name=getattr(func, "__name__", None),
    )
    return trace


def simulate(kernel: Any, *args: Any, target: str | None = None, grid: Any = None, **kwargs: Any) -> Any:
    """Run ``kernel`` on numpy arrays and return its outputs (numpy arrays, same structure)."""
    return run_values(kernel, args, kwargs, "legacy", target, grid)
