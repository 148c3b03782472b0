"""Value-mode launches run numpy's BLAS on one thread and give the caller's setting back after.

Assumes numpy loads a BLAS library threadpoolctl can see (the PyPI wheels bundle OpenBLAS).
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from trnsim.nki import trace_kernel


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def _launch_under(limit: int, timing_only: bool) -> tuple[list[int], list[int], list[int]]:
    """BLAS threads before a launch made under a threadpoolctl ``limit``, inside its kernel, and after."""
    seen: dict[str, list[int]] = {}

    def kernel(a):  # a plain function is a kernel too (trace_kernel's contract)
        seen["inside"] = _blas_threads()
        return None

    with threadpool_limits(limits=limit, user_api="blas"):
        before = _blas_threads()
        trace_kernel(kernel, np.zeros((4, 4), np.float32), target="trn1", timing_only=timing_only)
        after = _blas_threads()
    return before, seen["inside"], after


def test_a_value_mode_launch_uses_one_blas_thread_and_restores_the_callers() -> None:
    before, inside, after = _launch_under(2, timing_only=False)
    assert inside and all(n == 1 for n in inside)
    assert after == before


def test_a_value_mode_launch_with_blas_on_one_thread_already_keeps_it() -> None:
    """Nothing to set or restore (the fast path: no threadpoolctl limit per launch)."""
    _, inside, after = _launch_under(1, timing_only=False)
    assert inside and all(n == 1 for n in inside) and all(n == 1 for n in after)


def test_a_timing_only_launch_leaves_blas_alone() -> None:
    before, inside, _ = _launch_under(2, timing_only=True)
    assert inside == before
