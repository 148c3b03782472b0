"""DMA and HBM mechanisms against numbers derived by hand from the spec.

Spec facts used ([DMA], [PG], [AG2]/[AG3] in hardware.md; same values in the timing data):
  16 DMA queues per core; 17 B/ns per queue on trn1, 23 B/ns on trn2; about 1,300 ns fixed cost
  per transfer; trn2 HBM 2.9 TB/s shared by 8 cores. trnsim's inferred rules (data file notes):
  per-descriptor overhead 384 B, so efficiency = chunk / (chunk + 384); a DMA is split over
  queues in parts of at least 32 KiB.
"""

from __future__ import annotations

import pytest

from tests.core.builder import TraceBuilder
from trnsim.core import Bound, simulate_trace
from trnsim.hardware.neuroncore_timing import load_timing
from trnsim.nki.trace import Engine, MemorySpace, Operand, Region


def _load(b: TraceBuilder, rows: int, cols: int, core: int = 0, contiguous: int | None = None) -> None:
    src = b.hbm((rows, cols), "bfloat16", contiguous_bytes=contiguous)
    b.add(Engine.DMA, "load", (src,), (b.sbuf((rows, cols), "bfloat16"),), core=core)


def test_one_large_transfer_is_split_over_the_queues() -> None:
    # [128, 4096] bf16 = 1 MiB, 8 KiB contiguous per partition: min(16 queues, 1 MiB / 32 KiB = 32,
    # 128 rows) = 16 parts of 64 KiB. Efficiency 8192 / 8576; rate 17 x 0.955224 = 16.2388 B/ns.
    # Each part: 1300 + 65536 / 16.2388 = 5335.76 ns, all 16 in parallel.
    b = TraceBuilder("trn1")
    _load(b, 128, 4096)
    result = simulate_trace(b.trace, "trn1")
    assert result.latency_ns == pytest.approx(1300 + 65536 / (17 * 8192 / 8576))
    assert len(result.instructions[0].parts) == 16
    assert result.hbm_bytes == 1 << 20


def test_many_small_transfers_pay_the_fixed_cost_each() -> None:
    # The same 1 MiB as 256 loads of [1, 2048] bf16 (4 KiB each, one part each): efficiency
    # 4096 / 4480, so 1300 + 4096 / (17 x 0.914286) = 1563.54 ns per transfer; 16 per queue.
    b = TraceBuilder("trn1")
    for _ in range(256):
        _load(b, 1, 2048)
    result = simulate_trace(b.trace, "trn1")
    per_transfer = 1300 + 4096 / (17 * 4096 / 4480)
    assert result.latency_ns == pytest.approx(16 * per_transfer)
    assert result.bound == Bound.DMA_FIXED_COST
    large = TraceBuilder("trn1")
    _load(large, 128, 4096)
    ratio = result.latency_ns / simulate_trace(large.trace, "trn1").latency_ns
    assert ratio == pytest.approx(16 * per_transfer / (1300 + 65536 / (17 * 8192 / 8576)))


def test_small_contiguous_chunks_lower_throughput() -> None:
    # 1 MiB with 512-byte contiguous runs: efficiency 512 / 896 = 0.571429 instead of 0.955.
    b = TraceBuilder("trn1")
    _load(b, 128, 4096, contiguous=512)
    result = simulate_trace(b.trace, "trn1")
    assert result.latency_ns == pytest.approx(1300 + 65536 / (17 * 512 / 896))


def test_sbuf_to_sbuf_transpose_runs_at_half_throughput() -> None:
    # trn2 dma_transpose SBUF -> SBUF of [128, 128] bf16 = 32 KiB, one part (32 KiB / 32 KiB),
    # 256-byte rows: efficiency 256 / 640 x 0.5 = 0.2; 1300 + 32768 / (23 x 0.2) ns.
    b = TraceBuilder("trn2")
    b.add(Engine.DMA, "dma_transpose", (b.sbuf((128, 128), "bfloat16"),), (b.sbuf((128, 128), "bfloat16"),))
    result = simulate_trace(b.trace, "trn2")
    assert result.latency_ns == pytest.approx(1300 + 32768 / (23 * 0.2))
    assert result.hbm_bytes == 0


