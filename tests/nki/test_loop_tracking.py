"""The ``affine_range`` dependency tracker (one write set per allocation for all loops) decides as one
write set per loop and allocation did: random nested loops of random writes and reads, each step
compared with that reference (which call fails, and with which message)."""

from __future__ import annotations

import bisect
import random
from typing import Any

import pytest

from trnsim.nki import runtime, trace_kernel
from trnsim.nki.errors import KernelError
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl
from trnsim.nki.trace import Region


def _contains(outer: Region, inner: Region) -> bool:
    return outer[1] <= inner[1] and inner[2] <= outer[2] and outer[3] <= inner[3] and inner[4] <= outer[4]


class _PerLoop:
    """The tracker as it was: each loop keeps, per allocation made before it, the regions written
    while it runs with the latest iteration of each (sorted by start byte, ties in insertion order)."""

    def __init__(self) -> None:
        self.loops: list[dict[str, Any]] = []

    def enter(self, start_alloc: int) -> dict[str, Any]:
        frame = {"start_alloc": start_alloc, "iteration": 0, "writes": {}}
        self.loops.append(frame)
        return frame

    def end(self, frame: dict[str, Any]) -> None:
        self.loops = [f for f in self.loops if f is not frame]  # (by identity: equal dicts nest)

    def note_write(self, region: Region, exact: bool) -> str | None:
        if not self.loops or region[0] >= self.loops[-1]["start_alloc"]:
            return None
        for frame in self.loops:
            if region[0] < frame["start_alloc"]:
                ws = frame["writes"].setdefault(
                    region[0], {"iters": {}, "starts": [], "regions": [], "max_len": 0}
                )
                if region not in ws["iters"]:
                    at = bisect.bisect_right(ws["starts"], region[3])
                    ws["starts"].insert(at, region[3])
                    ws["regions"].insert(at, region)
                    ws["max_len"] = max(ws["max_len"], region[4] - region[3])
                    ws["iters"][region] = frame["iteration"]
                elif ws["iters"][region] != frame["iteration"]:
                    if exact:
                        then, now = ws["iters"][region], frame["iteration"]
                        return f"iterations {then} and {now} of an affine_range both write the same elements"
                    ws["iters"][region] = frame["iteration"]
        return None

    def check_read(self, region: Region) -> str | None:
        _, p0, p1, b0, b1 = region
        for frame in self.loops:
            ws = frame["writes"].get(region[0])
            if ws is None:
                continue
            now = frame["iteration"]
            near = ws["regions"][bisect.bisect_right(ws["starts"], b0 - ws["max_len"]):
                                 bisect.bisect_left(ws["starts"], b1)]
            earlier = next((ws["iters"][w] for w in near if ws["iters"][w] < now
                            and w[1] < p1 and p0 < w[2] and w[3] < b1 and b0 < w[4]), None)
            if earlier is None or any(ws["iters"][w] == now and _contains(w, region) for w in near):
                continue
            return f"iteration {now} reads what iteration {earlier} wrote"
        return None


