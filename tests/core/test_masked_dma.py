"""Masked, out-of-bounds-guarded and index-array DMAs move only the selected elements.

nki-semantics.md §9: the compiler turns a legacy ``mask=`` into a smaller access pattern, and
exactly the selected elements move, as descriptors of consecutive bytes. Expected values are
derived by hand from the DMA rules of tests/core/test_dma.py (trn1: 16 queues of 17 B/ns, 1,300 ns
fixed cost per part, efficiency c / (c + 384) for c contiguous bytes per descriptor, parts of at
least 32 KiB).

The pattern kernel follows the public RMSNorm-QKV kernel: row tiles of 128 tokens, the last one
partial and masked (``rows < M``) on its load and its store, RMSNorm, a TensorE transpose and the
fused QKV projection.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from trnsim.core import simulate_trace
from trnsim.nki import TensorSpec, simulate, trace_kernel
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl
from trnsim.nki.trace import Engine, Instruction, KernelTrace

_EPS = 1e-6


@jit
def rmsnorm_qkv(x: Any, g: Any, w: Any) -> Any:
    """x [M, D=128], g [1, D], w [D, N] -> rmsnorm(x) * g @ w, row tiles masked past M."""
    m_rows, d = x.shape
    n = w.shape[1]
    out = nl.ndarray((m_rows, n), dtype=x.dtype, buffer=nl.shared_hbm)
    ip = nl.arange(128)[:, None]
    i_d = nl.arange(d)[None, :]
    i_n = nl.arange(n)[None, :]
    g_t = nl.load(g)
    w_t = nl.load(w)
    for i in nl.affine_range(math.ceil(m_rows / 128)):
        rows = i * 128 + ip
        xt = nl.load(x[rows, i_d], mask=(rows < m_rows), dtype=nl.float32)
        ss = nl.sum(nl.square(xt, mask=(rows < m_rows)), axis=[1], mask=(rows < m_rows))
        r = nl.rsqrt(ss / d + _EPS, mask=(rows < m_rows))
        y = nl.multiply(nl.multiply(xt, r, mask=(rows < m_rows)), g_t.broadcast_to((128, d)),
                        mask=(rows < m_rows), dtype=x.dtype)
        y_t = nl.copy(nisa.nc_transpose(y), dtype=x.dtype)
        acc = nisa.nc_matmul(y_t, w_t)
        nl.store(out[rows, i_n], value=nl.copy(acc, dtype=x.dtype), mask=(rows < m_rows))
    return out


@jit
def gather_rows(data: Any, idx: Any) -> Any:
    """out[p, :] = data[idx[p], :] (an index-array load) then a masked half-width store."""
    n, f = idx.shape[0], data.shape[1]
    out = nl.ndarray((n, f), dtype=data.dtype, buffer=nl.shared_hbm)
    ip = nl.arange(n)[:, None]
    i_f = nl.arange(f)[None, :]
    it = nl.load(idx)
    rows = nl.load(data[it[ip, 0], i_f])
    nl.store(out[ip, i_f], value=rows, mask=(i_f < f // 2))
    return out


def _dmas(trace: KernelTrace) -> list[Instruction]:
    return [i for i in trace.instructions if i.engine == Engine.DMA]


def test_pattern_kernel_values_match_numpy() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 128)).astype(np.float32)
    g = rng.standard_normal((1, 128)).astype(np.float32)
    w = rng.standard_normal((128, 256)).astype(np.float32)
    out = simulate(rmsnorm_qkv, x, g, w, target="trn1")
    y = x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + _EPS) * g
    ref = y @ w
    # fp32 throughout: a 128-term dot product of O(1) values, |ref| up to ~40; fp32 rounding
    # of each product and sum gives at most 128 x 2^-24 x 40 ≈ 3e-4 absolute.
    assert np.abs(out - ref).max() <= 128 * 2.0**-24 * np.abs(ref).max() * 4


def test_partial_tile_moves_only_the_selected_rows() -> None:
    # M = 200 bf16 rows of D = 128: tile 0 moves 128 rows, tile 1 the 72 rows 128..199.
    # Each row is 256 contiguous bytes in HBM and one SBUF partition: one descriptor per row.
    trace = trace_kernel(rmsnorm_qkv, TensorSpec((200, 128), "bfloat16"), TensorSpec((1, 128), "bfloat16"),
                         TensorSpec((128, 512), "bfloat16"), target="trn1")
    loads = [i for i in _dmas(trace) if i.opcode == "load" and i.attrs.get("descriptors") is not None]
    stores = [i for i in _dmas(trace) if i.opcode == "store"]
    assert [(i.inputs[0].nbytes, i.attrs["descriptors"], i.inputs[0].contiguous_bytes) for i in loads] == [
        (128 * 256, 128, 256), (72 * 256, 72, 256)]
    # the fp32 SBUF side of the converting load holds the same elements at 4 bytes each
    assert loads[1].outputs[0].nbytes == 72 * 128 * 4
    # stores: 512 bf16 = 1 KiB per row
    assert [(i.outputs[0].nbytes, i.attrs["descriptors"]) for i in stores] == [(128 * 1024, 128),
                                                                               (72 * 1024, 72)]


def test_partial_tile_load_latency_by_hand() -> None:
    # Tile 1's store: 72 rows x 1 KiB = 73,728 B, 72 descriptors of 1,024 B: parts = min(16,
    # ceil(73728 / 32768) = 3, 72) = 3 of 24,576 B at 17 x 1024 / 1408 B/ns: 1300 + 1987.7 ns.
    # Before the fix: 65,536 descriptors of 2 B at 17 x 2 / 386 B/ns: ~ 1.7 ms for this one store.
    trace = trace_kernel(rmsnorm_qkv, TensorSpec((200, 128), "bfloat16"), TensorSpec((1, 128), "bfloat16"),
                         TensorSpec((128, 512), "bfloat16"), target="trn1")
    result = simulate_trace(trace, "trn1")
    last_store = [s for s in result.instructions if s.instruction.opcode == "store"][-1]
    assert len(last_store.parts) == 3
    part = 24576 / (17 * 1024 / 1408)
    assert last_store.end_ns - last_store.start_ns == pytest.approx(1300 + part, rel=1e-6)
    # The whole kernel: ~0.4 MiB of DMA and two row tiles; order of magnitude 10 µs
    # (a few dependent ~3 µs DMAs plus compute), not the milliseconds of per-element descriptors.
    assert 3e3 < result.latency_ns < 3e4


def test_fully_masked_dma_moves_nothing() -> None:
    # A mask that selects nothing moves 0 bytes in 0 descriptors; trnsim keeps the instruction's
    # fixed cost (an assumption: whether the compiler drops such an instruction is undocumented).
    @jit
    def masked_off(x: Any) -> Any:
        out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
        ip = nl.arange(128)[:, None]
        i_f = nl.arange(x.shape[1])[None, :]
        t = nl.load(x[ip, i_f], mask=(ip < 0))
        nl.store(out[ip, i_f], value=t, mask=(i_f < 0))
        return out

    trace = trace_kernel(masked_off, TensorSpec((128, 64), "bfloat16"), target="trn1")
    for dma in _dmas(trace):
        assert dma.attrs["descriptors"] == 0
        assert dma.inputs[0].nbytes == 0 and dma.outputs[0].nbytes == 0
    result = simulate_trace(trace, "trn1")
    assert result.hbm_bytes == 0
    assert result.latency_ns == pytest.approx(2 * 1300)


def test_index_array_load_and_free_masked_store() -> None:
    # 8 gathered rows of 64 fp32 (256 B each): 8 descriptors of 256 B whatever the indices.
    # The store masks the free dimension to 32 elements: 8 rows x 128 B, 8 descriptors (the
    # HBM rows are 256 B apart, so no two rows join).
    data = np.arange(16 * 64, dtype=np.float32).reshape(16, 64)
    idx = np.array([[3], [4], [5], [0], [15], [7], [7], [2]], dtype=np.int32)
    trace = trace_kernel(gather_rows, data, idx, target="trn1", timing_only=False)
    gather, store = [i for i in _dmas(trace) if i.attrs.get("descriptors") is not None]
    assert (gather.inputs[0].nbytes, gather.attrs["descriptors"], gather.inputs[0].contiguous_bytes) == (
        8 * 256, 8, 256)
    assert (store.outputs[0].nbytes, store.attrs["descriptors"]) == (8 * 128, 8)
    out = simulate(gather_rows, data, idx, target="trn1")
    np.testing.assert_array_equal(out[:, :32], data[idx[:, 0], :32])
