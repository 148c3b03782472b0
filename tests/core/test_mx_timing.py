"""MX (trn3) timing against numbers derived by hand from the spec.

Spec facts (nki-api.md §6.1/§6.2, hardware.md §2; in neuroncore_timing/trn3.toml): TensorE
2.4 GHz; 8x128 MXFP8 inputs per cycle vs 2x128 bf16 (peak 315 vs 79 TFLOPS: mx_rate 4);
matmul ``max(min(64, N_stationary), N_moving)`` cycles; LoadStationary 4x faster than a multiply;
fill latency 64 cycles. An x4 element holds 4 contraction values per partition (nki-api.md §4).
VectorE 1.2 GHz, ``max(MIN_II, N)`` cycles at one element per cycle for non-16-bit operands.
"""

from __future__ import annotations

import pytest

from tests.core.builder import TraceBuilder
from trnsim.core import simulate_trace
from trnsim.nki.trace import Engine


def _mx_matmul(b: TraceBuilder, moving_free: int = 512, dtype: str = "float8_e4m3fn_x4") -> None:
    stationary = b.sbuf((128, 128), dtype)
    moving = b.sbuf((128, moving_free), dtype)
    scales = (b.sbuf((16, 128), "uint8"), b.sbuf((16, moving_free), "uint8"))
    out = b.psum((128, moving_free), "float32")
    b.add(Engine.TENSOR, "nc_matmul_mx", (stationary, moving, *scales), (out,))


def test_lone_mx_matmul_streams_one_packed_column_per_cycle() -> None:
    # LoadStationary 128/4 = 32 cycles, multiply max(min(64, 128), 512) = 512 cycles (each cycle
    # one packed column: 4 x 128 contraction values), fill 64: 608 cycles / 2.4 GHz.
    b = TraceBuilder("trn3")
    _mx_matmul(b)
    result = simulate_trace(b.trace, "trn3")
    assert result.latency_ns == pytest.approx(608 / 2.4)
    assert result.flops == 2 * (4 * 128) * 128 * 512


def test_mx_matmul_is_four_times_bf16_per_contraction_value() -> None:
    # The same 512-deep contraction in bf16 takes 4 matmuls of 512 cycles (32 + 4 x 512 + 64).
    mx, bf16 = TraceBuilder("trn3"), TraceBuilder("trn3")
    _mx_matmul(mx)
    for _ in range(4):
        stationary, moving = bf16.sbuf((128, 128), "bfloat16"), bf16.sbuf((128, 512), "bfloat16")
        bf16.add(Engine.TENSOR, "nc_matmul", (stationary, moving), (bf16.psum((128, 512), alloc=1),))
    t_mx, t_bf16 = simulate_trace(mx.trace, "trn3"), simulate_trace(bf16.trace, "trn3")
    assert t_mx.flops == t_bf16.flops
    assert t_mx.engine_busy_ns["tensor"] == pytest.approx((32 + 512) / 2.4)
    assert t_bf16.engine_busy_ns["tensor"] == pytest.approx((32 + 4 * 512) / 2.4)


def test_mxfp4_runs_at_the_mxfp8_rate() -> None:
    b = TraceBuilder("trn3")
    _mx_matmul(b, dtype="float4_e2m1fn_x4")
    assert simulate_trace(b.trace, "trn3").latency_ns == pytest.approx(608 / 2.4)


def test_quantize_mx_is_one_vector_pass_over_the_source() -> None:
    # src [128, 1024] bf16 -> dst [128, 256] x4: max(64, 1024) cycles / 1.2 GHz busy.
    b = TraceBuilder("trn3")
    src = b.sbuf((128, 1024), "bfloat16")
    b.add(
        Engine.VECTOR,
        "quantize_mx",
        (src,),
        (b.sbuf((128, 256), "float8_e4m3fn_x4"), b.sbuf((16, 256), "uint8")),
    )
    assert simulate_trace(b.trace, "trn3").engine_busy_ns["vector"] == pytest.approx(1024 / 1.2)
