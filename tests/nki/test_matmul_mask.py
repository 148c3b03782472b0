"""Legacy ``mask=`` on ``nisa.nc_matmul`` / ``nl.matmul`` (nki-api.md §1.4, nki-semantics.md §9).

A mask restricts the iteration space of the index variables it mentions: on the contraction
index (the partition index of both operands) it restricts which rows are summed, on the
stationary's / moving's free index it restricts which output rows / columns are written
(masked-off elements keep their old data). The references below are numpy products over the
unmasked rows only; the operand rows the mask excludes hold NaN, so reading one shows.

Tolerance: fp32 accumulation of at most K products, |error| <= K * eps32 * sum_k |a_k| |b_k|
(the classical bound for a recursive dot product, Higham 2002 eq. 3.5), against a float64 reference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from trnsim.nki import KernelError, simulate, trace_kernel
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

P = 128
K, M, N = 100, 64, 32


def _operands(k: int = K, rows: int = P) -> tuple[np.ndarray, np.ndarray]:
    """a [rows, M], b [rows, N]: rows k.. are NaN (must never be summed)."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((rows, M)).astype(np.float32)
    b = rng.standard_normal((rows, N)).astype(np.float32)
    a[k:] = np.nan
    b[k:] = np.nan
    return a, b


def _check(got: np.ndarray, a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: Any = None) -> None:
    """``got`` equals a[rows].T @ b[rows] (float64) within the fp32 accumulation bound."""
    a64, b64 = a[rows].astype(np.float64), b[rows].astype(np.float64)
    ref = a64.T @ b64
    bound = len(a64) * np.finfo(np.float32).eps * (np.abs(a64).T @ np.abs(b64)) + 1e-30
    if cols is not None:
        ref, bound, got = ref[:, cols], bound[:, cols], got[:, cols]
    assert np.isfinite(got).all()
    assert (np.abs(got - ref) <= bound).all(), np.abs(got - ref).max()


def _masked(mask_of: Callable[[Any, Any, Any], Any], matmul: Callable[..., Any] = nisa.nc_matmul) -> Any:
    """The kernel ``out = matmul(a[i_k, i_m], b[i_k, i_n], mask=mask_of(i_k, i_m, i_n))``, i_k over P
    partitions (the contraction), i_m over M and i_n over N (the stationary's and moving's free indices)."""

    @jit
    def k(a: Any, b: Any) -> Any:
        out = nl.ndarray((M, N), nl.float32, buffer=nl.shared_hbm)
        i_k = nl.arange(P)[:, None]
        i_m = nl.arange(M)[None, :]
        i_n = nl.arange(N)[None, :]
        at = nl.load(a)
        bt = nl.load(b)
        res = matmul(at[i_k, i_m], bt[i_k, i_n], mask=mask_of(i_k, i_m, i_n))
        nl.store(out, value=nl.copy(res))
        return out

    return k


def test_nc_matmul_mask_on_the_contraction_index_sums_only_the_unmasked_rows() -> None:
    @jit
    def k(a: Any, b: Any) -> Any:
        out = nl.ndarray((M, N), nl.float32, buffer=nl.shared_hbm)
        i_k = nl.arange(P)[:, None]
        i_m = nl.arange(M)[None, :]
        i_n = nl.arange(N)[None, :]
        at = nl.load(a)
        bt = nl.load(b)
        ps = nl.zeros((M, N), nl.float32, buffer=nl.psum)
        ps += nisa.nc_matmul(at[i_k, i_m], bt[i_k, i_n], mask=(i_k < K))
        nl.store(out, value=nl.copy(ps))
        return out

    a, b = _operands()
    _check(simulate(k, a, b), a, b, np.arange(K))


def test_nc_matmul_contraction_mask_with_mgrid_and_an_offset() -> None:
    # mask=(i_p + 28 < K + 28): the same rows, an affine expression with a constant; mgrid indices
    @jit
    def k(a: Any, b: Any) -> Any:
        out = nl.ndarray((M, N), nl.float32, buffer=nl.shared_hbm)
        i_p, i_m = nl.mgrid[0:P, 0:M]
        j_p, i_n = nl.mgrid[0:P, 0:N]
        at = nl.load(a)
        bt = nl.load(b)
        res = nisa.nc_matmul(at[i_p, i_m], bt[j_p, i_n], mask=(i_p + 28 < K + 28))
        nl.store(out, value=nl.copy(res))
        return out

    a, b = _operands()
    _check(simulate(k, a, b), a, b, np.arange(K))


def test_nc_matmul_contraction_mask_over_an_operand_smaller_than_the_index() -> None:
    # a [K, M] tile indexed by arange(128): the rows past K are out of bounds and masked off
    k = _masked(lambda i_k, i_m, i_n: i_k < K)

    a, b = _operands(rows=K)
    _check(simulate(k, a, b), a, b, np.arange(K))


def test_nl_matmul_transpose_x_mask_on_the_contraction_index() -> None:
    k = _masked(lambda i_k, i_m, i_n: i_k < K, functools.partial(nl.matmul, transpose_x=True))

    a, b = _operands()
    _check(simulate(k, a, b), a, b, np.arange(K))


