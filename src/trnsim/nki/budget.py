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
huge numpy operation; it arrives when that call returns.)

Limits: defaults no library or tutorial kernel reaches (:data:`DEFAULT`), overridden by
``TRNSIM_MAX_INSTRUCTIONS`` / ``TRNSIM_TIME_LIMIT_S`` (for ``nki.simulate``/``baremetal``
users), overridden in turn by :func:`limits` (what ``trnsim kernel run/profile
--max-instructions/--time-limit`` use).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import os
import threading
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
        self._timer = threading.Timer(seconds, self.fire)
        self._timer.daemon = True
        self._timer.start()

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

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """Let the deadline interrupt this thread inside the block (raise at once if it passed).

        The caller catches TimeLimitInterrupt around the block: an interrupt delivered while the
        block is left still surfaces there; once left, a pending one is withdrawn.
        """
        me = threading.get_ident()
        with self._lock:
            if self.expired:
                raise TimeLimitInterrupt
            self._armed.add(me)
        try:
            yield
        finally:
            with self._lock:
                self._armed.discard(me)
                if me in self._sent:
                    self._sent.discard(me)
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(me), None)

    def stop(self) -> None:
        """Cancel; withdraw an interrupt that fired but has not been delivered yet."""
        with self._lock:
            self._active = False
            self._timer.cancel()
            for thread_id in self._sent:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
            self._sent.clear()
