"""Value-mode launches keep their tile storage's pages (trnsim.nki.heap): no page faults per launch."""

from __future__ import annotations

import os
import resource
from typing import Any

import numpy as np
import pytest

from trnsim.nki import simulate
from trnsim.nki.heap import user_set_thresholds
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


@jit
def _add(a: Any, b: Any) -> Any:
    c = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    nl.store(c, value=nl.add(nl.load(a), nl.load(b)))
    return c


@pytest.mark.skipif(not _glibc(), reason="the thresholds are glibc's")
def test_small_value_launches_do_not_fault_their_tiles_in_again() -> None:
    a = np.random.default_rng(0).standard_normal((128, 512)).astype(np.float32)
    b = a + 1
    for _ in range(3):
        np.testing.assert_array_equal(simulate(_add, a, b), a + b)
    launches = 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(launches):
        simulate(_add, a, b)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # each launch allocates and frees about 1 MiB (256 pages): with glibc's defaults it faulted
    # 224 of them in again every time
    assert faults < launches * 8


def test_a_users_own_malloc_thresholds_are_left_alone() -> None:
    assert not user_set_thresholds({})
    assert not user_set_thresholds({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert user_set_thresholds({"MALLOC_MMAP_THRESHOLD_": "131072"})
    assert user_set_thresholds({"MALLOC_TRIM_THRESHOLD_": "0"})
    assert user_set_thresholds({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=0"})
