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

#: threadpoolctl's controller of the loaded libraries, and its BLAS libraries' controllers
_CONTROLLER: list[Any] = []


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within the block, the BLAS libraries numpy loaded use one thread (restored after).

    Where each already uses one (``OPENBLAS_NUM_THREADS=1``, or the caller limited them) there is
    nothing to set or restore: asking each library costs about 1 us, threadpoolctl's limit and
    restore about 40 us, which a small launch noticed."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController  # inspects the loaded libraries once

        controller = ThreadpoolController()
        _CONTROLLER.extend((controller, controller.select(user_api="blas").lib_controllers))
    controller, blas = _CONTROLLER
    if blas and all(lib.num_threads == 1 for lib in blas):
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
