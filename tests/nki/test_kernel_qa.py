"""Kernels written as a developer without Trainium access writes them, checked against what the
toolchain does (nki-semantics.md): the mistakes end in one KernelError line with the compiler's id."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import trnsim.nki.current.language as cnl
from trnsim.nki import KernelError, simulate
from trnsim.nki.current import jit as cjit
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


@pytest.mark.parametrize("fill", ["zeros", "ones", "full"])
def test_hbm_tensor_with_an_initial_value_is_refused(fill: str) -> None:
    # nki-semantics §5: "HBM tensors with an initial value are rejected"
    @jit
    def k(a: Any) -> Any:
        if fill == "full":
            out = nl.full(a.shape, 3.0, nl.float32, buffer=nl.shared_hbm)
        else:
            out = getattr(nl, fill)(a.shape, nl.float32, buffer=nl.shared_hbm)
        return out

    with pytest.raises(KernelError, match=r"\[hbm_tensor_with_init_value_not_supported\]") as info:
        simulate(k, np.ones((128, 4), np.float32))
    assert "\n" not in str(info.value)


def test_current_api_hbm_zeros_is_refused_and_sbuf_zeros_still_fills() -> None:
    @cjit
    def bad(a: Any) -> Any:
        return cnl.zeros(a.shape, cnl.float32, cnl.shared_hbm)

    with pytest.raises(KernelError, match=r"\[hbm_tensor_with_init_value_not_supported\]"):
        bad(np.ones((128, 4), np.float32))

    @jit
    def good(a: Any) -> Any:
        out = nl.ndarray(a.shape, nl.float32, buffer=nl.shared_hbm)
        nl.store(out, value=nl.add(nl.load(a), nl.full((128, 4), 2.5, nl.float32)))
        return out

    np.testing.assert_array_equal(simulate(good, np.ones((128, 4), np.float32)), 3.5)


@pytest.mark.parametrize("value", [1.5, 2.0, np.float32(3.0)])
def test_current_memset_of_an_integer_tile_needs_an_integer_value(value: Any) -> None:
    # nki-semantics §5: from 0.3 nisa.memset requires the value to match the dtype
    import trnsim.nki.current.isa as cisa

    @cjit
    def k(a: Any) -> Any:
        out = cnl.ndarray(a.shape, a.dtype, cnl.shared_hbm)
        t = cnl.ndarray(a.shape, a.dtype, cnl.sbuf)
        cisa.memset(dst=t, value=value)
        cisa.dma_copy(dst=out, src=t)
        return out

    with pytest.raises(KernelError, match=r"needs an integer value.*\[unsupported_operand\]"):
        k(np.ones((128, 4), np.int32))
    # the same call on a float tile, and an integer value on an integer tile, fill as asked
    np.testing.assert_array_equal(k(np.ones((128, 4), np.float32)), np.float32(value))

    @cjit
    def ok(a: Any) -> Any:
        out = cnl.ndarray(a.shape, a.dtype, cnl.shared_hbm)
        t = cnl.ndarray(a.shape, a.dtype, cnl.sbuf)
        cisa.memset(dst=t, value=7)
        cisa.dma_copy(dst=out, src=t)
        return out

    np.testing.assert_array_equal(ok(np.ones((128, 4), np.int32)), 7)


@pytest.mark.parametrize("api", ["ndarray", "zeros"])
def test_current_string_buffer_is_refused(api: str) -> None:
    # nki-semantics §7: string buffers are rejected from 0.3 (nl.sbuf is the MemoryRegion member)
    @cjit
    def k(a: Any) -> Any:
        getattr(cnl, api)(a.shape, a.dtype, "sbuf")
        return a

    with pytest.raises(KernelError, match=r"buffer 'sbuf' is a string.*\[unsupported_memory\]"):
        k(np.ones((128, 4), np.float32))


def test_benchmark_reports_only_the_documented_percentiles() -> None:
    # nki-semantics §1: get_latency_percentile(p) for p in {0, 1, 10, 25, 50, 90, 99, 100}
    from trnsim.errors import TrnsimError
    from trnsim.nki.legacy import benchmark

    @benchmark(warmup=1, iters=2)
    def k(a: Any) -> Any:
        out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
        nl.store(out, value=nl.load(a))
        return out

    k(np.ones((128, 4), np.float32))
    latency = k.benchmark_result.nc_latency
    values = {latency.get_latency_percentile(p) for p in (0, 1, 10, 25, 50, 90, 99, 100)}
    assert len(values) == 1 and values.pop() > 0
    for p in (75, 101, -1):
        with pytest.raises(TrnsimError, match=rf"percentile {p} is not reported \(valid: 0, 1, 10"):
            latency.get_latency_percentile(p)


def test_python_control_flow_on_an_arange_is_the_compilers_error() -> None:
    # nki-semantics §6: control flow on values of arange/mgrid is
    # err_control_flow_condition_depending_on_arange (use mask=)
    @jit
    def branch(a: Any) -> Any:
        i_p = nl.arange(128)[:, None]
        if i_p < 64:
            pass
        return a

    @jit
    def python_and(a: Any) -> Any:
        i_p, i_f = nl.arange(128)[:, None], nl.arange(4)[None, :]
        out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
        nl.store(out[i_p, i_f], value=nl.load(a), mask=(i_p < 10) and (i_f < 2))
        return out

    for k in (branch, python_and):
        with pytest.raises(KernelError, match=r"\[control_flow_condition_depending_on_arange\]") as info:
            simulate(k, np.ones((128, 4), np.float32))
        assert "test_kernel_qa.py" in str(info.value)  # the kernel's line


def test_assigning_into_an_index_is_the_compilers_error() -> None:
    # nki-semantics §6: "Index and mask tensors cannot be assigned (err_cannot_assign_to_index)"
    @jit
    def k(a: Any) -> Any:
        i_p = nl.arange(128)[:, None]
        i_p[0] = 3
        return a

    with pytest.raises(KernelError, match=r"cannot be assigned to.*\[cannot_assign_to_index\]"):
        simulate(k, np.ones((128, 4), np.float32))


@pytest.mark.parametrize("op", ["or", "invert"])
def test_a_mask_joins_comparisons_only_with_and(op: str) -> None:
    # nki-api §1.4 / nki-semantics §9: comparisons joined only by '&'; others are
    # err_unsupported_expression_in_mask (trnsim evaluated '|' and '~' as numpy would)
    @jit
    def k(a: Any) -> Any:
        i_p, i_f = nl.arange(128)[:, None], nl.arange(4)[None, :]
        out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
        mask = ((i_p < 10) | (i_p > 100)) if op == "or" else ~(i_p < 10)
        nl.store(out[i_p, i_f], value=nl.load(a), mask=mask)
        return out

    with pytest.raises(KernelError, match=r"only with '&'.*\[unsupported_expression_in_mask\]"):
        simulate(k, np.ones((128, 4), np.float32))

    @jit
    def ok(a: Any) -> Any:
        i_p, i_f = nl.arange(128)[:, None], nl.arange(4)[None, :]
        out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
        nl.store(out, value=nl.zeros((128, 4), nl.float32))
        nl.store(out[i_p, i_f], value=nl.load(a), mask=(i_p >= 10) & (i_f < 2))
        return out

    got = simulate(ok, np.ones((128, 4), np.float32))
    expected = np.zeros((128, 4), np.float32)
    expected[10:, :2] = 1
    np.testing.assert_array_equal(got, expected)
