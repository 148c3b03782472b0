"""The kernel library's matmul family, traced by the kernel layer and timed by the model.

Expected from the optimisations (the NKI matmul tutorial's argument): each stage moves fewer HBM
bytes than the one before (hoisting reuses the stationary strip, blocking reuses both strips),
so on trn1, where one core's 16 DMA queues (16 x 17 B/ns) cannot feed TensorE (91.75 TFLOP/s
needs 337 FLOP per DMA byte), latencies must not increase from naive to fully blocked, and the
fully blocked kernel must be the fastest. Printed per row: latency, TensorE share, HBM bytes.
"""

from __future__ import annotations

import itertools

import pytest

from trnsim.core import simulate_trace

registry = pytest.importorskip("trnsim.kernels.registry")
nki = pytest.importorskip("trnsim.nki")

SHAPE = {"m": 512, "k": 1024, "n": 1024}


def test_family_latencies_fall_in_the_order_of_the_optimisations() -> None:
    latencies, hbm = [], []
    for name in registry.MATMUL_FAMILY:
        entry = registry.get(name)
        trace = nki.trace_kernel(entry.kernel, *entry.make_args(SHAPE, "bfloat16"), target="trn1")
        result = simulate_trace(trace, "trn1")
        latencies.append(result.latency_ns)
        hbm.append(result.hbm_bytes)
        share = 100 * result.tensor_utilization
        print(f"{name:22s} {result.latency_ns / 1e3:9.2f} us  TensorE {share:5.1f} %"
              f"  HBM {result.hbm_bytes / 2**20:7.2f} MiB  bound {result.bound}")
        assert result.flops == 2 * SHAPE["m"] * SHAPE["k"] * SHAPE["n"]
    assert hbm == sorted(hbm, reverse=True)
    assert latencies[-1] == min(latencies)
    assert all(later <= earlier * 1.01 for earlier, later in itertools.pairwise(latencies))
