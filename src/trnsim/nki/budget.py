"""Budgets that stop a kernel that never ends: instructions per launch and wall time per launch.

Issue 9 §2. Both are checked in the instruction path (:meth:`Simulation.record`): an integer
compare per instruction, and a clock read every 4096 instructions. A kernel stuck in plain
Python (``while True: pass``) issues no instruction, so a watchdog thread also guards the wall
time: at the deadline it raises an exception asynchronously (``PyThreadState_SetAsyncExc``, which
the interpreter delivers at its next bytecode check) in each thread then running a kernel body,
the launching thread or the SPMD rank threads, only inside :meth:`Watchdog.armed`, the region that
turns it into the budget's KernelError; a body that starts after the deadline raises it at once.

Why this mechanism: a signal (``SIGALRM``) works only on the main thread, and kernels may run in
threads once SPMD collectives land; ``sys.settrace``/``setprofile`` would slow every Python line
of the kernel. The watchdog sleeps until the deadline, so the hot path pays nothing for it. (An
asynchronous exception is not delivered while the thread sits inside one long C call, e.g. a
huge numpy operation; it arrives when that call returns.) One watchdog thread per process serves
every launch (:class:`_Deadlines`): starting a timer thread per launch and waiting for it to run
cost about 0.5 ms of a 4-instruction launch's 0.9 ms on a busy 2-core machine.

Limits: defaults no library or tutorial kernel reaches (:data:`DEFAULT`), overridden by
``TRNSIM_MAX_INSTRUCTIONS`` / ``TRNSIM_TIME_LIMIT_S`` (for ``nki.simulate``/``baremetal``
users), overridden in turn by :func:`limits` (what ``trnsim kernel run/profile
--max-instructions/--time-limit`` use).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from trnsim.errors import TrnsimError


@dataclass(frozen=True)
class Limits:
    """Per-launch budgets: instructions recorded, and wall-clock seconds."""

    max_instructions: int
    time_limit_s: float


#: 50 M instructions (a trace that size holds tens of GB; the largest library kernels
#: simulated for the op tables record well under 1 M) and 30 minutes per launch.
DEFAULT = Limits(max_instructions=50_000_000, time_limit_s=1800.0)

ENV_INSTRUCTIONS = "TRNSIM_MAX_INSTRUCTIONS"
ENV_TIME = "TRNSIM_TIME_LIMIT_S"

_OVERRIDE: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("trnsim_nki_limits", default=None)


def _positive(value: str, name: str, kind: type) -> float:
    try:
        number = kind(value)
    except ValueError:
        number = 0
    if not number > 0 or (kind is float and not number <= threading.TIMEOUT_MAX):
        raise TrnsimError(f"{name}={value!r} is not valid (give a positive {kind.__name__}"
                          + (f" of at most {threading.TIMEOUT_MAX:.3g} seconds)" if kind is float else ")"))
    return number


def current_limits() -> Limits:
    """The budgets of the next launch: :func:`limits` override, else environment, else defaults."""
    override = _OVERRIDE.get()
    if override is not None:
        return override
    env_n = os.environ.get(ENV_INSTRUCTIONS)
    env_t = os.environ.get(ENV_TIME)
    if env_n is None and env_t is None:
        return DEFAULT
    n = int(_positive(env_n, ENV_INSTRUCTIONS, int)) if env_n is not None else DEFAULT.max_instructions
    t = float(_positive(env_t, ENV_TIME, float)) if env_t is not None else DEFAULT.time_limit_s
    return Limits(n, t)


@contextlib.contextmanager
def limits(max_instructions: int | None = None, time_limit_s: float | None = None) -> Iterator[Limits]:
    """Run launches inside the block under these budgets (None keeps the current value)."""
    base = current_limits()
    chosen = Limits(
        int(max_instructions) if max_instructions is not None else base.max_instructions,
        float(time_limit_s) if time_limit_s is not None else base.time_limit_s,
    )
    if chosen.max_instructions <= 0 or chosen.time_limit_s <= 0:
        raise TrnsimError(
            f"budgets must be positive (max instructions {chosen.max_instructions},"
            f" time limit {chosen.time_limit_s} s)"
        )
    if not chosen.time_limit_s <= threading.TIMEOUT_MAX:  # the watchdog's timer cannot wait longer (inf)
        raise TrnsimError(f"time limit {chosen.time_limit_s} s is longer than this platform's timers allow "
                          f"(at most {threading.TIMEOUT_MAX:.3g} s); give a finite number of seconds")
    token = _OVERRIDE.set(chosen)
    try:
        yield chosen
    finally:
        _OVERRIDE.reset(token)


class TimeLimitInterrupt(BaseException):
    """Raised asynchronously in the launching thread at the wall-time deadline.

    A BaseException, so that a kernel's own ``except Exception`` does not swallow it.
    """


class Watchdog:
    """Interrupts the threads running a kernel's body when ``seconds`` pass before :meth:`stop`.

    Only a thread inside :meth:`armed` (the launch's kernel call, or an SPMD rank's, in the
    region that turns the interrupt into a KernelError) can receive it: an interrupt that landed in
    a rank thread's start-up or in the launch's set-up escaped that region (one run in ten of
    ``--time-limit 0.001`` printed "Exception ignored in thread" and then hung). At the deadline
    every armed thread is interrupted; a thread that arms after it raises at once, in the region.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._armed: set[int] = set()
        self._sent: set[int] = set()  # interrupted threads that have not left the region yet
        self._lock = threading.Lock()
        self._active = True
        _DEADLINES.add(self, time.monotonic() + seconds)

    def fire(self) -> None:
        """The deadline: interrupt every armed thread (the timer calls it; tests may too)."""
        with self._lock:
            if not self._active or self.expired:
                return
            self.expired = True
            for thread_id in self._armed:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread_id), ctypes.py_object(TimeLimitInterrupt)
                )
                self._sent.add(thread_id)

    def armed(self) -> Watchdog:
        """Let the deadline interrupt this thread inside the block (``with watchdog.armed():``; raise
        at once if it passed).

        The caller catches TimeLimitInterrupt around the block: an interrupt delivered while the
        block is left still surfaces there; once left, a pending one is withdrawn. (The watchdog is
        its own context manager, by thread: a generator-based one cost about 1 µs a launch.)
        """
        return self

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._lock:
            if self.expired:
                raise TimeLimitInterrupt
            self._armed.add(me)

    def __exit__(self, *exc: object) -> None:
        me = threading.get_ident()
        with self._lock:
            self._armed.discard(me)
            if me in self._sent:
                self._sent.discard(me)
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(me), None)

    def stop(self) -> None:
        """Cancel; withdraw an interrupt that fired but has not been delivered yet."""
        with self._lock:
            self._active = False
            _DEADLINES.remove(self)
            for thread_id in self._sent:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
            self._sent.clear()