def test_nl_matmul_mask_on_the_contraction_index_of_an_untransposed_x() -> None:
    # x [M, K'] @ y [K', N]: the contraction index is x's free index (the compiler transposes x)
    @jit
    def k(x: Any, b: Any) -> Any:
        out = nl.ndarray((M, N), nl.float32, buffer=nl.shared_hbm)
        i_m = nl.arange(M)[:, None]
        i_kf = nl.arange(P)[None, :]
        i_k = nl.arange(P)[:, None]
        i_n = nl.arange(N)[None, :]
        xt = nl.load(x)
        bt = nl.load(b)
        res = nl.matmul(xt[i_m, i_kf], bt[i_k, i_n], mask=(i_kf < K))
        nl.store(out, value=nl.copy(res))
        return out

    a, b = _operands()
    _check(simulate(k, np.ascontiguousarray(a.T), b), a, b, np.arange(K))


def test_mask_on_the_output_indices_writes_only_those_elements() -> None:
    # i_m < 40 (stationary free = output rows), i_n < 20 (moving free = output columns), and the
    # contraction restricted too: the rest of the accumulator keeps its old value
    mv, nv = 40, 20

    @jit
    def k(a: Any, b: Any) -> Any:
        out = nl.ndarray((M, N), nl.float32, buffer=nl.shared_hbm)
        i_k = nl.arange(P)[:, None]
        i_m = nl.arange(M)[None, :]
        i_n = nl.arange(N)[None, :]
        at = nl.load(a)
        bt = nl.load(b)
        # PSUM filled by memset: the first matmul write of an element overwrites it (nki-semantics §3)
        ps = nl.full((M, N), -3.0, nl.float32, buffer=nl.psum)
        ps += nisa.nc_matmul(at[i_k, i_m], bt[i_k, i_n], mask=(i_k < K) & (i_m < mv) & (i_n < nv))
        nl.store(out, value=nl.copy(ps))
        return out

    a, b = _operands()
    got = simulate(k, a, b)
    _check(got[:mv], a[:, :mv], b, np.arange(K), cols=slice(0, nv))
    np.testing.assert_array_equal(got[mv:], -3.0)
    np.testing.assert_array_equal(got[:, nv:], -3.0)


def test_a_mask_on_the_destination_indices_still_masks_the_write() -> None:
    # variables that index neither operand (the destination's): the result's positions, as before
    @jit
    def k(a: Any, b: Any) -> Any:
        out = nl.ndarray((M, N), nl.float32, buffer=nl.shared_hbm)
        i_p = nl.arange(M)[:, None]
        i_f = nl.arange(N)[None, :]
        at = nl.load(a[0:K, 0:M])
        bt = nl.load(b[0:K, 0:N])
        ps = nl.zeros((M, N), nl.float32, buffer=nl.psum)
        ps[i_p, i_f] += nisa.nc_matmul(at, bt, mask=(i_p < 40) & (i_f < 20))
        nl.store(out, value=nl.copy(ps))
        return out

    a, b = _operands()
    got = simulate(k, a, b)
    _check(got[:40], a[:, :40], b, np.arange(K), cols=slice(0, 20))
    np.testing.assert_array_equal(got[40:], 0.0)
    np.testing.assert_array_equal(got[:, 20:], 0.0)


def test_a_mask_coupling_contraction_and_output_indices() -> None:
    # i_k < i_n + 70: output column n sums rows 0 .. min(K, n + 70) - 1
    k = _masked(lambda i_k, i_m, i_n: (i_k < K) & (i_k < i_n + 70))

    a, b = _operands()
    got = simulate(k, a, b)
    for n in range(N):
        _check(got, a, b, np.arange(min(K, n + 70)), cols=slice(n, n + 1))


def test_a_matmul_mask_mixing_operand_and_foreign_indices_is_refused() -> None:
    @jit
    def k(a: Any, b: Any) -> Any:
        out = nl.ndarray((M, N), nl.float32, buffer=nl.shared_hbm)
        i_k = nl.arange(P)[:, None]
        i_m = nl.arange(M)[None, :]
        i_n = nl.arange(N)[None, :]
        i_q = nl.arange(M)[:, None]
        at = nl.load(a)
        bt = nl.load(b)
        res = nisa.nc_matmul(at[i_k, i_m], bt[i_k, i_n], mask=(i_k < K) & (i_q < 10))
        nl.store(out, value=nl.copy(res))
        return out

    a, b = _operands()
    match = r"nisa.nc_matmul.*mask.*\[unsupported_expression_in_mask\]"
    with pytest.raises(KernelError, match=match) as info:
        simulate(k, a, b)
    assert "\n" not in str(info.value)


def test_timing_only_trace_of_a_contraction_masked_matmul() -> None:
    # no values: the mask still selects which operand elements are read (in bounds) and is recorded
    k = _masked(lambda i_k, i_m, i_n: i_k < K)

    a, b = _operands(rows=K)
    trace = trace_kernel(k, a, b)
    mm = [i for i in trace.instructions if i.opcode == "nc_matmul"]
    assert len(mm) == 1 and mm[0].attrs.get("masked") is True
