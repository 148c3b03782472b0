"""Faithful numerics: fp32 PSUM accumulation, rounding to the destination dtype, masks, indexing."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from trnsim.nki import simulate
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


@jit
def matmul_acc(lhsT: Any, rhs: Any) -> Any:
    out = nl.ndarray((lhsT.shape[1], rhs.shape[1]), nl.float32, buffer=nl.shared_hbm)
    acc = nl.zeros((lhsT.shape[1], rhs.shape[1]), nl.float32, buffer=nl.psum)
    for k in nl.affine_range(lhsT.shape[0] // 128):
        acc += nisa.nc_matmul(
            nl.load(lhsT[k * 128 : (k + 1) * 128, :]), nl.load(rhs[k * 128 : (k + 1) * 128, :])
        )
    nl.store(out, value=acc)
    return out


def test_matmul_accumulates_bf16_products_in_fp32() -> None:
    # bf16 inputs are exact in fp32; products and the K=256 sum are accumulated in fp32, so the
    # result equals numpy's fp32 matmul of the upcast inputs (to fp32 summation-order rounding).
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 64)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((256, 96)).astype(ml_dtypes.bfloat16)
    out = simulate(matmul_acc, a, b)
    ref = a.astype(np.float32).T @ b.astype(np.float32)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)


def test_result_rounds_to_destination_dtype() -> None:
    # 1 + 2^-9 is not representable in bf16 (7 mantissa bits): fp32 sum then RNE gives 1.0;
    # 1 + 3*2^-9 rounds to 1 + 2^-7 * 1 = 1.0078125 (nearest of 1.00390625 and 1.0078125 for 1.005859375)
    @jit
    def k(a: Any, b: Any) -> Any:
        out = nl.ndarray(a.shape, nl.bfloat16, buffer=nl.shared_hbm)
        nl.store(out, value=nl.add(nl.load(a), nl.load(b), dtype=nl.bfloat16))
        return out

    a = np.ones((2, 2), np.float32)
    b = np.array([[2**-9, 3 * 2**-9], [0.5, -2.0]], np.float32)
    out = simulate(k, a, b).astype(np.float32)
    np.testing.assert_array_equal(out, np.array([[1.0, 1.0078125], [1.5, -1.0]], np.float32))


def test_fp8_is_ieee_e4m3_with_max_240() -> None:
    # NKI's float8_e4m3 is ml_dtypes float8_e4m3 (inf exists, max finite 240), not e4m3fn (448)
    assert nl.float8_e4m3 is ml_dtypes.float8_e4m3
    assert float(ml_dtypes.finfo(nl.float8_e4m3).max) == 240.0

    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray(a.shape, nl.float8_e4m3, buffer=nl.shared_hbm)
        nl.store(out, value=nl.copy(nl.load(a), dtype=nl.float8_e4m3))
        return out

    out = simulate(k, np.array([[240.0, 250.0, 0.3]], np.float32)).astype(np.float32)
    assert out[0, 0] == 240.0 and np.isinf(out[0, 1])  # 250 rounds past the max: inf
    assert out[0, 2] == float(np.float32(0.3).astype(ml_dtypes.float8_e4m3).astype(np.float32))


def test_uninitialised_memory_reads_nan() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((4, 4), nl.float32, buffer=nl.shared_hbm)
        nl.store(out[0:2, :], value=nl.load(a[0:2, :]))  # rows 2..3 never written
        return out

    out = simulate(k, np.ones((4, 4), np.float32))
    assert np.all(out[:2] == 1.0) and np.all(np.isnan(out[2:]))


def test_masked_elements_keep_old_values() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((128, 8), nl.float32, buffer=nl.shared_hbm)
        i_p, i_f = nl.mgrid[0:128, 0:8]
        t = nl.zeros((128, 8), nl.float32, buffer=nl.sbuf)
        t[i_p, i_f] = nl.exp(nl.load(a[i_p, i_f]), mask=(i_f < 3))
        nl.store(out[i_p, i_f], value=t)
        return out

    a = np.full((128, 8), 1.0, np.float32)
    out = simulate(k, a)
    np.testing.assert_allclose(out[:, :3], np.e, rtol=1e-6)
    assert np.all(out[:, 3:] == 0.0)


def test_gather_with_an_index_tile() -> None:
    @jit
    def k(table: Any, idx: Any) -> Any:
        out = nl.ndarray((4, 3), table.dtype, buffer=nl.shared_hbm)
        i_p = nl.arange(4)[:, None]
        i_f = nl.arange(3)[None, :]
        ids = nl.load(idx)
        rows = nl.load(table[ids[i_p, 0], i_f])
        nl.store(out[i_p, i_f], value=rows)
        return out

    table = np.arange(30, dtype=np.float32).reshape(10, 3)
    idx = np.array([[7], [0], [3], [7]], np.int32)
    np.testing.assert_array_equal(simulate(k, table, idx), table[idx[:, 0]])


def test_activation_scale_bias_and_reduce() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((2, 1), nl.float32, buffer=nl.shared_hbm)
        x = nl.load(a)
        s = nl.ndarray((2, 1), nl.float32, buffer=nl.sbuf)
        nisa.activation(
            nl.exp, x, scale=2.0, bias=nl.full((2, 1), -1.0, nl.float32), reduce_op=np.add, reduce_res=s
        )
        nl.store(out, value=s)
        return out

    a = np.array([[0.0, 0.5], [1.0, -1.0]], np.float32)
    np.testing.assert_allclose(simulate(k, a)[:, 0], np.exp(2 * a - 1).sum(axis=1), rtol=1e-6)


def test_transpose_and_reduce() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((8, 1), nl.float32, buffer=nl.shared_hbm)
        t = nl.copy(nisa.nc_transpose(nl.load(a)))  # [4, 8] -> [8, 4]
        nl.store(out, value=nl.max(t, axis=1, keepdims=True))
        return out

    a = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    np.testing.assert_array_equal(simulate(k, a)[:, 0], a.max(axis=0))


def test_spmd_grid_with_cores_and_shared_output() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
        i = nl.program_id(0)
        assert nl.num_programs() == 4 and nl.program_ndim() == 1
        nl.store(out[i : i + 1, :], value=nl.add(nl.load(a[i : i + 1, :]), i))
        return out

    a = np.zeros((4, 3), np.float32)
    out = k[nl.spmd_dim(nl.nc(2), 2)](a)
    np.testing.assert_array_equal(out[:, 0], [0, 1, 2, 3])
    from trnsim.nki import trace_kernel

    trace = trace_kernel(k[nl.nc(2) * 2], a, timing_only=False)
    assert trace.num_cores == 2
    # spmd_dim(nc(2), 2): ids {0,1} on core 0 and {2,3} on core 1
    cores = {ins.program_id[0]: ins.core for ins in trace.instructions}
    assert cores == {0: 0, 1: 0, 2: 1, 3: 1}


def test_outputs_passed_as_arguments_sdk_2_20_style() -> None:
    @jit
    def k(a: Any, out: Any) -> None:
        nl.store(out, value=nl.multiply(nl.load(a), 3.0))

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = np.zeros_like(a)
    k(a, out)
    np.testing.assert_array_equal(out, 3 * a)


@jit
def _double(t: Any) -> Any:
    return nl.multiply(t, 2.0)


def test_sub_kernel_is_inlined() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
        nl.store(out, value=_double(nl.load(a)))  # a jit kernel called from a kernel
        return out

    a = np.arange(4, dtype=np.float32).reshape(2, 2)
    np.testing.assert_array_equal(simulate(k, a), 2 * a)


def test_scatter_with_index_tile_and_oob_skip() -> None:
    @jit
    def k(src: Any, idx: Any) -> Any:
        out = nl.ndarray((6, 2), nl.float32, buffer=nl.shared_hbm)
        nl.store(out, value=nl.zeros((6, 2), nl.float32))  # HBM takes no initial value (§5)
        i_p = nl.arange(3)[:, None]
        i_f = nl.arange(2)[None, :]
        ids = nl.load(idx)
        nisa.dma_copy(dst=out[ids[i_p, 0], i_f], src=nl.load(src), oob_mode=nisa.oob_mode.skip)
        return out

    src = np.arange(6, dtype=np.float32).reshape(3, 2)
    idx = np.array([[4], [9], [1]], np.int32)  # row 9 is out of bounds: skipped
    out = simulate(k, src, idx)
    np.testing.assert_array_equal(out[4], src[0])
    np.testing.assert_array_equal(out[1], src[2])
    assert out.sum() == src[0].sum() + src[2].sum()


def test_copy_is_the_identity_activation() -> None:
    # spec §2.7: `copy` is an activation function (identity); scale and bias still apply
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray(a.shape, nl.float32, buffer=nl.shared_hbm)
        nl.store(out, value=nisa.activation(op=nl.copy, data=nl.load(a), scale=3.0))
        return out

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(simulate(k, a), 3 * a)
