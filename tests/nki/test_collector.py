"""The cyclic collector after a launch (trnsim.nki.collector): no cyclic garbage, no growth.

A successful timing-only launch moves what it leaves to the oldest generation unscanned; that is
only sound because a launch makes no reference cycles, which these tests check for the library's
kernels in both modes, an SPMD launch and a collective.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from trnsim.core import simulate_trace
from trnsim.kernels import registry
from trnsim.nki import TensorSpec, collector, trace_kernel
from trnsim.nki import current as nki
from trnsim.nki.current import collectives as ncc
from trnsim.nki.current import isa as nisa
from trnsim.nki.current import language as nl
from trnsim.nki.legacy import language as lnl

#: small shapes of library kernels (the SPMD one runs 2 ranks in threads)
CASES: dict[str, dict[str, int]] = {
    "add_spmd": {"rows": 256, "cols": 512},
    "softmax": {"rows": 256, "cols": 512},
    "matmul": {"m": 256, "k": 512, "n": 512},
    "matmul_tiled": {"m": 256, "k": 256, "n": 512},
    "flash_attention_fwd": {
        "batch": 1, "heads": 1, "kv_heads": 1, "seq_q": 256, "seq_k": 256, "head_dim": 128
    },
}


@nki.jit
def _all_reduce(x: Any) -> Any:
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    t = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=x[r])
    total = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.sbuf)
    ncc.all_reduce(srcs=[t], dsts=[total], replica_group=ncc.ReplicaGroup([[0, 1]]), op=nl.add)
    nisa.dma_copy(dst=out[r], src=total)
    return out


def _launch(name: str, values: bool) -> Callable[[], Any]:
    entry = registry.get(name)
    args = entry.make_args(CASES[name], "bfloat16", np.random.default_rng(0) if values else None)
    grid = entry.grid()

    def run() -> Any:
        trace = trace_kernel(entry.kernel, *args, grid=grid, timing_only=not values)
        simulate_trace(trace, "trn2")
        return trace

    return run


@pytest.fixture
def collector_on() -> Iterator[None]:
    """The collector on (a test runner may have it off) and nothing frozen (an in-process CLI test
    may have frozen everything: ``trnsim plan`` does), as before afterwards."""
    was, frozen = gc.isenabled(), gc.get_freeze_count()
    gc.enable()
    gc.unfreeze()
    yield
    if not was:
        gc.disable()
    if frozen:
        gc.freeze()


@pytest.fixture
def low_threshold() -> Iterator[None]:
    """A young collection due after 10 new objects, so that even a tiny launch is moved."""
    was = gc.get_threshold()
    gc.set_threshold(10, *was[1:])
    yield
    gc.set_threshold(*was)


def _cyclic_garbage(run: Callable[[], Any]) -> list[str]:
    """Type names of the cyclic garbage one call of ``run`` leaves (after a warm-up call)."""
    run()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        return sorted(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.parametrize("values", [False, True], ids=["timing-only", "values"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_launch_leaves_no_cyclic_garbage(name: str, values: bool) -> None:
    assert _cyclic_garbage(_launch(name, values)) == []


def test_a_collective_launch_leaves_no_cyclic_garbage() -> None:
    x = np.random.default_rng(0).standard_normal((2, 32, 16)).astype(np.float32)
    assert _cyclic_garbage(lambda: nki.simulate(_all_reduce[2])(x)) == []


@pytest.mark.usefixtures("collector_on", "low_threshold")
def test_a_timing_only_launch_leaves_its_trace_in_the_oldest_generation() -> None:
    kernel, *args = _entry_args("matmul")
    trace_kernel(kernel, *args, timing_only=True)
    trace = trace_kernel(kernel, *args, timing_only=True)
    assert gc.get_count()[0] <= gc.get_threshold()[0]  # no young collection is due
    instruction = trace.instructions[0]
    assert not any(o is instruction for o in gc.get_objects(0) + gc.get_objects(1))
    assert any(o is instruction for o in gc.get_objects(2))


@pytest.mark.usefixtures("collector_on", "low_threshold")
def test_a_value_launch_leaves_its_trace_young() -> None:
    entry = registry.get("matmul")
    args = entry.make_args(CASES["matmul"], "bfloat16", np.random.default_rng(0))
    trace_kernel(entry.kernel, *args, timing_only=False)
    gc.collect()
    trace = trace_kernel(entry.kernel, *args, timing_only=False)
    instruction = trace.instructions[0]
    assert not any(o is instruction for o in gc.get_objects(2))


def _entry_args(name: str) -> tuple[Any, ...]:
    entry = registry.get(name)
    return (entry.kernel, *entry.make_args(CASES[name], "bfloat16"))


@pytest.mark.usefixtures("collector_on")
@pytest.mark.parametrize("values", [False, True], ids=["timing-only", "values"])
def test_many_launches_do_not_grow_memory(values: bool) -> None:
    run = _launch("flash_attention_fwd", values)
    for _ in range(40):  # call templates written out after 32 replays (templates.SPECIALISE_AFTER)
        run()
    gc.collect()
    tracemalloc.start()
    try:
        run()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        objects = len(gc.get_objects())
        for _ in range(20):
            run()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        assert len(gc.get_objects()) - objects <= 50
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024  # 20 launches of about 1,000 instructions: nothing kept per launch


class _Node:
    """An object a kernel puts in a reference cycle."""

    def __init__(self) -> None:
        self.me = self


@pytest.mark.usefixtures("collector_on", "low_threshold")
def test_cycles_a_kernel_makes_are_freed_after_full_after_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[weakref.ref[_Node]] = []

    def kernel(a: Any) -> None:
        made.append(weakref.ref(_Node()))
        lnl.load(a)

    arg = TensorSpec((128, 512), np.float32)
    monkeypatch.setattr(collector, "FULL_AFTER", 10**12)
    monkeypatch.setattr(collector._Moved, "blocks", None)  # (the first considered one runs)
    gc.collect()
    trace_kernel(kernel, arg, timing_only=True)
    kept = made[-1]
    for _ in range(3):  # young collections do not reach the moved cycle ...
        gc.collect(0)
        gc.collect(1)
    assert kept() is not None
    monkeypatch.setattr(collector, "FULL_AFTER", 0)
    trace_kernel(kernel, arg, timing_only=True)  # ... the full collection a launch runs does
    assert kept() is None and made[-1]() is None


@pytest.mark.usefixtures("collector_on", "low_threshold")
def test_objects_the_process_froze_stay_frozen() -> None:
    kernel, *args = _entry_args("matmul")
    trace_kernel(kernel, *args, timing_only=True)
    sentinel: list[Any] = []
    gc.freeze()
    assert not any(o is sentinel for o in gc.get_objects())  # (frozen objects are in no generation)
    trace_kernel(kernel, *args, timing_only=True)
    assert not any(o is sentinel for o in gc.get_objects())  # not thawed by the launch
    gc.unfreeze()
    assert any(o is sentinel for o in gc.get_objects())


@pytest.mark.usefixtures("collector_on", "low_threshold")
def test_a_full_collection_waits_while_the_process_does_not_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Considered full collections (after FULL_AFTER moved objects) run only where pymalloc's blocks
    grew by GROWTH since the last one, or at every ALWAYS_AFTER-th: a launch that keeps nothing does
    not rescan the whole process every few launches."""
    made: list[weakref.ref[_Node]] = []

    def kernel(a: Any) -> None:
        made.append(weakref.ref(_Node()))
        lnl.load(a)

    arg = TensorSpec((128, 512), np.float32)
    monkeypatch.setattr(collector, "FULL_AFTER", 0)  # (each launch considers one)
    monkeypatch.setattr(collector, "ALWAYS_AFTER", 3)
    monkeypatch.setattr(collector._Moved, "blocks", None)
    trace_kernel(kernel, arg, timing_only=True)  # (the first considered one runs)
    assert made[-1]() is None
    trace_kernel(kernel, arg, timing_only=True)
    trace_kernel(kernel, arg, timing_only=True)
    assert made[-2]() is not None and made[-1]() is not None  # two skipped: one _Node each is no growth
    trace_kernel(kernel, arg, timing_only=True)  # the third runs
    assert all(ref() is None for ref in made)


@pytest.mark.usefixtures("collector_on", "low_threshold")
def test_a_full_collection_runs_when_kept_cycles_grow_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[weakref.ref[_Node]] = []

    def kernel(a: Any) -> None:
        node = _Node()
        node.load = [object() for _ in range(20_000)]  # type: ignore[attr-defined]
        made.append(weakref.ref(node))
        lnl.load(a)

    arg = TensorSpec((128, 512), np.float32)
    monkeypatch.setattr(collector, "FULL_AFTER", 0)
    monkeypatch.setattr(collector, "ALWAYS_AFTER", 10**9)
    monkeypatch.setattr(collector, "GROWTH", 0.001)
    monkeypatch.setattr(collector._Moved, "blocks", None)
    trace_kernel(kernel, arg, timing_only=True)
    assert made[-1]() is None
    trace_kernel(kernel, arg, timing_only=True)  # 20,000 objects kept by a cycle: more than GROWTH
    assert made[-1]() is None
