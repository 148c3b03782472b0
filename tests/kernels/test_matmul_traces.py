"""The matmul family traced in timing-only mode: the same TensorE work in every variant, and the
HBM traffic each optimisation removes, counted from the loop nests by hand.

Shape: lhsT [K=1024, M=512], rhs [K=1024, N=2048], bf16 (2 bytes); tiles K 128, M 128, N 512, so
4 × 4 × 8 = 128 (m, n, k) tile steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("trnsim.nki.legacy", reason="the kernel layer trnsim.nki.legacy is not available yet")

from trnsim import nki
from trnsim.kernels import registry
from trnsim.nki.trace import Engine, KernelTrace, MemorySpace

M, K, N = 512, 1024, 2048
BYTES = 2
STEPS = (M // 128) * (N // 512) * (K // 128)

#: HBM bytes read by each variant, from its loop nest:
EXPECTED_READS = {
    # every step loads a [128, 128] lhsT tile and a [128, 512] rhs tile
    "matmul_naive": STEPS * (128 * 128 + 128 * 512) * BYTES,
    "matmul_tiled": STEPS * (128 * 128 + 128 * 512) * BYTES,
    # lhsT once in all (one strip per m); rhs once per m tile (M/128 = 4 times)
    "matmul_hoisted": (M * K + (M // 128) * K * N) * BYTES,
    # lhsT once; rhs once per 2-tile m block (2 times)
    "matmul_blocked_free": (M * K + (M // 256) * K * N) * BYTES,
    # the fp32 result block for all M and all N (4·2048·4 = 32 KiB per partition) and every K
    # tile of lhsT and rhs (8·(2048 + 512)·2 = 40 KiB), each double-buffered, plus the packed
    # output row (4 KiB) fit in 151,552 bytes, below 0.9 × the SBUF of every generation
    # (≥ 176 KiB per partition): both operands are read exactly once.
    "matmul_fully_blocked": (K * N + K * M) * BYTES,
}


def _trace(name: str) -> KernelTrace:
    args = registry.get(name).make_args({"m": M, "k": K, "n": N}, "bfloat16")
    return nki.trace_kernel(registry.get(name).kernel, *args, target="trn1", timing_only=True)


def _hbm_bytes(trace: KernelTrace, side: str) -> int:
    total = 0
    for ins in trace.instructions:
        if ins.engine != Engine.DMA:
            continue
        operands: Any = ins.inputs if side == "read" else ins.outputs
        total += sum(op.nbytes for op in operands if op.space == MemorySpace.HBM)
    return total


@pytest.mark.parametrize("name", registry.MATMUL_FAMILY)
def test_matmul_variant_traffic(name: str) -> None:
    trace = _trace(name)
    matmuls = [i for i in trace.instructions if i.opcode == "nc_matmul"]
    assert len(matmuls) == STEPS, f"{name}: {len(matmuls)} nc_matmul, expected {STEPS}"
    assert _hbm_bytes(trace, "read") == EXPECTED_READS[name]
    assert _hbm_bytes(trace, "write") == M * N * BYTES


def test_family_reads_fall_in_optimisation_order() -> None:
    reads = [EXPECTED_READS[n] for n in registry.MATMUL_FAMILY]
    assert reads == sorted(reads, reverse=True)
    assert np.all(np.diff(reads[1:]) < 0)


@pytest.mark.parametrize(("m", "k", "n"), [(384, 896, 2100), (256, 896, 3300)])
def test_uneven_blocks_cover_each_tile_once(m: int, k: int, n: int) -> None:
    """fp32 shapes whose plan splits K, M or N unevenly (tests/kernels/test_values.py): every
    (m, n, k) tile product is issued exactly once, over 128-row M tiles, 128-row K tiles and
    ⌈N/512⌉ moving tiles (the last narrower), and each moving column is streamed once per
    (m, k) tile. The plans keep all of M in one super-block and all of N in at most two n blocks:
    (384, 896, 2100) reads each operand once; (256, 896, 3300) reads lhsT once per n block (2)."""
    entry = registry.get("matmul")
    args = entry.make_args({"m": m, "k": k, "n": n}, "float32")
    trace = nki.trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
    matmuls = [i for i in trace.instructions if i.opcode == "nc_matmul"]
    assert len(matmuls) == (m // 128) * (k // 128) * -(-n // 512)
    moving_columns = sum(int(i.inputs[1].shape[-1]) for i in matmuls)
    assert moving_columns == (m // 128) * (k // 128) * n
    lhs_passes = 1 if n <= 2560 else 2
    assert _hbm_bytes(trace, "read") == (k * n + lhs_passes * k * m) * 4
    assert _hbm_bytes(trace, "write") == m * n * 4
