"""Budgets that stop a kernel that never ends: instructions per launch and wall time per launch.

Issue 9 §2. Both are checked in the instruction path (:meth:`Simulation.record`): an integer
compare per instruction, and a clock read every 4096 instructions. A kernel stuck in plain
Python (``while True: pass``) issues no instruction, so a watchdog thread also guards the wall
time: at the deadline it raises an exception asynchronously in the launching thread
(``PyThreadState_SetAsyncExc``), which the interpreter delivers at its next bytecode check.

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
    """Interrupts the kernel's thread when ``seconds`` pass before :meth:`stop`.

    The kernel's thread is the one that created the watchdog, or, once an SPMD launch runs its
    ranks in threads (trnsim.nki.spmd), those threads (``rank_threads``, filled as they start).
    """

    def __init__(self, seconds: float, rank_threads: list[int | None] | None = None) -> None:
        self.thread_id = threading.get_ident()
        self.rank_threads = rank_threads if rank_threads is not None else []
        self.fired: list[int] = []
        self._lock = threading.Lock()
        self._active = True
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if not self._active:
                return
            targets = [t for t in self.rank_threads if t is not None] or [self.thread_id]
            for thread_id in targets:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread_id), ctypes.py_object(TimeLimitInterrupt)
                )
            self.fired = targets

    def stop(self) -> None:
        """Cancel; clear an interrupt that fired but has not been delivered yet."""
        with self._lock:
            self._active = False
            self._timer.cancel()
            for thread_id in self.fired:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
