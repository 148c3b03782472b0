"""Functional-simulation speed of trnsim.nki: instructions per second, value and timing-only mode.

Kernels: the kernel library's matmul (``matmul_tiled``: one PSUM accumulation group per output
tile; ``matmul_fully_blocked``) and flash attention forward. Run:
``PYTHONPATH=src python benchmarks/nki_sim_speed.py``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import os

# Tile matmuls are small (128 x 128 x 512): BLAS threads only add contention on a shared machine
# (measured 30x slower per tile matmul with OpenBLAS's default threads on a loaded 2-core box).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time
from typing import Any

import numpy as np

from trnsim.kernels.attention import flash_attention_fwd
from trnsim.kernels.matmul import matmul_fully_blocked, matmul_tiled
from trnsim.nki import TensorSpec, trace_kernel
from trnsim.nki.legacy import language as nl


def _time(kernel: Any, *args: Any, timing_only: bool) -> tuple[int, float]:
    start = time.perf_counter()
    n = len(trace_kernel(kernel, *args, timing_only=timing_only))
    return n, time.perf_counter() - start


def _machine_reference() -> str:
    start = time.perf_counter()
    for _ in range(1_000_000):
        pass
    loop_ns = (time.perf_counter() - start) * 1e3
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"machine reference: empty Python loop {loop_ns:.0f} ns/iteration, load average {load:.1f}, " \
        f"{os.cpu_count()} CPUs"


def main() -> None:
    rng = np.random.default_rng(0)
    print(_machine_reference())
    rows: list[tuple[str, str, int, float]] = []

    def both(name: str, kernel: Any, arrays: list[np.ndarray], extra: tuple[Any, ...] = ()) -> None:
        n, t = _time(kernel, *arrays, *extra, timing_only=False)
        rows.append((name, "values", n, t))
        specs = [TensorSpec(a.shape, a.dtype) for a in arrays]
        n, t = _time(kernel, *specs, *extra, timing_only=True)
        rows.append((name, "timing", n, t))

    lhs_t = rng.standard_normal((1024, 512)).astype(nl.bfloat16)
    rhs = rng.standard_normal((1024, 2048)).astype(nl.bfloat16)
    both("matmul_tiled 512x1024 @ 1024x2048 bf16", matmul_tiled, [lhs_t, rhs])
    qkv = [rng.standard_normal((1, 1, 1024, 128)).astype(nl.bfloat16) for _ in range(3)]
    both("flash_attention_fwd S=1024 d=128 causal", flash_attention_fwd, qkv, (True,))
    big = (TensorSpec((8192, 4096), nl.bfloat16), TensorSpec((8192, 8192), nl.bfloat16))
    for name, kernel in (("matmul_tiled 4096x8192 @ 8192x8192 bf16", matmul_tiled),
                         ("matmul_fully_blocked 4096x8192 @ 8192x8192", matmul_fully_blocked)):
        n, t = _time(kernel, *big, timing_only=True)
        rows.append((name, "timing", n, t))

    print(f"{'kernel':44} {'mode':7} {'instructions':>12} {'seconds':>8} {'instr/s':>10}")
    for name, mode, n, t in rows:
        print(f"{name:44} {mode:7} {n:12d} {t:8.3f} {n / t:10.0f}")
    rate = {(r[0], r[1]): r[2] / r[3] for r in rows}
    for name in ("matmul_tiled 512x1024 @ 1024x2048 bf16", "flash_attention_fwd S=1024 d=128 causal"):
        print(f"timing-only / value speed (instructions per second), {name}: "
              f"{rate[(name, 'timing')] / rate[(name, 'values')]:.1f}x")


if __name__ == "__main__":
    main()