def _eight_core_loads(cores: int) -> TraceBuilder:
    # Each core loads [128, 16384] bf16 = 4 MiB with 32 KiB per partition.
    b = TraceBuilder("trn2")
    for core in range(cores):
        _load(b, 128, 16384, core=core)
    return b


def test_hbm_shared_by_eight_cores() -> None:
    # One core: 16 parts of 256 KiB at 23 x 32768/33152 = 22.7334 B/ns each = 363.7 B/ns in all,
    # far below HBM: 1300 + 262144 / 22.7334 = 12831.1 ns.
    # Eight cores would need 8 x 363.7 = 2909.9 B/ns > 2900 B/ns of HBM: they finish when HBM has
    # moved 32 MiB: 1300 + 33554432 / 2900 = 12870.5 ns (to the HBM booking resolution).
    rate = 23 * 32768 / 33152
    one = simulate_trace(_eight_core_loads(1).trace, "trn2")
    assert one.latency_ns == pytest.approx(1300 + 262144 / rate)
    assert one.bound == Bound.DMA_BANDWIDTH
    eight = simulate_trace(_eight_core_loads(8).trace, "trn2")
    assert eight.latency_ns == pytest.approx(1300 + 33554432 / 2900, rel=0.01)
    assert eight.num_cores == 8


def test_hbm_saturation_with_half_the_bandwidth() -> None:
    # What-if: HBM at 1.45 TB/s (one override). One core is unaffected (363.7 < 1450 B/ns);
    # eight cores are HBM-bound: 1300 + 33554432 / 1450 = 24441.0 ns, twice the single core.
    timing = load_timing("trn2", {"chip": {"hbm_bandwidth_bytes_per_s": 1.45e12}})
    one = simulate_trace(_eight_core_loads(1).trace, timing)
    assert one.latency_ns == pytest.approx(1300 + 262144 / (23 * 32768 / 33152))
    eight = simulate_trace(_eight_core_loads(8).trace, timing)
    assert eight.latency_ns == pytest.approx(1300 + 33554432 / 1450, rel=0.02)
    assert eight.bound == Bound.HBM


def test_dma_waits_for_its_producer() -> None:
    # A store of a tile VectorE writes starts when the tile is ready: 572 cycles / 1.12 GHz,
    # then 1300 + 4096 / (17 x 4096/4480) ns for a [1, 1024] fp32 store.
    b = TraceBuilder("trn1")
    tile = b.alloc()
    b.add(Engine.VECTOR, "tensor_scalar", (b.sbuf((1, 512)),), (b.sbuf((1, 1024), alloc=tile),))
    b.add(Engine.DMA, "store", (b.sbuf((1, 1024), alloc=tile),), (b.hbm((1, 1024), "float32"),))
    result = simulate_trace(b.trace, "trn1")
    assert result.instructions[1].start_ns == pytest.approx((1024 + 60) / 1.12)
    assert result.latency_ns == pytest.approx((1024 + 60) / 1.12 + 1300 + 4096 / (17 * 4096 / 4480))


def test_stores_to_one_output_do_not_serialise_but_a_reload_waits() -> None:
    # Two [128, 512] bf16 column tiles of a row-major [128, 1024] output: as linear byte ranges
    # they interleave (rows of 2 KiB), yet DMA writes are not ordered among themselves, so both
    # stores start at 0 on different queues: 4 parts each of 32 KiB with 1 KiB rows:
    # 1300 + 32768 / (17 x 1024/1408) ns. A load of the first tile waits for its store.
    b = TraceBuilder("trn1")
    out = b.alloc()
    row_bytes = 1024 * 2
    span = 127 * row_bytes + 512 * 2
    tiles = [Operand("c", MemorySpace.HBM, (128, 512), "bfloat16", 131072,
                     Region(out, 0, 1, col * 1024, col * 1024 + span), 1024, 2) for col in (0, 1)]
    for tile in tiles:
        b.add(Engine.DMA, "store", (b.sbuf((128, 512), "bfloat16"),), (tile,))
    b.add(Engine.DMA, "load", (tiles[0],), (b.sbuf((128, 512), "bfloat16"),))
    result = simulate_trace(b.trace, "trn1")
    one = 1300 + 32768 / (17 * 1024 / 1408)
    assert result.instructions[0].end_ns == pytest.approx(one)
    assert result.instructions[1].start_ns == 0.0
    assert result.instructions[2].start_ns == pytest.approx(one)
