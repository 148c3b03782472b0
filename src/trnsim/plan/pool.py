"""The local process pool that sweeps and ``compare`` share.

Independent tasks (one search, one sweep point) run in ``workers`` processes. They come from a
fork server that has imported the task's modules once (spawned processes where there is none),
not from ``fork``: the caller may run threads (a progress bar) that fork would copy mid-state. With
one worker the tasks run in this process instead, sharing its caches. Results come back as they
finish, so the caller can store each one at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["cpu_count", "default_workers", "run_in_pool"]

T = TypeVar("T")


def cpu_count() -> int:
    """The CPUs this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_workers(limit: int | None = None) -> int:
    """Processes for independent tasks: one on a machine of two cores or fewer, else the CPUs.

    On two cores a second process buys little and costs its own start-up and caches; tasks in one
    process share every cache (stage times, op times, memory) instead. ``limit`` caps the count.
    """
    cores = cpu_count()
    if cores <= 2:
        return 1
    return cores if limit is None else max(1, min(limit, cores))


def run_in_pool(function: Callable[..., T], tasks: Iterable[tuple[Any, tuple[Any, ...]]],
                workers: int, preload: Sequence[str] = ()) -> Iterator[tuple[Any, T]]:
    """Run ``function(*args)`` for each ``(tag, args)`` in ``workers`` processes; yield ``(tag, result)``.

    ``function`` and its arguments must pickle (module-level functions, plain data). The fork
    server imports ``function``'s module and the modules named in ``preload`` once, so that each
    worker starts with them loaded. With ``workers`` ≤ 1 the tasks run here, in order.
    """
    if workers <= 1:
        for tag, args in tasks:
            yield tag, function(*args)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if "forkserver" in multiprocessing.get_all_start_methods():
        context: multiprocessing.context.BaseContext = multiprocessing.get_context("forkserver")
        # "__main__" is the caller's script, not a module to preload
        modules = [m for m in dict.fromkeys([function.__module__, *preload]) if m != "__main__"]
        context.set_forkserver_preload(modules)
    else:
        context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(function, *args): tag for tag, args in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()
