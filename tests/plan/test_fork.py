"""Tasks in one forked child: the same results as running them here, and a fallback that never
depends on the child."""

from __future__ import annotations

import os
import threading

import pytest

from trnsim.plan import fork
from trnsim.plan.fork import can_fork, run_forked, spare_core


def _square_with_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


def _fail_in_child(value: int) -> tuple[int, int]:
    if os.getpid() != _PARENT[0]:
        raise RuntimeError("the child fails")
    return value * value, os.getpid()


_PARENT = [os.getpid()]


@pytest.mark.skipif(not can_fork(), reason="forks only on Linux with a single thread")
def test_tasks_run_in_a_child_meanwhile() -> None:
    tasks = [(f"t{v}", (v,)) for v in range(5)]
    with run_forked(_square_with_pid, tasks) as collect:
        here = _square_with_pid(7)  # the block runs in this process meanwhile
        results = collect()
    assert [tag for tag, _ in results] == [tag for tag, _ in tasks]  # in the order of the tasks
    assert [value for _, (value, _) in results] == [v * v for v in range(5)]
    child = {pid for _, (_, pid) in results}
    assert len(child) == 1 and here[1] not in child  # all in one other process


@pytest.mark.skipif(not can_fork(), reason="forks only on Linux with a single thread")
def test_a_failing_child_leaves_the_tasks_to_this_process() -> None:
    _PARENT[0] = os.getpid()
    tasks = [("a", (3,)), ("b", (4,))]
    with run_forked(_fail_in_child, tasks) as collect:
        results = collect()
    assert results == [("a", (9, os.getpid())), ("b", (16, os.getpid()))]


def test_no_fork_with_another_thread_running() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
        with run_forked(_square_with_pid, [("a", (2,))]) as collect:
            assert collect() == [("a", (4, os.getpid()))]
    finally:
        stop.set()
        thread.join()


@pytest.mark.skipif(not can_fork(), reason="forks only on Linux with a single thread")
def test_a_block_left_early_stops_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    forked: list[int] = []
    real_fork = os.fork

    def recording_fork() -> int:
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(fork.os, "fork", recording_fork)
    with pytest.raises(KeyError), run_forked(_square_with_pid, [("a", (2,))]):
        raise KeyError("left early")
    assert len(forked) == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(forked[0], os.WNOHANG)  # reaped already


def test_a_spare_core_by_the_load_average(monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [(0.3, 2, True), (1.4, 2, True), (1.6, 2, False), (3.9, 2, False), (2.2, 4, True)]
    for load, cpus, spare in cases:
        monkeypatch.setattr(fork.os, "getloadavg", lambda load=load: (load, load, load))
        assert spare_core(cpus) is spare


def test_a_busy_machine_keeps_every_search_here(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.plan.test_compare import FAST_LINKS, JOB, SPACE, TRN1, TRN2
    from tests.plan.toy_steps import toy_model
    from trnsim.plan.compare import compare_systems

    forks: list[int] = []
    monkeypatch.setattr(fork, "run_forked", lambda *a: forks.append(1))
    monkeypatch.setattr(fork.os, "getloadavg", lambda: (2.0, 2.0, 2.0))
    monkeypatch.setattr("trnsim.plan.pool.cpu_count", lambda: 2)
    result = compare_systems(toy_model(), [TRN2, TRN1], JOB, 32, space=SPACE, steps=FAST_LINKS,
                             scaling_chips=(8,), split=True)
    assert forks == [] and all(row.best is not None for row in result.rows)


def _launch_kernel(value: float) -> tuple[float, int]:
    """A value-mode kernel launch (in the child: the launches' watchdog starts anew there)."""
    import numpy as np

    from trnsim.nki import simulate
    from trnsim.nki.legacy import language as nl

    def copy(a):  # type: ignore[no-untyped-def]
        out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
        nl.store(out, value=nl.load(a))
        return out

    return float(simulate(copy, np.full((4, 4), value, np.float32)).sum()), os.getpid()


@pytest.mark.skipif(not can_fork(), reason="forks only on Linux with a single thread")
def test_a_kernel_launch_leaves_forking_possible() -> None:
    """Kernel launches share one watchdog thread per process that outlives them; it is safe to fork
    beside (it holds no lock while it waits), so `compare` still forks after a launch."""
    assert _launch_kernel(1.0) == (16.0, os.getpid())
    assert threading.active_count() > 1 and can_fork()
    with run_forked(_launch_kernel, [("k", (2.0,))]) as collect:
        results = collect()
    assert results[0][0] == "k" and results[0][1][0] == 32.0 and results[0][1][1] != os.getpid()
