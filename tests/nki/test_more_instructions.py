"""Less common instructions: statistics, top-8, index search, shuffles, DMA compute, registers."""

from __future__ import annotations

from typing import Any

import numpy as np

from trnsim.nki import current as nki
from trnsim.nki import simulate
from trnsim.nki.current import isa as cisa
from trnsim.nki.current import language as cnl
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


def test_bn_stats_and_aggr_give_mean_and_variance() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((a.shape[0], 2), nl.float32, buffer=nl.shared_hbm)
        x = nl.load(a)
        halves = nl.ndarray((a.shape[0], 12), nl.float32, buffer=nl.sbuf)
        halves[:, 0:6] = nisa.bn_stats(x[:, 0:64])  # statistics of two column chunks...
        halves[:, 6:12] = nisa.bn_stats(x[:, 64:128])
        nl.store(out, value=nisa.bn_aggr(halves))  # ...aggregate to those of the whole row
        return out

    a = np.random.default_rng(0).standard_normal((16, 128)).astype(np.float32)
    out = simulate(k, a)
    np.testing.assert_allclose(out[:, 0], a.mean(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], a.var(axis=1), rtol=1e-4)


def test_max8_and_find_index8() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((a.shape[0], 16), nl.float32, buffer=nl.shared_hbm)
        x = nl.load(a)
        top = nisa.max8(src=x)
        idx = nisa.nc_find_index8(data=x, vals=top)
        both = nl.ndarray((a.shape[0], 16), nl.float32, buffer=nl.sbuf)
        both[:, 0:8] = nl.copy(top)
        both[:, 8:16] = nl.copy(idx, dtype=nl.float32)
        nl.store(out, value=both)
        return out

    a = np.random.default_rng(1).permutation(40).astype(np.float32).reshape(2, 20)
    out = simulate(k, a)
    expect = -np.sort(-a, axis=1)[:, :8]
    np.testing.assert_array_equal(out[:, :8], expect)
    np.testing.assert_array_equal(out[:, 8:], np.argsort(-a, axis=1)[:, :8])


def test_stream_shuffle_reverses_a_quadrant() -> None:
    @nki.jit
    def k(a: Any) -> Any:
        out = cnl.ndarray(a.shape, a.dtype, buffer=cnl.shared_hbm)
        x = cnl.ndarray(a.shape, a.dtype, buffer=cnl.sbuf)
        y = cnl.ndarray(a.shape, a.dtype, buffer=cnl.sbuf)
        cisa.dma_copy(dst=x, src=a)
        cisa.nc_stream_shuffle(dst=y, src=x, shuffle_mask=list(range(31, -1, -1)))
        cisa.dma_copy(dst=out, src=y)
        return out

    a = np.arange(64 * 2, dtype=np.float32).reshape(64, 2)
    out = nki.simulate(k)(a)
    np.testing.assert_array_equal(out[:32], a[:32][::-1])  # each 32-partition quadrant reversed
    np.testing.assert_array_equal(out[32:], a[32:][::-1])


def test_dma_compute_and_register_offsets() -> None:
    @nki.jit
    def k(a: Any, b: Any) -> Any:
        out = cnl.ndarray((1, 4), cnl.float32, buffer=cnl.shared_hbm)
        t = cnl.ndarray((1, 4), cnl.float32, buffer=cnl.sbuf)
        row = cisa.register_alloc(2)
        # row 2 of a, via a register scalar offset: [[4, 1], [1, 4]] over the [3, 4] storage
        cisa.dma_compute(
            dst=t,
            srcs=[a.ap([[4, 1], [1, 4]], offset=0, scalar_offset=row), b],
            reduce_op=cnl.add,
            scales=[2.0, 1.0],
        )
        cisa.dma_copy(dst=out, src=t)
        return out

    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(nki.simulate(k)(a, b), 2 * a[2:3] + 1)


def test_range_select_and_select_reduce() -> None:
    @nki.jit
    def k(a: Any, lo: Any, hi: Any) -> Any:
        out = cnl.ndarray((2, 5), cnl.float32, buffer=cnl.shared_hbm)
        x = cnl.ndarray((2, 4), cnl.float32, buffer=cnl.sbuf)
        b0 = cnl.ndarray((2, 1), cnl.float32, buffer=cnl.sbuf)
        b1 = cnl.ndarray((2, 1), cnl.float32, buffer=cnl.sbuf)
        cisa.dma_copy(dst=x, src=a)
        cisa.dma_copy(dst=b0, src=lo)
        cisa.dma_copy(dst=b1, src=hi)
        r = cnl.ndarray((2, 5), cnl.float32, buffer=cnl.sbuf)
        # keep columns j with lo <= j < hi, else FP32_MIN; the row max lands in column 4
        cisa.range_select(
            dst=r[:, 0:4],
            on_true_tile=x,
            comp_op0=cnl.greater_equal,
            comp_op1=cnl.less,
            bound0=b0,
            bound1=b1,
            reduce_res=r[:, 4:5],
        )
        cisa.dma_copy(dst=out, src=r)
        return out

    a = np.array([[5.0, 1.0, 7.0, 3.0], [2.0, 9.0, 4.0, 8.0]], np.float32)
    lo = np.array([[1.0], [0.0]], np.float32)
    hi = np.array([[3.0], [1.0]], np.float32)
    out = nki.simulate(k)(a, lo, hi)
    fmin = np.finfo(np.float32).min
    np.testing.assert_array_equal(out[:, :4], [[fmin, 1.0, 7.0, fmin], [2.0, fmin, fmin, fmin]])
    np.testing.assert_array_equal(out[:, 4], [7.0, 2.0])

    @jit
    def sel(a: Any, p: Any) -> Any:
        out = nl.ndarray((2, 4), nl.float32, buffer=nl.shared_hbm)
        d = nl.ndarray((2, 4), nl.float32, buffer=nl.sbuf)
        nisa.select_reduce(dst=d, predicate=nl.load(p), on_true=nl.load(a), on_false=-1.0)
        nl.store(out, value=d)
        return out

    pred = np.array([[1, 0, 1, 0], [0, 0, 1, 1]], np.uint8)
    np.testing.assert_array_equal(simulate(sel, a, pred), np.where(pred != 0, a, -1.0))
