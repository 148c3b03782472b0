"""nki.benchmark / nki.profile: latency from the registered model, reported in microseconds."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from trnsim.nki import perf
from trnsim.nki.legacy import benchmark, jit, profile
from trnsim.nki.legacy import language as nl
from trnsim.nki.legacy import typing as nt
from trnsim.nki.trace import KernelTrace


@pytest.fixture
def per_instruction_model() -> Iterator[list[KernelTrace]]:
    """A stand-in latency model: 100 ns per recorded instruction (so the expected value is exact)."""
    seen: list[KernelTrace] = []

    def model(trace: KernelTrace) -> float:
        seen.append(trace)
        return 100.0 * len(trace)

    saved = list(perf._ESTIMATOR)
    perf.register_latency_estimator(model)
    yield seen
    perf._ESTIMATOR[:] = saved


def _copy_kernel(a: Any) -> Any:
    out = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out


def test_benchmark_with_placeholders(per_instruction_model: list[KernelTrace]) -> None:
    kernel = benchmark(warmup=2, iters=5)(jit(_copy_kernel))
    kernel(nt.tensor[[128, 512], nl.bfloat16])
    # one load + one store = 2 instructions x 100 ns = 0.2 us, at every percentile
    result = kernel.benchmark_result
    assert result is not None
    assert [result.nc_latency.get_latency_percentile(p) for p in (0, 50, 99, 100)] == [0.2] * 4
    trace = per_instruction_model[0]
    assert (
        trace.instructions[0].inputs[0].dtype == "bfloat16"
        and trace.instructions[0].inputs[0].nbytes == 131072
    )


def test_profile_and_jit_mode_benchmark(per_instruction_model: list[KernelTrace]) -> None:
    prof = profile(working_directory="/tmp", save_neff_name="k.neff")(_copy_kernel)
    prof(np.zeros((4, 4), np.float32))
    assert prof.benchmark_result is not None and prof.benchmark_result.nc_latency.latency_us == pytest.approx(
        0.2
    )
    bench = jit(_copy_kernel, mode="benchmark")
    bench(np.zeros((4, 4), np.float32))
    assert bench.benchmark_result is not None


def test_without_a_model_the_error_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    from trnsim.errors import TrnsimError

    monkeypatch.setattr(perf, "_ESTIMATOR", [])
    monkeypatch.setitem(sys.modules, "trnsim.core", None)  # the chip model cannot be imported
    kernel = benchmark(jit(_copy_kernel))
    with pytest.raises(TrnsimError, match="no kernel latency model"):
        kernel(np.zeros((4, 4), np.float32))


def test_benchmark_decorator_forms_on_both_front_ends(per_instruction_model: list[KernelTrace]) -> None:
    from trnsim.nki import current as nki_current

    a = np.zeros((4, 4), np.float32)
    for front in (__import__("trnsim.nki.legacy", fromlist=["x"]), nki_current):

        @front.benchmark(warmup=1, iters=2)
        def decorated(x: Any) -> Any:
            return _copy_kernel(x)

        decorated(a)
        wrapped = front.benchmark(warmup=1, iters=2)(front.jit(_copy_kernel))
        wrapped(a)
        for kernel in (decorated, wrapped):
            assert kernel.benchmark_result is not None
            assert kernel.benchmark_result.nc_latency.get_latency_percentile(50) == pytest.approx(0.2)
    assert wrapped.frontend == "current"
