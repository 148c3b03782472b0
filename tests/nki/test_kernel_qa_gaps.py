"""Kernel-QA gaps closed (docs/nki.md "Known gaps"): the toolchain's refusal in one line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import trnsim.nki.current.language as cnl
from trnsim.nki import KernelError, simulate, trace_kernel
from trnsim.nki.current import jit as cjit
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


@pytest.mark.parametrize("where", ["sbuf", "psum", "hbm"])
def test_iterating_over_a_tensor_is_refused_in_one_line(where: str) -> None:
    # nki-semantics §6 [inf]: "reject iteration" (it ended in 'index 128 out of bounds')
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray(a.shape, nl.float32, buffer=nl.shared_hbm)
        t = {"hbm": a, "sbuf": nl.load(a), "psum": nl.zeros((128, 4), nl.float32, buffer=nl.psum)}[where]
        for row in t:
            nl.store(out, value=row)
        return out

    with pytest.raises(KernelError, match=r"iteration at test_kernel_qa_gaps.py:\d+: TypeError: a tensor is "
                       r"not iterable .*nl.affine_range") as info:
        simulate(k, np.ones((128, 4), np.float32))
    assert "\n" not in str(info.value)
    assert "out of bounds" not in str(info.value)


def test_iterating_over_a_current_api_tensor_is_refused() -> None:
    @cjit
    def k(a: Any) -> Any:
        out = cnl.ndarray(a.shape, a.dtype, cnl.shared_hbm)
        t = cnl.ndarray(a.shape, a.dtype, cnl.sbuf)
        for _ in t:
            pass
        return out

    with pytest.raises(KernelError, match=r"TypeError: a tensor is not iterable"):
        k(np.ones((128, 4), np.float32))


def test_len_of_a_tile_is_still_its_first_dimension() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((len(nl.load(a)), 4), nl.float32, buffer=nl.shared_hbm)
        nl.store(out, value=nl.load(a))
        return out

    assert simulate(k, np.ones((96, 4), np.float32)).shape == (96, 4)


def _same_location_kernel(kind: str, loop_name: str = "affine_range") -> Any:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray((128, 4), nl.float32, buffer=nl.shared_hbm)
        scratch = nl.ndarray((128, 4), nl.float32, buffer=nl.sbuf)
        for i in getattr(nl, loop_name)(4):
            if kind == "store":
                nl.store(out, value=nl.load(a[i]))  # every iteration stores all of out
            else:
                scratch[...] = nl.load(a[i])  # a tile made before the loop, rewritten each time
        if kind == "scratch":
            nl.store(out, value=scratch)
        return out

    return k


@pytest.mark.parametrize("kind", ["store", "scratch"])
@pytest.mark.parametrize("timing_only", [False, True])
def test_affine_range_iterations_writing_the_same_location_are_refused(kind: str, timing_only: bool) -> None:
    # nki-semantics §4: "Writing the same output location from different affine_range iterations
    # ... without accumulation raises err_unexpected_output_dependencies" (4 iterations: the later
    # ones replay the first's template in timing-only mode)
    a = np.arange(4 * 128 * 4, dtype=np.float32).reshape(4, 128, 4)
    k = _same_location_kernel(kind)
    # (an assignment's target was already checked as a read of what an earlier iteration wrote)
    said = r"iterations 0 and 1 of an affine_range both write" if kind == "store" else r"iteration 1"
    with pytest.raises(KernelError, match=said + r".*\[unexpected_output_dependencies\]") as info:
        if timing_only:
            trace_kernel(k, a)
        else:
            simulate(k, a)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["store", "scratch"])
def test_sequential_range_may_write_the_same_location(kind: str) -> None:
    a = np.arange(4 * 128 * 4, dtype=np.float32).reshape(4, 128, 4)
    np.testing.assert_array_equal(simulate(_same_location_kernel(kind, "sequential_range"), a), a[3])
