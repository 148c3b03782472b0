"""Regressions found running kernels written as the public SDK samples write them."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from trnsim.nki import simulate
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


@jit
def transpose_by_identity(a: Any) -> Any:
    out = nl.ndarray((a.shape[1], a.shape[0]), nl.float32, buffer=nl.shared_hbm)
    ident = nl.load(nl.shared_identity_matrix(a.shape[0], dtype=nl.bfloat16))
    # nc_matmul(stationary=x, moving=I) = x.T @ I = x.T
    t = nisa.nc_matmul(nl.load(a), ident)
    nl.store(out, value=nl.copy(t, dtype=nl.float32))
    return out


def test_loading_shared_identity_matrix_gives_the_identity() -> None:
    # was: "could not broadcast input array from shape (128,128) into shape (16384,)" because the
    # constant array was written into the flat storage without flattening.
    a = np.arange(128 * 32, dtype=np.float32).reshape(128, 32) % 7
    out = simulate(transpose_by_identity, a.astype(ml_dtypes.bfloat16))
    np.testing.assert_array_equal(out, a.T)  # small integers: exact in bf16 and fp32


@jit
def load_constant(_: Any) -> Any:
    out = nl.ndarray((4, 3), nl.int32, buffer=nl.shared_hbm)
    c = nl.load(nl.shared_constant(np.arange(12).reshape(4, 3), dtype=nl.int32))
    nl.store(out, value=c)
    return out


def test_shared_constant_keeps_the_arrays_layout() -> None:
    out = simulate(load_constant, np.zeros((1, 1), np.float32))
    np.testing.assert_array_equal(out, np.arange(12).reshape(4, 3))


@jit
def row_broadcast_by_mgrid(g: Any) -> Any:
    out = nl.ndarray((4, 8), nl.float32, buffer=nl.shared_hbm)
    _, i_f = nl.mgrid[0:4, 0:8]
    i_row = nl.arange(1)[:, None]
    # i_row is 0 on every partition: the view repeats g's single row (partition stride 0)
    nl.store(out, value=nl.load(g.reshape((1, 8))[i_row, i_f]))
    return out


def test_size_one_index_against_a_full_mgrid_index_broadcasts() -> None:
    # was: the size-1 arange's coefficient became a partition stride of 8 elements, so rows 1..3
    # read past the 8-element tensor (garbage / NaN).
    g = np.arange(8, dtype=np.float32)
    out = simulate(row_broadcast_by_mgrid, g)
    np.testing.assert_array_equal(out, np.tile(g, (4, 1)))


@jit
def masked_row_stats(a: Any) -> Any:
    out = nl.ndarray((a.shape[0], 1), nl.float32, buffer=nl.shared_hbm)
    i_p, i_f = nl.mgrid[0:128, 0 : a.shape[1]]
    m = i_p < a.shape[0]
    x = nl.load(a[i_p, i_f], mask=m)
    s = nl.sum(x, axis=[1], mask=m)  # a [128, 1] tile under a [128, F] mask
    nl.store(out[nl.arange(128)[:, None], nl.arange(1)[None, :]], value=s, mask=m)
    return out


def test_a_partition_only_mask_from_mgrid_masks_a_column_tile() -> None:
    # was: "operands could not be broadcast together ... (128,96) and requested shape (128,1)".
    # m = i_p < 100 does not vary along the free axis, so it applies to the [128, 1] sum tile.
    a = np.arange(100 * 6, dtype=np.float32).reshape(100, 6)
    out = simulate(masked_row_stats, a)
    np.testing.assert_array_equal(out, a.sum(axis=1, keepdims=True))


@jit
def masked_chunk_stats(a: Any) -> Any:
    out = nl.ndarray((128, 2), nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a)
    i_p = nl.arange(128)[:, None]
    i_f = nl.arange(8)[None, :]
    # the second 8-wide chunk of a 12-wide row: only its first 4 elements exist
    stats = nisa.bn_stats(x[i_p, 8 + i_f], mask=(8 + i_f < a.shape[1]), dtype=nl.float32)
    nl.store(out, value=nisa.bn_aggr(stats))
    return out


def test_bn_stats_mask_selects_the_input_elements() -> None:
    # was: the mask was ignored, so the chunk read past the 12-element row (an out-of-bounds
    # error). Row r holds 0..11 + r; the masked chunk is {8, 9, 10, 11} + r:
    # mean 9.5 + r, population variance ((1.5^2 + 0.5^2) * 2) / 4 = 1.25.
    a = (np.arange(12, dtype=np.float32)[None, :] + np.arange(128, dtype=np.float32)[:, None]).copy()
    out = simulate(masked_chunk_stats, a)
    np.testing.assert_allclose(out[:, 0], 9.5 + np.arange(128), rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], 1.25, rtol=1e-6)


@jit
def masked_row_reductions(a: Any) -> Any:
    sums = nl.ndarray((128, 1), nl.float32, buffer=nl.shared_hbm)
    maxes = nl.ndarray((128, 1), nl.float32, buffer=nl.shared_hbm)
    i_p = nl.arange(128)[:, None]
    i_f = nl.arange(16)[None, :]
    valid = i_f < a.shape[1]
    x = nl.load(a[i_p, i_f], mask=valid)  # columns 12..15 stay uninitialised (NaN)
    nl.store(sums, value=nl.sum(x, axis=[1], keepdims=True, mask=valid))
    nl.store(maxes, value=nl.max(x, axis=[1], keepdims=True, mask=valid))
    return sums, maxes


def test_reduction_mask_on_the_free_axis_selects_the_input_elements() -> None:
    # was: "mask ... could not be broadcast" (the mask was applied to the [128, 1] result). A
    # mask over the reduced axis excludes those inputs: the sums and maxima of the 12 loaded
    # columns (the NaN padding is not read).
    a = np.arange(128 * 12, dtype=np.float32).reshape(128, 12) - 700
    sums, maxes = simulate(masked_row_reductions, a)
    np.testing.assert_array_equal(sums[:, 0], a.sum(axis=1))
    np.testing.assert_array_equal(maxes[:, 0], a.max(axis=1))


@jit
def masked_max8(a: Any) -> Any:
    out = nl.ndarray((128, 8), nl.float32, buffer=nl.shared_hbm)
    i_p = nl.arange(128)[:, None]
    i_f = nl.arange(16)[None, :]
    top = nl.zeros((128, 8), nl.float32)
    top[...] = nisa.max8(src=nl.load(a[i_p, i_f]), mask=(i_p < 100))
    nl.store(out, value=top)
    return out


def test_max8_mask_selects_the_rows_written() -> None:
    # was: the mask was ignored. Rows 100..127 keep the zeros; rows 0..99 get their top 8.
    a = np.random.default_rng(1).standard_normal((128, 16)).astype(np.float32)
    out = simulate(masked_max8, a)
    np.testing.assert_array_equal(out[:100], -np.sort(-a[:100], axis=1)[:, :8])
    np.testing.assert_array_equal(out[100:], 0.0)
