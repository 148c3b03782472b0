"""The local process pool that sweeps and ``compare`` share.

Independent tasks (one search, one sweep point) run in ``workers`` processes started with
``spawn``, not ``fork``: the caller may run threads (a progress bar) that fork would copy
mid-state. Results come back as they finish, so the caller can store each one at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["default_workers", "run_in_pool"]

T = TypeVar("T")


def default_workers() -> int:
    """The CPUs this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def run_in_pool(function: Callable[..., T], tasks: Iterable[tuple[Any, tuple[Any, ...]]],
                workers: int) -> Iterator[tuple[Any, T]]:
    """Run ``function(*args)`` for each ``(tag, args)`` in ``workers`` processes; yield ``(tag, result)``.

    ``function`` and its arguments must pickle (module-level functions, plain data).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(function, *args): tag for tag, args in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()
