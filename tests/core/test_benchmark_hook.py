"""``nki.benchmark`` reports the chip model's prediction, in microseconds, on the kernel."""

from __future__ import annotations

import numpy as np
import pytest

from trnsim.core import simulate_trace

legacy = pytest.importorskip("trnsim.nki.legacy")
nki = pytest.importorskip("trnsim.nki")
nl = legacy.language


def add_kernel(a, b):
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nl.add(nl.load(a), nl.load(b)))
    return out


def test_benchmark_result_is_the_predicted_latency() -> None:
    a = np.ones((128, 512), np.float32)
    kernel = legacy.benchmark(warmup=2, iters=5)(add_kernel)
    kernel(a, a)
    p50 = kernel.benchmark_result.nc_latency.get_latency_percentile(50)
    expected_ns = simulate_trace(nki.trace_kernel(add_kernel, a, a, target="trn2"), "trn2").latency_ns
    assert p50 == pytest.approx(expected_ns / 1e3)
    assert kernel.benchmark_result.nc_latency.get_latency_percentile(99) == p50  # deterministic model
