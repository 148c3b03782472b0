"""Perfetto extras: dependency flow arrows and SBUF/PSUM/HBM counter tracks of a predicted timeline."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

from tests.core.builder import TraceBuilder
from trnsim.core import StartReason, chrome_trace, simulate_trace
from trnsim.nki.trace import Engine


def _chain() -> tuple[object, list]:
    b = TraceBuilder("trn1")
    a, c = b.alloc(), b.alloc()
    b.add(Engine.DMA, "load", (b.hbm((128, 512), "float32"),), (b.sbuf((128, 512), alloc=a),))
    b.add(Engine.VECTOR, "tensor_scalar", (b.sbuf((128, 512), alloc=a),), (b.sbuf((128, 512), alloc=c),))
    b.add(Engine.DMA, "store", (b.sbuf((128, 512), alloc=c),), (b.hbm((128, 512), "float32"),))
    result = simulate_trace(b.trace, "trn1")
    return result, chrome_trace([result])["traceEvents"]


def test_each_dependency_wait_is_one_flow_arrow_from_its_predecessor() -> None:
    result, events = _chain()
    json.dumps(events)
    waits = [(i, s) for i, s in enumerate(result.instructions)
             if s.reason is StartReason.DEPENDENCY and s.predecessor >= 0]
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    assert len(waits) >= 2 and set(starts) == set(ends) and len(starts) == len(waits)
    slices = [e for e in events if e["ph"] == "X"]
    for index, item in waits:
        start, end = starts[index], ends[index]
        assert start["ts"] <= end["ts"] and end["bp"] == "e"
        # each end sits at the start of one of the waiting instruction's slices
        assert any(s["tid"] == end["tid"] and s["ts"] == pytest.approx(end["ts"]) for s in slices)
        before = result.instructions[item.predecessor]
        assert before.instruction.seq < item.instruction.seq


def _series(events: list, name: str) -> list[tuple[float, float]]:
    return [(e["ts"], next(iter(e["args"].values()))) for e in events if e["ph"] == "C" and e["name"] == name]


def test_sbuf_counter_holds_both_tiles_while_the_vector_op_runs_and_ends_empty() -> None:
    result, events = _chain()
    region = result.instructions[1].instruction.inputs[0].region
    assert region is not None
    tile = (region.partition_stop - region.partition_start) * (region.byte_stop - region.byte_start)
    sbuf = _series(events, "SBUF in use (bytes)")
    assert max(v for _, v in sbuf) == 2 * tile  # input and output tile live together
    assert sbuf[-1][1] == 0 and all(t1 <= t2 for (t1, _), (t2, _) in pairwise(sbuf))


def test_hbm_bandwidth_counter_integrates_to_the_hbm_bytes() -> None:
    result, events = _chain()
    hbm = _series(events, "HBM bandwidth (GB/s)")
    # value (bytes/ns) held from one step to the next, times µs × 1e3 ns/µs
    integral = sum(v * (t2 - t1) * 1e3 for (t1, v), (t2, _) in pairwise(hbm))
    assert integral == pytest.approx(result.hbm_bytes, rel=1e-9)
    assert hbm[-1][1] == pytest.approx(0.0, abs=1e-9)
