"""SPMD ranks that meet at collectives: cooperative threads over one shared simulation.

Every instance of an SPMD launch (``kernel[4](...)``, ``kernel[nl.nc(2)](...)``) is one rank, its
rank id the row-major index of its grid point. Ranks run one at a time, in rank order, each until
it finishes or reaches a collective (nki-semantics.md §8: match collective calls by issue order
within each group, block until every member has arrived). A kernel without collectives therefore
runs exactly as the serial launch did.

Each rank runs in its own thread holding a baton: only the holder touches the shared
:class:`~trnsim.nki.runtime.Simulation`, whose per-instance fields (program id, core, open
loops, live on-chip bytes...) are swapped when the baton moves. The last member to arrive at a
collective runs the exchange for the whole group; the others resume after it.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trnsim.nki.errors import KernelError
from trnsim.nki.runtime import Simulation

__all__ = ["Arrival", "World", "current_world", "run_ranks"]

#: Simulation fields that belong to one SPMD instance (swapped when another rank runs).
_RANK_FIELDS = (
    "program_id",
    "core",
    "shared_index",
    "last_result",
    "last_mask",
    "psum_groups",
    "loops",
    "tracked",
    "depth",
    "loop_reduce",
)

_WORLD: contextvars.ContextVar[World | None] = contextvars.ContextVar("trnsim_spmd_world", default=None)


class _Abort(BaseException):
    """Unwinds a rank's thread when another rank failed (never reaches the user)."""


@dataclass
class Arrival:
    """One rank's part in a collective: what it brings and where its results go."""

    rank: int
    kind: str
    payload: Any
    location: str


@dataclass
class _Meeting:
    group: tuple[int, ...]
    kind: str
    arrivals: dict[int, Arrival] = field(default_factory=dict)
    done: bool = False
    #: Set by the last arrival: the collective's id in the trace.
    collective_id: int = -1


