"""Critical path, bound, Chrome trace, summary, errors and the kernel-layer hook."""

from __future__ import annotations

import json
import random

import pytest
from rich.console import Console

from tests.core.builder import TraceBuilder
from trnsim.cli.cmd_kernel_profile import render_profiles
from trnsim.core import Bound, StartReason, TimingModelError, chrome_trace, simulate_trace, summarize
from trnsim.core.analysis import peak_psum_banks
from trnsim.core.api import estimate_latency_ns, register_with_kernel_layer
from trnsim.nki.trace import Engine


def _load_compute_store(b: TraceBuilder, tiles: int) -> None:
    """load -> VectorE -> store per tile, each tile in its own buffers."""
    for _ in range(tiles):
        a, c = b.alloc(), b.alloc()
        b.add(Engine.DMA, "load", (b.hbm((128, 512), "float32"),), (b.sbuf((128, 512), alloc=a),))
        b.add(Engine.VECTOR, "tensor_scalar", (b.sbuf((128, 512), alloc=a),), (b.sbuf((128, 512), alloc=c),))
        b.add(Engine.DMA, "store", (b.sbuf((128, 512), alloc=c),), (b.hbm((128, 512), "float32"),))


def test_critical_path_adds_up_to_the_latency() -> None:
    b = TraceBuilder("trn1")
    _load_compute_store(b, 6)
    result = simulate_trace(b.trace, "trn1")
    assert sum(result.critical_path_ns.values()) == pytest.approx(result.latency_ns)
    last = max(result.instructions, key=lambda s: s.ready_ns)
    assert last.instruction.opcode == "store"
    assert last.reason in (StartReason.DEPENDENCY, StartReason.QUEUE)


def test_load_compute_store_chain_is_a_dependency_chain() -> None:
    # load [128, 512] fp32 = 256 KiB in 8 parts of 32 KiB: 1300 fixed + 32768 / (17 x 2048/2432)
    # = 2288.6 ns data; 4 dependent VectorE tensor_scalar of 512 elements: 4 x 457.1 ns compute
    # and about 4 x 143 ns overhead; a 256-byte store: 1300 fixed + 37.6 ns data.
    # Fixed 2600, data 2326, compute 1829, overhead ~570 of ~7330 ns: none reaches half.
    b = TraceBuilder("trn1")
    tiles = [b.alloc() for _ in range(5)]
    b.add(Engine.DMA, "load", (b.hbm((128, 512), "float32"),), (b.sbuf((128, 512), alloc=tiles[0]),))
    for i in range(4):
        b.add(Engine.VECTOR, "tensor_scalar", (b.sbuf((128, 512), alloc=tiles[i]),),
              (b.sbuf((128, 512), alloc=tiles[i + 1]),))
    b.add(Engine.DMA, "store", (b.sbuf((1, 64), alloc=tiles[4]),), (b.hbm((1, 64), "float32"),))
    result = simulate_trace(b.trace, "trn1")
    path = result.critical_path_ns
    assert path["dma_fixed"] == pytest.approx(2600)
    assert path["compute"] == pytest.approx(4 * 512 / 1.12)
    assert result.bound == Bound.DEPENDENCY_CHAIN


def test_chrome_trace_has_a_track_per_engine_and_queue() -> None:
    b = TraceBuilder("trn1")
    _load_compute_store(b, 2)
    result = simulate_trace(b.trace, "trn1")
    doc = chrome_trace([result])
    json.dumps(doc)  # serialisable
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name"}
    assert {"TensorE", "VectorE", "ScalarE", "GpSimdE", "DMA queue 0", "DMA queue 15"} <= names
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    dma_parts = sum(len(s.parts) for s in result.instructions)
    assert len(slices) == dma_parts + 2  # every DMA part, plus the two VectorE instructions
    assert all(e["args"]["source"].startswith("hand_built.py:") for e in slices)


def test_summary_and_tables_render() -> None:
    b = TraceBuilder("trn1")
    _load_compute_store(b, 2)
    result = simulate_trace(b.trace, "trn1")
    summary = summarize(result)
    assert summary["latency_us"] == pytest.approx(result.latency_ns / 1e3)
    assert summary["bound"] == str(result.bound)
    console = Console(record=True, width=140)
    render_profiles([result, simulate_trace(b.trace, "trn2")], console)
    text = console.export_text()
    assert "Side by side" in text and "hand_built" in text


def test_instruction_on_a_missing_core_is_one_clear_error() -> None:
    b = TraceBuilder("trn1")
    b.add(Engine.VECTOR, "tensor_scalar", (b.sbuf((128, 8)),), (b.sbuf((128, 8)),), core=2)
    with pytest.raises(TimingModelError, match=r"runs on core 2, but a trn1 chip has cores 0..1"):
        simulate_trace(b.trace, "trn1")


def test_registers_with_the_kernel_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    from trnsim.nki import perf

    registered: list[object] = []
    monkeypatch.setattr(perf, "register_latency_estimator", registered.append)
    register_with_kernel_layer()
    assert registered == [estimate_latency_ns]
    b = TraceBuilder("trn1")
    b.add(Engine.VECTOR, "tensor_scalar", (b.sbuf((128, 512)),), (b.sbuf((128, 512)),))
    assert registered[0](b.trace) == pytest.approx(572 / 1.12)


def _peak_by_events(live: dict[tuple[int, int, int], list[float]]) -> int:
    """peak_psum_banks as events: (time, +1 start / -1 end) per core, sorted, counted in order."""
    events: dict[int, list[tuple[float, int]]] = {}
    for (core, _, _), (start, end) in live.items():
        events.setdefault(core, []).extend(((start, 1), (end, -1)))
    peak = 0
    for per_core in events.values():
        current = 0
        for _, step in sorted(per_core):
            current += step
            peak = max(peak, current)
    return peak


def test_peak_psum_banks_counts_the_banks_open_at_once_per_core() -> None:
    """Random spans on whole and half nanoseconds (ties: an end and a start at the same time do not
    overlap), on one to three cores: the peak of the sorted start and end times is the event count's."""
    rng = random.Random(5)
    assert peak_psum_banks({}) == 0
    for trial in range(300):
        live: dict[tuple[int, int, int], list[float]] = {}
        cores = rng.randint(1, 3)
        for k in range(rng.randint(1, 30)):
            start = rng.randint(0, 40) / 2
            live[(rng.randrange(cores), k, rng.randint(0, 1))] = [start, start + rng.randint(0, 10) / 2]
        assert peak_psum_banks(live) == _peak_by_events(live), trial
