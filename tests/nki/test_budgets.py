"""Instruction and wall-time budgets stop kernels that never end, with one KernelError line."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from trnsim.errors import TrnsimError
from trnsim.nki import KernelError, simulate
from trnsim.nki.budget import DEFAULT, current_limits, limits
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


@jit
def spins_on_tiles(a: Any) -> Any:
    t = nl.load(a)
    while True:
        t = nl.add(t, 1.0)  # line that issues every instruction


@jit
def spins_in_python(a: Any) -> Any:
    nl.load(a)
    while True:
        pass


def _line_of(func: Any, text: str) -> int:
    import inspect

    lines, start = inspect.getsourcelines(func.func)
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_instruction_budget_names_the_limit_and_the_line() -> None:
    with limits(max_instructions=500), pytest.raises(KernelError) as info:
        simulate(spins_on_tiles, np.zeros((4, 4), np.float32))
    message = str(info.value)
    assert "\n" not in message and info.value.err_id == "instruction_budget_exceeded"
    assert "500 instructions" in message
    assert f"test_budgets.py:{_line_of(spins_on_tiles, 'nl.add(t, 1.0)')}" in message


def test_plain_python_loop_is_stopped_by_the_wall_time_budget() -> None:
    start = time.monotonic()
    with limits(time_limit_s=0.3), pytest.raises(KernelError) as info:
        simulate(spins_in_python, np.zeros((4, 4), np.float32))
    assert time.monotonic() - start < 10  # stopped, not run until killed
    assert info.value.err_id == "time_limit_exceeded" and "0.3 s" in str(info.value)
    # the loop is interrupted at its backward jump, which Python attributes to the 'while' line
    lines = {_line_of(spins_in_python, "while True"), _line_of(spins_in_python, "pass")}
    assert info.value.location in {f"test_budgets.py:{n}" for n in lines}


def test_time_budget_is_checked_in_the_instruction_path_too() -> None:
    with limits(time_limit_s=0.3, max_instructions=10**9), pytest.raises(KernelError) as info:
        simulate(spins_on_tiles, np.zeros((4, 4), np.float32))
    assert info.value.err_id == "time_limit_exceeded"


def test_a_finished_launch_leaves_no_pending_interrupt() -> None:
    @jit
    def quick(a: Any) -> Any:
        out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
        nl.store(out, value=nl.load(a))
        return out

    with limits(time_limit_s=0.2):
        simulate(quick, np.zeros((4, 4), np.float32))
    for _ in range(40):  # past the deadline: the cancelled watchdog must not interrupt this thread
        time.sleep(0.01)


def test_environment_variables_and_their_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    assert current_limits() == DEFAULT
    monkeypatch.setenv("TRNSIM_MAX_INSTRUCTIONS", "123")
    monkeypatch.setenv("TRNSIM_TIME_LIMIT_S", "4.5")
    got = current_limits()
    assert (got.max_instructions, got.time_limit_s) == (123, 4.5)
    with limits(max_instructions=7):  # the Python API (and the CLI options) win over the environment
        assert current_limits().max_instructions == 7 and current_limits().time_limit_s == 4.5
    monkeypatch.setenv("TRNSIM_MAX_INSTRUCTIONS", "-3")
    with pytest.raises(TrnsimError, match="TRNSIM_MAX_INSTRUCTIONS='-3' is not valid"):
        current_limits()


@jit
def rank_spins_in_python(a: Any) -> Any:
    nl.load(a)
    if nl.program_id(0) == 1:
        while True:
            pass


def test_plain_python_loop_in_an_spmd_rank_thread_is_stopped() -> None:
    with limits(time_limit_s=0.5), pytest.raises(KernelError) as info:
        simulate(rank_spins_in_python[2], np.zeros((4, 4), np.float32))
    assert info.value.err_id == "time_limit_exceeded"
    lines = {_line_of(rank_spins_in_python, "while True"), _line_of(rank_spins_in_python, "pass")}
    assert info.value.location in {f"test_budgets.py:{n}" for n in lines}


@jit
def quick_copy(a: Any) -> Any:
    out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out


def _launch_bounded(kernel: Any, seconds: float = 30.0) -> BaseException | None:
    """Run the launch in a thread joined with a timeout: a hang fails the test instead of the suite."""
    import threading

    caught: list[BaseException | None] = [None]

    def run() -> None:
        try:
            simulate(kernel, np.zeros((4, 4), np.float32))
        except BaseException as error:  # what the launch raised, checked by the caller
            caught[0] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the launch hung after the deadline"
    return caught[0]


def test_deadline_at_an_spmd_rank_threads_start_up_is_the_budget_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The watchdog's interrupt landed in a rank thread's start-up, before the region that turns it
    into an error: "Exception ignored in thread", and the launch then waited forever (1 run in 10
    of `--time-limit 0.001`). The deadline is fired there on purpose, every time."""
    from trnsim.nki import spmd

    body = spmd.World._body

    def deadline_at_start_up(self: Any, rank: int) -> None:
        if rank == 1:
            self.sim.watchdog.fire()
        body(self, rank)

    monkeypatch.setattr(spmd.World, "_body", deadline_at_start_up)
    with limits(time_limit_s=60):
        error = _launch_bounded(quick_copy[2])
    assert isinstance(error, KernelError) and error.err_id == "time_limit_exceeded", repr(error)


def test_deadline_while_the_launch_is_set_up_is_the_budget_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interrupt also landed in the launching thread outside the kernel body (in the BLAS thread
    limit's threadpoolctl import): a bare TimeLimitInterrupt instead of the budget's KernelError."""
    import contextlib

    from trnsim.nki import kernel, runtime

    @contextlib.contextmanager
    def deadline_in_set_up() -> Any:
        sim = runtime.active()
        assert sim is not None
        sim.watchdog.fire()
        for _ in range(1000):  # bytecode checks where a delivered interrupt would surface
            pass
        yield

    monkeypatch.setattr(kernel, "one_blas_thread", deadline_in_set_up)
    with limits(time_limit_s=60):
        for grid in (None, 2):
            error = _launch_bounded(quick_copy if grid is None else quick_copy[grid])
            assert isinstance(error, KernelError) and error.err_id == "time_limit_exceeded", repr(error)


def test_many_launches_under_a_tiny_time_limit_end_each_time() -> None:
    """`--time-limit 0.001` in a loop: each launch ends with the budget error (or finishes in time)."""
    with limits(time_limit_s=0.001):
        for grid in (None, 2, 4) * 4:
            error = _launch_bounded(quick_copy if grid is None else quick_copy[grid])
            assert error is None or (isinstance(error, KernelError)
                                     and error.err_id == "time_limit_exceeded"), repr(error)


def test_a_shorter_limit_after_longer_ones_still_stops_the_kernel() -> None:
    """One watchdog thread serves every launch and sleeps towards the earliest deadline it knows: a
    launch with an earlier deadline than the ones before it must wake it."""
    import threading

    for _ in range(3):
        simulate(quick_copy, np.zeros((4, 4), np.float32))  # the default 30-minute limit
    start = time.monotonic()
    with limits(time_limit_s=0.3), pytest.raises(KernelError) as info:
        simulate(spins_in_python, np.zeros((4, 4), np.float32))
    assert time.monotonic() - start < 10 and info.value.err_id == "time_limit_exceeded"
    # launches do not start a thread each
    assert sum(t.name == "trnsim-nki-watchdog" for t in threading.enumerate()) == 1
