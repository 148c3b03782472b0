"""Shipped Trainium tables against fresh simulations at off-grid shapes (needs the chip model).

"Two speeds, one truth": the tables must agree with the chip model they were generated from.
Each off-grid shape is simulated afresh and compared with the interpolated table; the per-shape
error is printed. The tolerance (25 %) allows for the kernels' tiling steps between grid points
(a shape between two grid points can need a whole extra tile or block).
"""

from __future__ import annotations

import importlib.util

import pytest

from trnsim.devicetime import kernel_path
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.devicetime.tables import find_table
from trnsim.devicetime.timing import time_op_detailed
from trnsim.hardware.catalog import load_chip

_REAL = all(importlib.util.find_spec(m) is not None for m in ("trnsim.kernels.registry", "trnsim.nki.legacy"))
pytestmark = pytest.mark.skipif(not _REAL, reason="the kernel library and NKI front end are not in this tree")

OFF_GRID = [
    ("matmul", "bfloat16", {"m": 1024, "k": 1024, "n": 1024}),
    ("matmul", "bfloat16", {"m": 1024, "k": 2048, "n": 2048}),
    ("matmul", "float8_e4m3", {"m": 1024, "k": 1024, "n": 1024}),
    ("matmul", "bfloat16", {"m": 768, "k": 1280, "n": 1536}),
    ("flash_attention_fwd", "bfloat16", {"batch": 1, "heads": 1, "kv_heads": 1, "seq_q": 1536, "seq_k": 1536,
                                         "head_dim": 128, "causal": 1}),
    ("flash_attention_bwd", "bfloat16", {"batch": 1, "heads": 1, "kv_heads": 1, "seq_q": 3072, "seq_k": 3072,
                                         "head_dim": 96, "causal": 1}),
    ("rmsnorm", "bfloat16", {"rows": 512, "hidden": 2048}),
    ("rmsnorm", "bfloat16", {"rows": 2048, "hidden": 6144}),
    ("cross_entropy", "bfloat16", {"tokens": 512, "vocab": 16384}),
    # Decode slices of the serving calibration runs at high TP: narrow K (405B out_proj at TP64),
    # wide N (405B fc2), and the 8B at TP8 with 2 requests.
    ("decode_matmul", "bfloat16", {"m": 1, "k": 256, "n": 16384}),
    ("decode_matmul", "bfloat16", {"m": 1, "k": 896, "n": 16384}),
    ("decode_matmul", "bfloat16", {"m": 2, "k": 4096, "n": 3584}),
]


@pytest.mark.parametrize(("kernel", "dtype", "shape"), OFF_GRID)
def test_table_agrees_with_a_fresh_simulation(kernel: str, dtype: str, shape: dict[str, int]) -> None:
    table = find_table(kernel, dtype, "trn2")
    if table is None:
        pytest.skip(f"no shipped table for {kernel}/{dtype}/trn2")
    fresh = kernel_path.simulate_ns(kernel_path.KernelCall(kernel, shape, dtype), "trn2")
    query = {k: v for k, v in shape.items() if k in table.axes}
    interpolated = table.interpolate_ns(query)
    error = interpolated / fresh - 1
    print(f"{kernel}/{dtype} {shape}: table {interpolated:,.0f} ns, simulated {fresh:,.0f} ns ({error:+.1%})")
    assert abs(error) < 0.25


#: trn1 GEMM calls of the Llama 2 layers at tp8 (7B, 13B) and tp32 (70B) whose tile counts are not
#: powers of two (K = 1408, 1792, 3456 = 11, 14, 27 tiles; N = 1408, 1728, 1792 = 2.75-3.5 moving
#: tiles; M = 896 = 7 tiles), which the power-of-two grid never samples. A kernel that only takes
#: block sizes dividing the tile counts ran them 1.4-1.7× slower than the table (error −30 to −40 %).
MODEL_SHAPES_TRN1 = [
    {"m": 2048, "k": 1792, "n": 1792},
    {"m": 2048, "k": 3456, "n": 1792},
    {"m": 2048, "k": 5120, "n": 1728},
    {"m": 2048, "k": 1408, "n": 2048},
    {"m": 2048, "k": 4096, "n": 1408},
    {"m": 896, "k": 4096, "n": 2048},
]


@pytest.mark.parametrize("shape", MODEL_SHAPES_TRN1)
def test_trn1_table_agrees_with_the_kernel_at_model_shapes(shape: dict[str, int]) -> None:
    table = find_table("matmul", "bfloat16", "trn1")
    if table is None:
        pytest.skip("no shipped table for matmul/bfloat16/trn1")
    fresh = kernel_path.simulate_ns(kernel_path.KernelCall("matmul", shape, "bfloat16"), "trn1")
    error = table.interpolate_ns(shape) / fresh - 1
    print(f"matmul/bfloat16/trn1 {shape}: table vs simulated {error:+.1%}")
    assert abs(error) < 0.25


def test_table_fast_path_against_the_roofline() -> None:
    # The roofline bounds any simulated time from below; print how far the kernel is from it.
    op = Op("mm", OpClass.MATMUL, Phase.FWD, 2.0 * 4096**3, 3.0 * 4096**2 * 2, 4096**2 * 2.0,
            {"m": 4096, "k": 4096, "n": 4096}, Dtype.BF16, 1, kernel="matmul")
    chip = load_chip("trn2")
    table = time_op_detailed(op, chip, "table", ranks_per_chip=8)
    roofline = time_op_detailed(op, chip, "roofline", ranks_per_chip=8)
    print(f"4096^3 on one trn2 NeuronCore: table {table.seconds * 1e6:,.0f} us, roofline "
          f"{roofline.seconds * 1e6:,.0f} us ({roofline.seconds / table.seconds:.0%} of peak)")
    assert table.seconds >= roofline.seconds
