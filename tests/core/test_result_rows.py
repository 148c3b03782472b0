"""A simulation's result makes its scheduled instructions from the scheduler's rows on first read.

``simulate_trace`` returns a ``RowTimelineResult``: the scheduler records each placed instruction
as a row (every field of ``ScheduledInstruction`` in order; the parts of a transfer that start and
end together as one ``SAME_TIME_PARTS`` tuple) and computes the totals and the
critical path from the rows. Reading ``instructions`` must give the objects a plain
``TimelineResult`` would hold, and the critical path of the rows must be that of the objects.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

from tests.core.builder import TraceBuilder
from trnsim.core import ScheduledInstruction, TimelineResult, simulate_trace
from trnsim.core.analysis import critical_path_breakdown
from trnsim.core.result import ROW_INDEX, SAME_TIME_PARTS, RowTimelineResult, row_values
from trnsim.nki.trace import Engine, KernelTrace


def _trace() -> KernelTrace:
    """Loads, VectorE and TensorE work, stores and a collective on two cores."""
    b = TraceBuilder("trn2")
    for core in (0, 1):
        for _ in range(3):
            tile, out = b.alloc(), b.alloc()
            b.add(Engine.DMA, "load", (b.hbm((128, 512), "float32"),), (b.sbuf((128, 512), alloc=tile),),
                  core=core)
            b.add(Engine.TENSOR, "nc_matmul",
                  (b.sbuf((128, 128), alloc=tile), b.sbuf((128, 512), alloc=tile)),
                  (b.psum((128, 512), alloc=out),), core=core)
            b.add(Engine.VECTOR, "tensor_copy", (b.psum((128, 512), alloc=out),),
                  (b.sbuf((128, 512), alloc=tile),), core=core)
            b.add(Engine.DMA, "store", (b.sbuf((128, 512), alloc=tile),), (b.hbm((128, 512), "float32"),),
                  core=core)
        b.add(Engine.COLLECTIVE, "all_reduce", (b.sbuf((128, 512), alloc=tile),),
              (b.sbuf((128, 512), alloc=tile),), core=core, collective="all_reduce", group=(0, 1),
              meeting="m", bytes=1 << 18)
    return b.trace


def _values(item: ScheduledInstruction) -> tuple[object, ...]:
    return tuple(getattr(item, name) for name in ROW_INDEX)


def test_the_instructions_are_made_from_the_rows_once_and_in_order() -> None:
    result = simulate_trace(_trace(), "trn2")
    assert isinstance(result, RowTimelineResult) and isinstance(result, TimelineResult)
    rows = list(result._rows or ())
    assert len(rows) == len(result.instructions) == 26
    assert result._rows is None  # made on the first read, then kept
    assert result.instructions is result.instructions
    for row, item in zip(rows, result.instructions, strict=True):
        assert type(item) is ScheduledInstruction
        assert _values(item) == row_values(row) == _values(ScheduledInstruction(*row_values(row)))
        if row[ROW_INDEX["parts"]] and row[ROW_INDEX["parts"]][0] is SAME_TIME_PARTS:
            # the parts of a transfer that start and end together, one tuple in the row
            _, queues, start, end = row[ROW_INDEX["parts"]]
            assert item.parts == tuple((queue, start, end) for queue in queues)
            assert (item.start_ns, item.end_ns) == (start, end)
        else:
            assert _values(item) == row
    assert any(row[ROW_INDEX["parts"]] and row[ROW_INDEX["parts"]][0] is SAME_TIME_PARTS for row in rows)
    tracks = {item.track for item in result.instructions}
    assert tracks == {"dma", "tensor", "vector", "collective"}
    assert any(item.collective_ns > 0 for item in result.instructions)


def test_the_critical_path_of_the_rows_is_that_of_the_objects() -> None:
    result = simulate_trace(_trace(), "trn2")
    path = dict(result.critical_path_ns)
    assert critical_path_breakdown(result.instructions) == path  # recomputed from the objects
    assert sum(path.values()) > 0.0 and path["collective"] > 0.0


def test_a_row_result_compares_copies_and_pickles_as_its_fields() -> None:
    trace = _trace()
    first, second = simulate_trace(trace, "trn2"), simulate_trace(trace, "trn2")
    assert first == second  # (fields, the instructions made from the rows included)
    again = pickle.loads(pickle.dumps(simulate_trace(trace, "trn2")))
    assert again == first
    assert [_values(i) for i in again.instructions] == [_values(i) for i in first.instructions]
    replaced = dataclasses.replace(simulate_trace(trace, "trn2"), latency_ns=1.0)
    assert replaced.latency_ns == 1.0 and replaced.instructions == first.instructions
    copied = copy.copy(second)
    assert copied.instructions == second.instructions
    # an assignment replaces the rows
    fresh = simulate_trace(trace, "trn2")
    fresh.instructions = []
    assert fresh.instructions == [] and fresh._rows is None