class _Deadlines:
    """The process's watchdog thread: fires each registered :class:`Watchdog` at its deadline.

    The thread starts with the first launch and sleeps until the earliest deadline registered; a
    launch wakes it only when its deadline is earlier than the one it sleeps towards (launches
    under the same limit register ever later deadlines, so they never do). A stopped watchdog
    is dropped from the table at once; the thread, when it wakes for it, finds nothing due and
    sleeps again.
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):  # a forked child has no thread: start its own
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._due: dict[Watchdog, float] = {}
        self._wake_at = math.inf  # the deadline the thread sleeps towards (inf: none)
        self._thread: threading.Thread | None = None

    def add(self, watchdog: Watchdog, deadline: float) -> None:
        """Fire ``watchdog`` at ``deadline`` (``time.monotonic``) unless removed first."""
        with self._cond:
            self._due[watchdog] = deadline
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="trnsim-nki-watchdog", daemon=True)
                # plan.fork may fork beside it: it holds no lock while it waits (a lock held at a
                # fork stays held in the child), and _reset gives the child its own
                thread.trnsim_fork_safe = True  # type: ignore[attr-defined]
                self._thread = thread
                thread.start()
            elif deadline < self._wake_at:
                self._cond.notify()

    def remove(self, watchdog: Watchdog) -> None:
        """Forget ``watchdog`` (its launch ended)."""
        with self._cond:
            self._due.pop(watchdog, None)

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                now = time.monotonic()
                due = [w for w, at in self._due.items() if at <= now]
                for watchdog in due:
                    del self._due[watchdog]
                if not due:
                    self._wake_at = min(self._due.values(), default=math.inf)
                    wait = self._wake_at - now
                    cond.wait(None if wait == math.inf else min(wait, threading.TIMEOUT_MAX))
                    continue
            for watchdog in due:  # outside the table's lock: fire takes the watchdog's own
                watchdog.fire()


_DEADLINES = _Deadlines()
