"""Compute-engine mechanisms against numbers derived by hand from the spec's cost formulas.

Spec facts used (hardware.md section 2, nki-api.md sections 6.1-6.2; the same values are in
hardware/data/neuroncore_timing/*.toml):
  trn1: TensorE 2.8 GHz, VectorE 1.12 GHz, ScalarE/GpSimdE 1.4 GHz; MIN_II 64 cycles;
        SBUF/PSUM access latency 60 cycles; dependent-instruction overhead 100 cycles (VectorE);
        matmul max(min(64, N_stationary), N_moving) cycles, x4 for fp32; LoadStationary 4x faster
        than a multiply; MM_INIT_LATENCY (fill) 64 cycles; GpSimdE 150 + N cycles;
        strides over 16 B halve SBUF bandwidth; VectorE/GpSimdE share the SBUF port on v2.
  trn2: VectorE 0.96 GHz, 4x for SBUF bf16 unit-stride tensor_copy; GpSimdE 1.2 GHz; no port sharing.
"""

from __future__ import annotations

import pytest

from tests.core.builder import TraceBuilder
from trnsim.core import Bound, simulate_trace
from trnsim.nki.trace import Engine


def _matmul(b: TraceBuilder, psum_alloc: int | None = None, dtype: str = "bfloat16",
            moving_free: int = 512) -> None:
    stationary = b.sbuf((128, 128), dtype)
    moving = b.sbuf((128, moving_free), dtype)
    out = b.psum((128, moving_free), "float32", alloc=psum_alloc)
    b.add(Engine.TENSOR, "nc_matmul", (stationary, moving), (out,))


def test_lone_matmul() -> None:
    # LoadStationary 128/4 = 32 cycles (exposed: nothing runs before it), multiply
    # max(min(64, 128), 512) = 512 cycles, fill latency 64: 608 cycles / 2.8 GHz = 217.142857 ns.
    b = TraceBuilder("trn1")
    _matmul(b)
    result = simulate_trace(b.trace, "trn1")
    assert result.latency_ns == pytest.approx(608 / 2.8)
    assert result.flops == 2 * 128 * 128 * 512
    assert result.engine_busy_ns["tensor"] == pytest.approx((32 + 512) / 2.8)


def test_fp32_matmul_takes_four_times_the_cycles() -> None:
    # 4 x 512 = 2048 cycles + 32 LoadStationary + 64 fill = 2144 cycles / 2.8 GHz.
    b = TraceBuilder("trn1")
    _matmul(b, dtype="float32")
    assert simulate_trace(b.trace, "trn1").latency_ns == pytest.approx(2144 / 2.8)


def test_small_moving_tile_pays_the_minimum_issue_interval() -> None:
    # 8 back-to-back matmuls with N_moving = 32: each max(min(64,128), 32) = 64 cycles, so the
    # array streams 32 useful columns in 64 cycles: 32 + 8 x 64 + 64 = 608 cycles.
    b = TraceBuilder("trn1")
    for _ in range(8):
        _matmul(b, moving_free=32)
    result = simulate_trace(b.trace, "trn1")
    assert result.latency_ns == pytest.approx(608 / 2.8)
    assert result.bound == Bound.INSTRUCTION_OVERHEAD


def test_accumulating_matmuls_stream_back_to_back() -> None:
    # Four matmuls accumulating into one PSUM tile are ordered by TensorE's queue, not by a
    # semaphore: 32 (first LoadStationary) + 4 x 512 + 64 fill = 2144 cycles / 2.8 GHz.
    b = TraceBuilder("trn1")
    acc = b.alloc()
    for _ in range(4):
        _matmul(b, psum_alloc=acc)
    result = simulate_trace(b.trace, "trn1")
    assert result.latency_ns == pytest.approx(2144 / 2.8)
    assert result.bound == Bound.COMPUTE


def _tensor_scalar(b: TraceBuilder, src_alloc: int, dst_alloc: int, free: int = 512, **kw: object) -> None:
    b.add(Engine.VECTOR, "tensor_scalar", (b.sbuf((128, free), alloc=src_alloc, **kw),),  # type: ignore[arg-type]
          (b.sbuf((128, free), alloc=dst_alloc),), op0="multiply")


