"""Launches keep their memory's pages (trnsim.nki.heap): no page faults per launch."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
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


_TIMING_ONLY_FAULTS = """
import resource
import subprocess
import sys
from trnsim.kernels import registry
from trnsim.nki import trace_kernel
entry = registry.get("matmul_fully_blocked")
args = entry.make_args({"m": 2048, "k": 4096, "n": 8192}, "bfloat16")
for _ in range(2):
    trace = trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    trace = trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4)
"""


@pytest.mark.skipif(not _glibc(), reason="the thresholds are glibc's")
def test_timing_only_launches_do_not_fault_their_trace_in_again() -> None:
    """In a process that never launched in value mode (a fresh one: the thresholds are set once per
    process), a 13,696-instruction trace's lists and dicts stay in the heap between launches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    done = subprocess.run([sys.executable, "-c", _TIMING_ONLY_FAULTS], env=env, capture_output=True,
                          text=True, check=True)
    # (about 450 per launch with glibc's defaults: the heap's top trimmed and faulted in again)
    assert float(done.stdout.split()[-1]) < 50