class World:
    """The ranks of one launch and the collectives they are meeting at."""

    def __init__(self, sim: Simulation, points: Sequence[tuple[tuple[int, ...], int]]) -> None:
        self.sim = sim
        self.points = list(points)
        self.size = len(points)
        self._cond = threading.Condition()
        self._holder = -1
        self._state = ["new"] * self.size  # new, runnable, waiting, done
        self._saved: list[dict[str, Any] | None] = [None] * self.size
        self._threads: list[threading.Thread | None] = [None] * self.size
        self._seq: dict[tuple[int, tuple[int, ...]], int] = {}
        self._meetings: dict[tuple[tuple[int, ...], int], _Meeting] = {}
        self._waiting_at: dict[int, str] = {}
        self.error: BaseException | None = None
        self.results: list[Any] = [None] * self.size
        self.next_collective_id = 0

    # -- the baton ---------------------------------------------------------------------------
    def rank(self) -> int:
        """The rank running now."""
        return self._holder

    def _swap_in(self, rank: int) -> None:
        sim = self.sim
        saved = self._saved[rank]
        if saved is None:
            pid, core = self.points[rank]
            saved = {
                "program_id": pid,
                "core": core,
                "shared_index": 0,
                "last_result": None,
                "last_mask": None,
                "psum_groups": {},
                "loops": [],
                "tracked": {},
                "depth": 0,
                "loop_reduce": {},
            }
        for name in _RANK_FIELDS:
            setattr(sim, name, saved[name])
        self._holder = rank

    def _swap_out(self, rank: int) -> None:
        self._saved[rank] = {name: getattr(self.sim, name) for name in _RANK_FIELDS}

    def _pass_baton(self, after: int) -> None:
        """Hand the baton to the next runnable rank after ``after`` (caller holds the lock)."""
        for step in range(1, self.size + 1):
            rank = (after + step) % self.size
            if self._state[rank] in ("new", "runnable"):
                self._start(rank)
                return
        if any(s == "waiting" for s in self._state) and self.error is None:
            stuck = ", ".join(f"rank {r} at {where}" for r, where in sorted(self._waiting_at.items()))
            self.error = KernelError(
                f"collective deadlock: {stuck} wait for ranks that finished or wait elsewhere",
                kernel=self.sim.kernel_name,
                err_id="collective_deadlock",
            )
        self._holder = -1
        self._cond.notify_all()

    def _start(self, rank: int) -> None:
        self._swap_in(rank)
        if self._state[rank] == "new":
            self._state[rank] = "runnable"
            thread = threading.Thread(
                target=self._contexts[rank].run,
                args=(self._body, rank),
                name=f"trnsim-rank-{rank}",
                daemon=True,
            )
            self._threads[rank] = thread
            thread.start()
        self._cond.notify_all()

    def _body(self, rank: int) -> None:
        with self._cond:
            while self._holder != rank and self.error is None:
                self._cond.wait()
            if self.error is not None:
                self._state[rank] = "done"
                self._cond.notify_all()
                return
        watchdog = self.sim.watchdog
        try:
            # the wall-time deadline interrupts the rank only here, where it becomes World.error
            with watchdog.armed() if watchdog is not None else contextlib.nullcontext():
                self.results[rank] = self._func()
        except _Abort:
            pass
        except BaseException as error:
            with self._cond:
                if self.error is None:
                    self.error = error
        with self._cond:
            self._state[rank] = "done"
            if self.error is not None:
                self._holder = -1
                self._cond.notify_all()
            else:
                self._swap_out(rank)
                self._pass_baton(rank)

    def run(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` once per rank; return the first rank's result that is not None."""
        self._func = func
        self._contexts = [contextvars.copy_context() for _ in range(self.size)]
        for context in self._contexts:
            context.run(_WORLD.set, self)
        with self._cond:
            self._start(0)
            while not all(s == "done" for s in self._state) and (self.error is None or self._alive()):
                self._cond.wait(timeout=1.0)
                self._check_lost()
        for thread in self._threads:
            if thread is not None:
                thread.join()
        # the contexts and threads refer back to this world: let reference counting free it
        self._contexts, self._threads = [], [None] * self.size
        del self._func
        if self.error is not None:
            raise self.error
        # every instance returns the same shared_hbm outputs; an instance may return nothing
        return next((r for r in self.results if r is not None), None)

    def _check_lost(self) -> None:
        """A rank thread that ended without finishing its rank (caller holds the lock): fail the
        launch rather than wait for it forever."""
        lost = [r for r, t in enumerate(self._threads)
                if t is not None and not t.is_alive() and self._state[r] != "done"]
        if lost and self.error is None:
            self.error = KernelError(
                f"the thread of SPMD rank {lost[0]} ended before its rank finished",
                kernel=self.sim.kernel_name,
                err_id="internal_error",
            )
        for rank in lost:
            self._state[rank] = "done"
        if lost:
            self._cond.notify_all()  # ranks waiting for the baton see the error

    def _alive(self) -> bool:
        return any(t is not None and t.is_alive() for t in self._threads)

    # -- collectives -------------------------------------------------------------------------
    def meet(
        self, group: Sequence[int], arrival: Arrival, exchange: Callable[[dict[int, Arrival], int], None]
    ) -> int:
        """Wait until every rank of ``group`` has arrived; the last one runs ``exchange``.

        ``exchange(arrivals, collective_id)`` gets every member's :class:`Arrival` by rank. Returns
        the collective's id (the same for every member).
        """
        rank = arrival.rank
        members = tuple(int(r) for r in group)
        if rank not in members:
            raise KernelError(
                f"rank {rank} calls a collective of group {list(members)} it is not in",
                kernel=self.sim.kernel_name,
                location=arrival.location,
                err_id="invalid_replica_group",
            )
        bad = [r for r in members if not 0 <= r < self.size]
        if bad:
            raise KernelError(
                f"replica group {list(members)} names ranks {bad}; the launch has ranks 0..{self.size - 1}",
                kernel=self.sim.kernel_name,
                location=arrival.location,
                err_id="invalid_replica_group",
            )
        with self._cond:
            seq = self._seq.get((rank, members), 0)
            self._seq[(rank, members)] = seq + 1
            meeting = self._meetings.setdefault((members, seq), _Meeting(members, arrival.kind))
            if meeting.kind != arrival.kind:
                first = next(iter(meeting.arrivals.values()))
                raise KernelError(
                    f"ranks of group {list(members)} disagree on collective #{seq}: rank {first.rank} "
                    f"calls {meeting.kind} ({first.location}), rank {rank} calls {arrival.kind}",
                    kernel=self.sim.kernel_name,
                    location=arrival.location,
                    err_id="collective_mismatch",
                )
            meeting.arrivals[rank] = arrival
            if len(meeting.arrivals) == len(members):
                meeting.collective_id = self.next_collective_id
                self.next_collective_id += 1
                exchange(meeting.arrivals, meeting.collective_id)
                meeting.done = True
                for other in members:
                    if self._state[other] == "waiting":
                        self._state[other] = "runnable"
                        self._waiting_at.pop(other, None)
                del self._meetings[(members, seq)]
                return meeting.collective_id
            self._state[rank] = "waiting"
            self._waiting_at[rank] = f"{arrival.kind} ({arrival.location})"
            self._swap_out(rank)
            self._pass_baton(rank)
            while not (meeting.done and self._holder == rank) and self.error is None:
                self._cond.wait()
            if self.error is not None:
                raise _Abort
            return meeting.collective_id

    def provisional_id(self, group: Sequence[int], rank: int) -> tuple[tuple[int, ...], int]:
        """The (group, sequence number) the next collective of ``rank`` in ``group`` will match."""
        members = tuple(int(r) for r in group)
        return members, self._seq.get((rank, members), 0)


def current_world() -> World | None:
    """The SPMD world of the running launch (None outside a multi-rank launch)."""
    return _WORLD.get()


def run_ranks(sim: Simulation, points: Sequence[tuple[tuple[int, ...], int]], func: Callable[[], Any]) -> Any:
    """Run ``func`` for every grid point as cooperating ranks; return the first non-None result."""
    return World(sim, points).run(func)
