"""The collective engine: members start together when the last arrives, alpha-beta cost by hand.

Timing data ([collective] in neuroncore_timing/trn2.toml, all labelled assumptions): a rank gets
the chip DMA bandwidth 3.5 TB/s at 80 % = 2,800 B/ns between cores; 1,000 ns per algorithm step.
DMA facts as in test_dma.py: 1,300 ns fixed cost, 23 B/ns per queue, efficiency c / (c + 384).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.core.builder import TraceBuilder
from trnsim.core import Bound, simulate_trace
from trnsim.core.collectives import CollectiveCostModel
from trnsim.core.result import PathCategory
from trnsim.hardware.neuroncore_timing import load_timing
from trnsim.nki import trace_kernel
from trnsim.nki.current import collectives as ncc
from trnsim.nki.current import isa as nisa
from trnsim.nki.current import jit
from trnsim.nki.current import language as nl
from trnsim.nki.trace import Engine

BW = 3.5e12 * 0.8 / 1e9  # B/ns
ALPHA = 1000.0


def test_closed_forms_by_hand() -> None:
    model = CollectiveCostModel(load_timing("trn2"))
    n = 1 << 20
    assert model.time_ns("all_reduce", 4, n) == pytest.approx(2 * 3 * (ALPHA + n / (4 * BW)))
    assert model.time_ns("all_gather", 4, n) == pytest.approx(3 * (ALPHA + n / (4 * BW)))
    assert model.time_ns("all_to_all", 4, n) == pytest.approx(3 * ALPHA + n * 3 / 4 / BW)
    assert model.time_ns("sendrecv", 2, n) == pytest.approx(ALPHA + n / BW)
    assert model.time_ns("all_reduce", 1, n) == 0.0


def _collective(b: TraceBuilder, core: int, data: Any, group: tuple[int, ...], nbytes: int) -> None:
    b.add(Engine.COLLECTIVE, "all_reduce", (data,), (data,), core=core, collective="all_reduce",
          group=group, meeting="g#0", bytes=nbytes)


def test_members_start_when_the_last_arrives() -> None:
    # Core 0 loads [128, 256] bf16 (64 KiB, 512-byte rows: two 32 KiB parts) before the
    # collective; core 1 arrives at 0. Both start at the load's end and finish one all-reduce of
    # 64 KiB over 2 ranks later: 2 x (1000 + 65536 / (2 x 2800)) ns. Core 1's next instruction
    # (a DMA of the result) then starts at the finish.
    b = TraceBuilder("trn2")
    t0, t1 = b.sbuf((128, 256), "bfloat16"), b.sbuf((128, 256), "bfloat16")
    b.add(Engine.DMA, "load", (b.hbm((128, 256), "bfloat16"),), (t0,), core=0)
    _collective(b, 0, t0, (0, 1), 65536)
    _collective(b, 1, t1, (0, 1), 65536)
    b.add(Engine.DMA, "store", (t1,), (b.hbm((128, 256), "bfloat16"),), core=1)
    result = simulate_trace(b.trace, "trn2")
    load = 1300 + 32768 / (23 * 512 / 896)
    cost = 2 * (ALPHA + 65536 / (2 * BW))
    items = [s for s in result.instructions if s.track == "collective"]
    assert [s.start_ns for s in items] == pytest.approx([load, load])
    assert [s.end_ns for s in items] == pytest.approx([load + cost, load + cost])
    store = next(s for s in result.instructions if s.instruction.opcode == "store")
    assert store.start_ns == pytest.approx(load + cost)
    assert result.critical_path_ns[PathCategory.COLLECTIVE] == pytest.approx(cost)


def test_collectives_queue_in_order_on_a_core() -> None:
    # Two back-to-back 1 MiB all-reduces over 2 cores: the second starts when the first ends.
    b = TraceBuilder("trn2")
    t = [b.sbuf((128, 2048), "float32") for _ in range(2)]
    for seq in range(2):
        for core in range(2):
            b.add(Engine.COLLECTIVE, "all_reduce", (t[core],), (t[core],), core=core, collective="all_reduce",
                  group=(0, 1), meeting=f"g#{seq}", bytes=1 << 20)
    result = simulate_trace(b.trace, "trn2")
    cost = 2 * (ALPHA + (1 << 20) / (2 * BW))
    assert result.latency_ns == pytest.approx(2 * cost)
    assert result.bound == Bound.COLLECTIVE


@jit
def reduce_then_store(x: Any) -> Any:
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    t = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=x[r])
    s = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.sbuf)
    ncc.all_reduce(srcs=[t], dsts=[s], replica_group=[[0, 1]], op=nl.add)
    nisa.dma_copy(dst=out[r], src=s)
    return out


def test_two_core_kernel_end_to_end() -> None:
    # Two ranks on the two cores of an LNC=2 launch: load 128 x 512 fp32 (256 KiB, 2 KiB rows:
    # 8 parts of 32 KiB), all-reduce 256 KiB over 2 ranks, store the same. HBM is not the limit
    # (2 x 8 parts x 23 B/ns << the two cores' share of 2.9 TB/s).
    x = np.zeros((2, 128, 512), np.float32)
    trace = trace_kernel(reduce_then_store[2], x, target="trn2")
    assert {i.core for i in trace.instructions if i.engine == Engine.COLLECTIVE} == {0, 1}
    result = simulate_trace(trace, "trn2")
    dma = 1300 + 32768 / (23 * 2048 / 2432)
    cost = 2 * (ALPHA + 262144 / (2 * BW))
    assert result.latency_ns == pytest.approx(2 * dma + cost, rel=1e-6)
