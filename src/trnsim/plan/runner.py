"""Run a sweep's points on a local process pool, on Ray, or in this process; store each as it arrives.

Points already in the store are skipped, so rerunning a killed sweep finishes it without
repeating or losing work. The driver alone writes to SQLite: workers only compute, which keeps
the database single-writer. ``run_point`` must be a picklable, module-level function; it returns
a status and a JSON-able result, and turns user errors (:class:`~trnsim.errors.TrnsimError`)
into an ``error`` result instead of stopping the sweep. On Ctrl-C or SIGTERM the driver shuts the
Ray instance it started down before exiting; after SIGKILL nothing can, and Ray's processes linger.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from trnsim.errors import ConfigError, TrnsimError
from trnsim.plan.store import PointStatus, SweepStore
from trnsim.plan.sweep import SweepPoint

PointRunner = Callable[[SweepPoint], tuple[PointStatus, dict[str, Any]]]
ResultCallback = Callable[[SweepPoint, PointStatus], None]


@dataclass(frozen=True)
class SweepSummary:
    """What a run of a sweep did."""

    total: int
    already_done: int
    ran: int
    written: int


def guarded(run_point: PointRunner, point: SweepPoint) -> tuple[PointStatus, dict[str, Any]]:
    """Run one point, turning a user error into an ``error`` result with its message."""
    try:
        return run_point(point)
    except TrnsimError as error:
        return PointStatus.ERROR, {"error": str(error), "error_type": type(error).__name__}


def run_sweep(
    points: Sequence[SweepPoint],
    store: SweepStore,
    run_point: PointRunner,
    *,
    use_ray: bool = True,
    ray_address: str | None = None,
    num_cpus: int | None = None,
    on_result: ResultCallback | None = None,
    workers: int = 1,
) -> SweepSummary:
    """Evaluate every point not yet in ``store``, writing each result as it arrives.

    On Ray when ``use_ray`` (a local instance, or the cluster at ``ray_address``); else on a
    local process pool of ``workers`` processes when ``workers`` > 1; else in this process.
    """
    done = store.done_keys()
    unique = {p.key: p for p in points}
    pending = [p for key, p in unique.items() if key not in done]
    written = 0

    def record(point: SweepPoint, status: PointStatus, result: dict[str, Any]) -> None:
        nonlocal written
        written += store.record(point, status, result)
        if on_result is not None:
            on_result(point, status)

    if use_ray and pending:
        _run_on_ray(pending, run_point, record, ray_address, num_cpus)
    elif workers > 1 and len(pending) > 1:
        from trnsim.plan.pool import run_in_pool

        by_key = {p.key: p for p in pending}
        tasks = [(p.key, (run_point, p)) for p in pending]
        for key, (status, result) in run_in_pool(guarded, tasks, workers):
            record(by_key[key], status, result)
    else:
        for point in pending:
            record(point, *guarded(run_point, point))
    return SweepSummary(len(unique), len(unique) - len(pending), len(pending), written)


def require_ray() -> Any:
    """The ``ray`` module, or one line saying how to get it (imported late: it takes seconds)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("Ray is not installed: pip install 'trnsim[ray]' for --ray/--address, or leave "
                          "them out to sweep on a local process pool") from None
    return ray


def _run_on_ray(
    pending: list[SweepPoint],
    run_point: PointRunner,
    record: Callable[[SweepPoint, PointStatus, dict[str, Any]], None],
    address: str | None,
    num_cpus: int | None,
) -> None:
    ray = require_ray()
    started_here = not ray.is_initialized()
    with _sigterm_unwinds():  # so that `finally` shuts Ray down: its agents would outlive us minutes
        _run_ray_points(ray, started_here, pending, run_point, record, address, num_cpus)


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM unwinds like Ctrl-C (SIGINT already raises KeyboardInterrupt).

    Nothing can run on SIGKILL: Ray's raylet and workers then stay until they notice the driver
    is gone (see docs/planner.md).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_ray_points(
    ray: Any,
    started_here: bool,
    pending: list[SweepPoint],
    run_point: PointRunner,
    record: Callable[[SweepPoint, PointStatus, dict[str, Any]], None],
    address: str | None,
    num_cpus: int | None,
) -> None:
    import logging

    if started_here:
        # Ray's own log lines stay out of the sweep's output (errors only).
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    try:
        remote = ray.remote(guarded)
        in_flight_limit = max(4, 4 * int(ray.available_resources().get("CPU", 1)))
        queue = list(reversed(pending))
        in_flight: dict[Any, SweepPoint] = {}
        while queue or in_flight:
            while queue and len(in_flight) < in_flight_limit:
                point = queue.pop()
                in_flight[remote.remote(run_point, point)] = point
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                point = in_flight.pop(ref)
                status, result = ray.get(ref)
                record(point, status, result)
    finally:
        if started_here:
            ray.shutdown()