def _program(seed: int) -> Any:
    """A kernel of random nested affine loops (tensors made before and inside them) whose body notes
    random writes and reads of a few allocations' regions, checked against _PerLoop step by step."""
    rng = random.Random(seed)

    @jit
    def kernel(a: Any) -> Any:
        sim = runtime.current()
        ref = _PerLoop()
        steps = [0]

        def region() -> Region:
            p0, b0 = rng.randrange(8), 8 * rng.randrange(24)
            return Region(rng.randrange(sim.next_alloc), p0, p0 + rng.choice((1, 2, 4)), b0,
                          b0 + rng.choice((0, 8, 8, 16, 32)))

        def step() -> None:
            steps[0] += 1
            r = region()
            if rng.random() < 0.5:
                exact = rng.random() < 0.7
                expected = ref.note_write(r, exact)
                call = lambda: sim.note_write(r, False, exact)  # noqa: E731
            else:
                expected = ref.check_read(r)
                call = lambda: sim.check_read("read", r, False)  # noqa: E731
            try:
                call()
            except KernelError as error:
                assert expected is not None and expected in error.rule, (expected, error.rule)
                raise
            assert expected is None, expected

        def body(depth: int) -> None:
            for _ in range(rng.randrange(1, 6)):
                if rng.random() < 0.3:
                    nl.ndarray((4, 64), nl.float32, buffer=nl.sbuf)  # (a tensor the loops after it track)
                if depth < 4 and rng.random() < 0.35:
                    n = rng.randrange(1, 4)
                    frame = None
                    for i in nl.affine_range(n):
                        if frame is None:
                            frame = ref.enter(sim.loops[-1].start_alloc)
                        frame["iteration"] = i
                        body(depth + 1)
                    if frame is not None:
                        ref.end(frame)
                else:
                    step()

        for _ in range(3):
            nl.ndarray((4, 64), nl.float32, buffer=nl.sbuf)
        for _ in range(6):
            body(0)
        return a

    return kernel


@pytest.mark.parametrize("block", range(4))
def test_one_write_set_per_allocation_decides_as_one_per_loop(block: int) -> None:
    import numpy as np

    failed = passed = 0
    for seed in range(block * 50, block * 50 + 50):
        try:
            trace_kernel(_program(seed), np.zeros((4, 4), np.float32), target="trn1", timing_only=True)
            passed += 1
        except KernelError as error:
            assert "affine_range" in str(error)
            failed += 1
    assert failed and passed  # (both outcomes exercised)


@jit
def tied_writes(a: Any) -> Any:
    """Two regions starting at the same byte: ``w1`` first written before the inner loop, ``w2`` in its
    iteration 0, ``w1`` again (not exactly) in its iteration 1; iteration 2 reads both."""
    sim = runtime.current()
    alloc = nl.ndarray((4, 64), nl.float32, buffer=nl.sbuf).alloc.alloc_id
    w1, w2 = Region(alloc, 0, 2, 0, 16), Region(alloc, 2, 4, 0, 16)
    for _ in nl.affine_range(1):
        sim.note_write(w1, False, False)
        for g in nl.affine_range(3):
            if g == 0:
                sim.note_write(w2, False, False)
            elif g == 1:
                sim.note_write(w1, False, False)
            else:
                sim.check_read("read", Region(alloc, 0, 4, 0, 16), False)
    return a


def test_a_loops_writes_of_one_start_byte_are_in_their_order_in_that_loop() -> None:
    """The inner loop held ``w2`` before ``w1`` (its first writes), so its verdict names ``w2``'s
    iteration, as a set per loop did, though ``w1`` was written first."""
    import numpy as np

    with pytest.raises(KernelError, match="iteration 2 reads what iteration 0 wrote"):
        trace_kernel(tied_writes, np.zeros((4, 4), np.float32), target="trn1", timing_only=True)


@jit
def covered_read(a: Any) -> Any:
    """Iteration 0 writes part of a box; iteration 1 writes the whole box, then reads it."""
    sim = runtime.current()
    alloc = nl.ndarray((4, 64), nl.float32, buffer=nl.sbuf).alloc.alloc_id
    for i in nl.affine_range(2):
        for _ in nl.affine_range(1):
            if i == 0:
                sim.note_write(Region(alloc, 0, 2, 0, 16), False)
            else:
                sim.note_write(Region(alloc, 0, 4, 0, 32), False)
                sim.check_read("read", Region(alloc, 0, 4, 0, 32), False)
    return a


def test_a_read_covered_by_this_iterations_write_is_not_carried() -> None:
    """What an earlier iteration wrote is read through a box the current iteration wrote whole: no
    loop-carried dependency (the per-loop verdict runs, and finds the covering write)."""
    import numpy as np

    trace_kernel(covered_read, np.zeros((4, 4), np.float32), target="trn1", timing_only=True)
