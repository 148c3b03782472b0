"""One BLAS thread while a kernel runs with values.

A value-mode kernel runs thousands of small numpy matmuls (one per ``nc_matmul`` tile). With
OpenBLAS's default of one thread per core, each call wakes and joins worker threads that spin
while they wait: on an idle 2-core machine that doubles the CPU time for the same wall time, and
with the cores busy elsewhere it made a 1,632-instruction tiled matmul take 8.1 s instead of 0.47 s
(README, "Kernel simulator"). The limit applies only inside a launch, through threadpoolctl, so
the caller's own numpy keeps its threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["one_blas_thread"]

_CONTROLLER: list[Any] = []


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within the block, the BLAS libraries numpy loaded use one thread (restored after)."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController  # inspects the loaded libraries once

        _CONTROLLER.append(ThreadpoolController())
    with _CONTROLLER[0].limit(limits=1, user_api="blas"):
        yield