def test_dependent_vector_chain() -> None:
    # tensor_scalar over 512 fp32 elements: max(64, 512) = 512 cycles; result 60 cycles later.
    # Each dependent successor starts 100 cycles after its input is ready.
    # 10 links: 572 + 9 x (100 + 512 + 60) = 6620 cycles / 1.12 GHz = 5910.714 ns.
    b = TraceBuilder("trn1")
    tiles = [b.alloc() for _ in range(11)]
    for i in range(10):
        _tensor_scalar(b, tiles[i], tiles[i + 1])
    assert simulate_trace(b.trace, "trn1").latency_ns == pytest.approx(6620 / 1.12)


def test_independent_vector_instructions_pipeline() -> None:
    # The same 10 instructions on independent tiles issue back to back:
    # 10 x 512 + 60 = 5180 cycles / 1.12 GHz = 4625 ns.
    b = TraceBuilder("trn1")
    for _ in range(10):
        _tensor_scalar(b, b.alloc(), b.alloc())
    result = simulate_trace(b.trace, "trn1")
    assert result.latency_ns == pytest.approx(5180 / 1.12)
    assert result.bound == Bound.COMPUTE


def test_tiny_dependent_instructions_are_overhead_bound() -> None:
    # 8 elements: max(64, 8) = 64 cycles of issue for 8 cycles of work; the chain adds
    # 100 + 60 cycles per link: 124 + 9 x 224 = 2140 cycles.
    b = TraceBuilder("trn1")
    tiles = [b.alloc() for _ in range(11)]
    for i in range(10):
        _tensor_scalar(b, tiles[i], tiles[i + 1], free=8)
    result = simulate_trace(b.trace, "trn1")
    assert result.latency_ns == pytest.approx(2140 / 1.12)
    assert result.bound == Bound.INSTRUCTION_OVERHEAD


def test_two_engines_overlap() -> None:
    # VectorE tensor_scalar 512 fp32: ready at 572 cycles / 1.12 GHz = 510.714 ns.
    # ScalarE activation 1024 fp32 (SBUF to SBUF, no shared port with VectorE on SBUF):
    # ready at (1024 + 60) / 1.4 GHz = 774.286 ns. They overlap: latency is the longer one.
    b = TraceBuilder("trn1")
    _tensor_scalar(b, b.alloc(), b.alloc())
    b.add(Engine.SCALAR, "activation", (b.sbuf((128, 1024)),), (b.sbuf((128, 1024)),), op="exp")
    result = simulate_trace(b.trace, "trn1")
    assert result.latency_ns == pytest.approx(1084 / 1.4)


def _vector_and_gpsimd(target: str) -> TraceBuilder:
    b = TraceBuilder(target)
    _tensor_scalar(b, b.alloc(), b.alloc())
    b.add(Engine.GPSIMD, "iota", (), (b.sbuf((128, 512), "int32"),))
    return b


def test_v2_sbuf_port_serialises_vector_and_gpsimd() -> None:
    # trn1: GpSimdE waits for VectorE's SBUF access: starts at 512 / 1.12 = 457.143 ns, issues
    # 150 + 512 = 662 cycles / 1.4 GHz = 472.857 ns, result 60 / 1.4 = 42.857 ns later: 972.857 ns.
    result = simulate_trace(_vector_and_gpsimd("trn1").trace, "trn1")
    assert result.latency_ns == pytest.approx(512 / 1.12 + 722 / 1.4)


def test_v3_has_no_port_conflict() -> None:
    # trn2: both start at 0. VectorE ready 572 / 0.96 = 595.833 ns; GpSimdE ready
    # (150 + 512 + 60) / 1.2 GHz = 601.667 ns: the latency is the longer, not the sum.
    result = simulate_trace(_vector_and_gpsimd("trn2").trace, "trn2")
    assert result.latency_ns == pytest.approx(722 / 1.2)


