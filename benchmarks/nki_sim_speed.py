"""Functional-simulation speed of trnsim.nki: instructions per second, value and timing-only mode.

Kernels: a blocked matmul and a single-head attention forward written with the legacy API
(the kernel library's own kernels replace these when ``trnsim.kernels`` provides them).
Run: ``PYTHONPATH=src python benchmarks/nki_sim_speed.py``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from trnsim.nki import TensorSpec, trace_kernel
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


@jit
def matmul_kernel(lhsT: Any, rhs: Any) -> Any:
    """result[M, N] = lhsT[K, M].T @ rhs[K, N], blocked 128 x 512 output tiles, K in steps of 128."""
    k_size, m_size = lhsT.shape
    _, n_size = rhs.shape
    result = nl.ndarray((m_size, n_size), dtype=nl.float32, buffer=nl.shared_hbm)
    for m in nl.affine_range(m_size // 128):
        for n in nl.affine_range(n_size // 512):
            acc = nl.zeros((128, 512), nl.float32, buffer=nl.psum)
            for k in nl.affine_range(k_size // 128):
                s = nl.load(lhsT[k * 128 : (k + 1) * 128, m * 128 : (m + 1) * 128])
                mv = nl.load(rhs[k * 128 : (k + 1) * 128, n * 512 : (n + 1) * 512])
                acc += nisa.nc_matmul(s, mv)
            out = nl.copy(acc, dtype=nl.float32)
            nl.store(result[m * 128 : (m + 1) * 128, n * 512 : (n + 1) * 512], value=out)
    return result


@jit
def attention_kernel(qT: Any, kT: Any, v: Any) -> Any:
    """softmax(q @ k.T / sqrt(d)) @ v for one head; qT/kT are [d=128, S], v is [S, d]."""
    d, seq = qT.shape
    out = nl.ndarray((seq, d), dtype=nl.float32, buffer=nl.shared_hbm)
    scale = 1.0 / float(np.sqrt(d))
    for qi in nl.affine_range(seq // 128):
        q_tile = nl.load(qT[:, qi * 128 : (qi + 1) * 128])
        scores = nl.ndarray((128, seq), dtype=nl.float32, buffer=nl.sbuf)
        for kj in nl.affine_range(seq // 512):
            k_tile = nl.load(kT[:, kj * 512 : (kj + 1) * 512])
            s_psum = nisa.nc_matmul(q_tile, k_tile)
            scores[:, kj * 512 : (kj + 1) * 512] = nisa.tensor_scalar(s_psum, np.multiply, scale)
        row_max = nisa.tensor_reduce(np.max, scores, axis=1, keepdims=True)
        probs = nisa.activation(nl.exp, scores, bias=nisa.tensor_scalar(row_max, np.multiply, -1.0))
        row_sum = nisa.tensor_reduce(np.add, probs, axis=1, keepdims=True)
        inv = nisa.reciprocal(row_sum)
        acc = nl.zeros((128, d), nl.float32, buffer=nl.psum)
        for kj in nl.affine_range(seq // 128):
            p_t = nisa.nc_transpose(probs[:, kj * 128 : (kj + 1) * 128])
            p_sb = nl.copy(p_t, dtype=nl.float32)
            v_tile = nl.load(v[kj * 128 : (kj + 1) * 128, :])
            acc += nisa.nc_matmul(p_sb, v_tile)
        o = nisa.tensor_scalar(acc, np.multiply, inv)
        nl.store(out[qi * 128 : (qi + 1) * 128, :], value=o)
    return out


def _rate(fn: Callable[[], Any]) -> tuple[float, int]:
    start = time.perf_counter()
    n = fn()
    return time.perf_counter() - start, n


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    # matmul: value mode on a moderate shape, timing-only on the large shape
    a = rng.standard_normal((1024, 512)).astype(np.float32)
    b = rng.standard_normal((1024, 2048)).astype(np.float32)
    t, n = _rate(lambda: len(trace_kernel(matmul_kernel, a, b, timing_only=False)))
    rows.append(("matmul 512x1024 @ 1024x2048 fp32", "values", n, t))
    t, n = _rate(
        lambda: len(
            trace_kernel(
                matmul_kernel, TensorSpec((1024, 512), np.float32), TensorSpec((1024, 2048), np.float32)
            )
        )
    )
    rows.append(("matmul 512x1024 @ 1024x2048 fp32", "timing", n, t))
    t, n = _rate(
        lambda: len(
            trace_kernel(
                matmul_kernel, TensorSpec((8192, 4096), nl.bfloat16), TensorSpec((8192, 8192), nl.bfloat16)
            )
        )
    )
    rows.append(("matmul 4096x8192 @ 8192x8192 bf16", "timing", n, t))
    q = rng.standard_normal((128, 1024)).astype(np.float32)
    v = rng.standard_normal((1024, 128)).astype(np.float32)
    t, n = _rate(lambda: len(trace_kernel(attention_kernel, q, q, v, timing_only=False)))
    rows.append(("attention S=1024 d=128 fp32", "values", n, t))
    t, n = _rate(
        lambda: len(
            trace_kernel(
                attention_kernel,
                TensorSpec((128, 1024), np.float32),
                TensorSpec((128, 1024), np.float32),
                TensorSpec((1024, 128), np.float32),
            )
        )
    )
    rows.append(("attention S=1024 d=128 fp32", "timing", n, t))
    print(f"{'kernel':38} {'mode':7} {'instructions':>12} {'seconds':>8} {'instr/s':>10}")
    for name, mode, n, t in rows:
        print(f"{name:38} {mode:7} {n:12d} {t:8.3f} {n / t:10.0f}")
    by = {(r[0], r[1]): r[2] / r[3] for r in rows}
    for name in ("matmul 512x1024 @ 1024x2048 fp32", "attention S=1024 d=128 fp32"):
        print(f"timing-only / value speed-up, {name}: {by[(name, 'timing')] / by[(name, 'values')]:.1f}x")


if __name__ == "__main__":
    main()
