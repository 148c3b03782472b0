"""Tasks run in one forked child process while this one works on others: two cores used at once
without a second start-up.

A child made by ``fork`` starts with everything this process has imported and cached, so it
costs neither the imports (about 0.5 s for the planner) a spawned or fork-server worker repeats
nor its own copy of the data files. It is used only where forking is safe: on Linux, with no other
Python thread running (a progress bar's refresh thread would be copied mid-state). Its results come back
pickled through a pipe; where it cannot fork, or the child fails, the tasks run here instead, so
the answer never depends on the child.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

__all__ = ["can_fork", "run_forked", "spare_core"]

T = TypeVar("T")

Tasks = Sequence[tuple[Any, tuple[Any, ...]]]


def can_fork() -> bool:
    """Whether a child can be forked safely here: Linux, and this the only thread but those marked
    ``trnsim_fork_safe`` (the kernel launches' watchdog: it holds no lock while it waits, and a
    forked child starts its own)."""
    if sys.platform != "linux" or not hasattr(os, "fork"):
        return False
    if threading.active_count() == 1:
        return True
    me = threading.current_thread()
    return all(t is me or getattr(t, "trnsim_fork_safe", False) for t in threading.enumerate())


def spare_core(cpus: int) -> bool:
    """Whether about one of ``cpus`` CPUs is idle: the 1-minute load average below ``cpus - 0.5``.

    A child only pays where it gets a core of its own; on a busy machine (other jobs on every
    core) the two processes would take turns, and the child's copy-on-write pages and caches it
    fills again cost more than the overlap saves. True where the load average is unknown.
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return True
    return load < cpus - 0.5


def _run(function: Callable[..., T], tasks: Tasks) -> list[tuple[Any, T]]:
    return [(tag, function(*args)) for tag, args in tasks]


@contextmanager
def run_forked(function: Callable[..., T], tasks: Tasks) -> Iterator[Callable[[], list[tuple[Any, T]]]]:
    """Run ``function(*args)`` for each ``(tag, args)`` in a forked child while the block runs.

    The block gets ``collect``, which waits for the child and returns ``[(tag, result), ...]`` in
    the order of ``tasks``; the results must pickle. Where forking is not safe, or the child fails,
    ``collect`` runs the tasks in this process. A block left early (an error, Ctrl-C) stops the child.
    """
    if not tasks or not can_fork():
        yield lambda: _run(function, tasks)
        return
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns of any other OS thread; the only ones here are numpy's BLAS pool (idle,
        # and it re-forms itself across a fork) and a fork-safe one: Python's threads were counted above.
        warnings.filterwarnings("ignore", r"This process .* is multi-threaded", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: run the tasks, send the results, leave without running exit handlers
        status = 1
        try:
            os.close(read_end)
            payload = pickle.dumps(_run(function, tasks), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    waited = False

    def collect() -> list[tuple[Any, T]]:
        nonlocal waited
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        waited = True
        if status == 0:
            try:
                results: list[tuple[Any, T]] = pickle.loads(payload)
                return results
            except Exception:  # a truncated payload: the tasks run here instead
                pass
        return _run(function, tasks)

    try:
        yield collect
    finally:
        if not waited:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            with suppress(OSError):  # closed by collect, which was interrupted while waiting
                os.close(read_end)