def test_stride_over_16_bytes_halves_throughput() -> None:
    # A 32-byte inner stride doubles the element time: 2 x 512 + 60 = 1084 cycles / 1.12 GHz.
    b = TraceBuilder("trn1")
    _tensor_scalar(b, b.alloc(), b.alloc(), stride_bytes=32)
    assert simulate_trace(b.trace, "trn1").latency_ns == pytest.approx(1084 / 1.12)


def test_v3_fast_bf16_copy() -> None:
    # trn2 VectorE copies SBUF bf16 with unit stride 4x faster: 2048 / 4 = 512 cycles,
    # + 60 access = 572 cycles / 0.96 GHz. In fp32 it is 2048 + 60 cycles.
    for dtype, cycles in (("bfloat16", 572), ("float32", 2108)):
        b = TraceBuilder("trn2")
        b.add(Engine.VECTOR, "tensor_copy", (b.sbuf((128, 2048), dtype),), (b.sbuf((128, 2048), dtype),))
        assert simulate_trace(b.trace, "trn2").latency_ns == pytest.approx(cycles / 0.96)


def test_two_input_tensor_tensor_takes_two_passes() -> None:
    # fp32 tensor_tensor from SBUF: max(64, 2N) = 1024 cycles for N = 512; + 60 access.
    b = TraceBuilder("trn1")
    b.add(Engine.VECTOR, "tensor_tensor", (b.sbuf((128, 512)), b.sbuf((128, 512))),
          (b.sbuf((128, 512)),), op="add")
    assert simulate_trace(b.trace, "trn1").latency_ns == pytest.approx(1084 / 1.12)


def test_war_dependency_across_engines() -> None:
    # ScalarE reads tile T (1024 cycles / 1.4 GHz = 731.43 ns); VectorE then overwrites T and
    # must wait until the read is done: it starts at 731.43 + 100 / 1.12 and issues 512 cycles.
    b = TraceBuilder("trn1")
    t = b.alloc()
    b.add(Engine.SCALAR, "activation", (b.sbuf((128, 1024), alloc=t),), (b.sbuf((128, 1024)),), op="exp")
    b.add(Engine.VECTOR, "tensor_scalar", (b.sbuf((128, 1024)),), (b.sbuf((128, 1024), alloc=t),))
    result = simulate_trace(b.trace, "trn1")
    vector = result.instructions[1]
    assert vector.start_ns == pytest.approx(1024 / 1.4 + 100 / 1.12)
    assert result.latency_ns == pytest.approx(1024 / 1.4 + (100 + 1024 + 60) / 1.12)


def test_psum_zero_fill_opening_a_matmul_group_is_folded() -> None:
    # nki-api.md §1.7: nl.zeros in PSUM + `+=` matmuls form an accumulation group whose first
    # write overwrites, so the memset is not executed: the matmul starts at 0 and the launch
    # takes the lone-matmul time, 608 cycles / 2.8 GHz.
    b = TraceBuilder("trn1")
    acc = b.alloc()
    b.add(Engine.VECTOR, "memset", (), (b.psum((128, 512), alloc=acc),), value=0.0)
    _matmul(b, psum_alloc=acc)
    result = simulate_trace(b.trace, "trn1")
    assert result.folded_psum_zero_fills == 1
    assert result.latency_ns == pytest.approx(608 / 2.8)


def test_psum_zero_fill_read_first_is_executed() -> None:
    # A zero-filled PSUM tile read by VectorE before any matmul keeps its memset:
    # memset max(64, 512) + 60 = 572 cycles, then the dependent copy 100 + 512 + 60 cycles.
    b = TraceBuilder("trn1")
    acc = b.alloc()
    b.add(Engine.VECTOR, "memset", (), (b.psum((128, 512), alloc=acc),), value=0.0)
    b.add(Engine.VECTOR, "tensor_copy", (b.psum((128, 512), alloc=acc),), (b.sbuf((128, 512)),))
    result = simulate_trace(b.trace, "trn1")
    assert result.folded_psum_zero_fills == 0
    assert result.latency_ns == pytest.approx((572 + 672) / 1.12)
