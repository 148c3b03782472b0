"""Each rule the real toolchain enforces raises one KernelError line naming kernel, instruction, line, rule.

Limits come from hardware/data/neuroncore/trn2.toml: pmax 128, gemm_stationary_fmax 128,
gemm_moving_fmax 512, PSUM bank 2048 B (512 fp32) per partition, PSUM 16 KiB and SBUF
224 KiB - 16 KiB reserved = 212,992 B per partition.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trnsim.nki import KernelError, simulate
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


def _run(kernel: Any, *args: Any) -> KernelError:
    with pytest.raises(KernelError) as info:
        simulate(kernel, *args)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("kernel '")
    assert "test_errors.py:" in message  # the kernel's source line
    return info.value


def test_partition_over_128() -> None:
    @jit
    def k(a: Any) -> Any:
        return nl.load(a)  # a is [256, 4]: 256 partitions

    err = _run(k, np.zeros((256, 4), np.float32))
    assert err.err_id == "num_partition_exceed_arch_limit"
    assert "partition dimension 256" in str(err) and "1..128" in str(err)


def test_matmul_stationary_limit() -> None:
    @jit
    def k(a: Any, b: Any) -> Any:
        s = nl.load(a)  # [128, 256]: stationary free size 256 > 128
        m = nl.load(b)
        return nisa.nc_matmul(s, m)

    err = _run(k, np.zeros((128, 256), np.float32), np.zeros((128, 64), np.float32))
    assert err.err_id == "size_of_dimension_exceed_arch_limit"
    assert "stationary free size 256" in str(err) and "nisa.nc_matmul" in str(err)


def test_matmul_moving_limit() -> None:
    @jit
    def k(a: Any, b: Any) -> Any:
        s = nl.load(a)
        m = nl.load(b)  # [128, 1024]: moving free size 1024 > 512
        return nisa.nc_matmul(s, m)

    err = _run(k, np.zeros((128, 128), np.float32), np.zeros((128, 1024), np.float32))
    assert "moving free size 1024" in str(err) and "1..512" in str(err)


def test_psum_tile_over_a_bank() -> None:
    @jit
    def k() -> None:
        nl.zeros((128, 1024), nl.float32, buffer=nl.psum)  # 4096 B per partition > 2048

    err = _run(k)
    assert "4096 bytes per partition exceeds one bank" in str(err)


def test_out_of_bounds_without_mask_and_masked_ok() -> None:
    @jit
    def k(a: Any, masked: bool) -> Any:
        out = nl.ndarray((200, 4), nl.float32, buffer=nl.shared_hbm)
        i_f = nl.arange(4)[None, :]
        for t in nl.affine_range(2):
            i_p = t * 128 + nl.arange(128)[:, None]  # rows 128..255 run past 200
            x = nl.load(a[i_p, i_f], mask=(i_p < 200) if masked else None)
            nl.store(out[i_p, i_f], value=x, mask=(i_p < 200) if masked else None)
        return out

    a = np.arange(800, dtype=np.float32).reshape(200, 4)
    np.testing.assert_array_equal(simulate(k, a, True), a)
    err = _run(k, a, False)
    assert err.err_id == "tensor_access_out_of_bound" and "nl.load" in str(err)


def test_wrong_buffer() -> None:
    @jit
    def k(a: Any) -> Any:
        return nisa.tensor_tensor(a, a, np.add)  # HBM operands to a compute instruction

    err = _run(k, np.zeros((4, 4), np.float32))
    assert err.err_id == "unsupported_memory" and "valid: sbuf/psum" in str(err)


def test_wrong_dtype() -> None:
    @jit
    def k(a: Any) -> Any:
        t = nl.load(a)
        return nisa.nc_matmul(t, t)  # int32 is not a TensorE dtype

    err = _run(k, np.zeros((4, 4), np.int32))
    assert err.err_id == "unsupported_dtype" and "int32" in str(err)


def test_bitwise_on_float() -> None:
    @jit
    def k(a: Any) -> Any:
        t = nl.load(a)
        return nisa.tensor_tensor(t, t, np.bitwise_and)

    assert _run(k, np.zeros((4, 4), np.float32)).err_id == "unsupported_dtype"


def test_loop_carried_dependency_in_affine_range() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((4, 4), nl.float32, buffer=nl.shared_hbm)
        state = nl.zeros((4, 4), nl.float32, buffer=nl.sbuf)
        x = nl.load(a)
        for _ in nl.affine_range(3):
            state[...] = nl.multiply(state, x)  # reads what the previous iteration wrote
        nl.store(out, value=state)
        return out

    err = _run(k, np.ones((4, 4), np.float32))
    assert err.err_id == "unexpected_output_dependencies" and "iteration 1 reads" in str(err)

    @jit
    def accumulate(a: Any) -> Any:  # += accumulation is not a loop-carried dependency
        out = nl.ndarray((4, 4), nl.float32, buffer=nl.shared_hbm)
        acc = nl.zeros((4, 4), nl.float32, buffer=nl.sbuf)
        x = nl.load(a)
        for _ in nl.affine_range(3):
            acc += x
        nl.store(out, value=acc)
        return out

    np.testing.assert_array_equal(accumulate(np.ones((4, 4), np.float32)), np.full((4, 4), 3.0))


def test_mixing_basic_and_advanced_indexing() -> None:
    @jit
    def k(a: Any) -> Any:
        return nl.load(a[nl.arange(4)[:, None], 0:4])

    assert _run(k, np.zeros((4, 4), np.float32)).err_id == "unsupported_mixing_basic_advanced_tensor_indexing"


def test_internal_numpy_error_becomes_kernel_error() -> None:
    @jit
    def k(a: Any) -> Any:
        t = nl.load(a)
        return t.reshape((3, 5))  # 16 elements cannot become 15

    assert "cannot reshape" in str(_run(k, np.zeros((4, 4), np.float32)))


def test_dynamic_index_out_of_bounds_is_a_runtime_error() -> None:
    @jit
    def k(table: Any, idx: Any) -> Any:
        i_p = nl.arange(2)[:, None]
        i_f = nl.arange(3)[None, :]
        return nl.load(table[nl.load(idx)[i_p, 0], i_f])  # index 12 of a 10-row table

    err = _run(k, np.zeros((10, 3), np.float32), np.array([[1], [12]], np.int32))
    assert err.err_id == "tensor_access_out_of_bound" and "(10, 3)" in str(err)


def test_the_kernels_own_python_errors_pass_through() -> None:
    @jit
    def k(a: Any) -> Any:
        return nl.load(a) + undefined_name  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(NameError):
        simulate(k, np.zeros((4, 4), np.float32))


def test_shape_mismatch_and_float64_arguments() -> None:
    @jit
    def k(a: Any) -> Any:
        return nl.add(nl.load(a), nl.load(a[0:4, 0:2]))

    assert _run(k, np.zeros((4, 4), np.float32)).err_id == "shape_mismatch"

    @jit
    def copy(a: Any) -> Any:
        return nl.load(a)

    with pytest.raises(KernelError, match="argument 'a': dtype float64 is not an NKI dtype"):
        simulate(copy, np.zeros((4, 4)))  # numpy's default float64: NKI has no 64-bit types
    with pytest.raises(KernelError, match="argument 'a': dtype int64 is not an NKI dtype"):
        simulate(copy, np.zeros((4, 4), np.int64))  # rejected, never narrowed silently


@pytest.mark.parametrize("args", [(3,), (5, 8), (2, 9, 3)])
def test_affine_iterations_are_counted_from_zero(args: tuple[int, ...]) -> None:
    """The dependency check names iterations by their position in the loop (0, 1, ...), whatever
    the range's start and step (the plain range(n) loop yields them directly)."""

    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((4, 4), nl.float32, buffer=nl.shared_hbm)
        state = nl.zeros((4, 4), nl.float32, buffer=nl.sbuf)
        x = nl.load(a)
        seen = []
        for i in nl.affine_range(*args):
            seen.append(i)
            if len(seen) == 2:
                state[...] = nl.multiply(state, x)  # reads what the first iteration wrote
            else:
                state[...] = nl.add(x, 1.0)
        nl.store(out, value=state)
        return out

    err = _run(k, np.ones((4, 4), np.float32))
    assert err.err_id == "unexpected_output_dependencies"
    assert "iteration 1 reads what iteration 0 wrote" in str(err)
