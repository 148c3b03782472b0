"""Every kernel of the library against its NumPy reference, at fp32, bf16 and (where TensorE or
a plain copy makes it meaningful) fp8, on small shapes that still exercise every code path:
several tiles per loop, ragged tail tiles, multi-chunk rows, GQA groups, causal and not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("trnsim.nki.legacy", reason="the kernel layer trnsim.nki.legacy is not available yet")

from tests.kernels.attention_bounds import flash_fwd_bounds
from tests.kernels.tolerance import assert_close
from trnsim import nki
from trnsim.kernels import registry

TARGET = "trn1"
#: Tolerance marker: the case is checked against its derived elementwise error bound.
DERIVED = -1.0

# (operation, shape, {dtype: tolerance factor in units of u}) — the reason for each factor:
CASES: list[tuple[str, dict[str, int], dict[str, float]]] = [
    # One rounding of an exact sum: ≤ 1 u.
    ("add", {"rows": 300, "cols": 2100}, {"float32": 1, "bfloat16": 1, "float8_e4m3": 1}),
    # A transpose moves values: exact (factor 0).
    ("transpose", {"rows": 200, "cols": 600}, {"float32": 0, "bfloat16": 0, "float8_e4m3": 0}),
    # fp32 max/exp/sum/reciprocal chain: a few ulps of fp32 (16 u); bf16: output rounding (2 u).
    ("softmax", {"rows": 130, "cols": 700}, {"float32": 16, "bfloat16": 2}),
    ("softmax", {"rows": 64, "cols": 9000}, {"float32": 16, "bfloat16": 2}),
    ("rmsnorm", {"rows": 200, "hidden": 384}, {"float32": 16, "bfloat16": 2}),
    ("layernorm", {"rows": 200, "hidden": 384}, {"float32": 16, "bfloat16": 2}),
    # fp32 accumulation over K=256 random terms grows like √K·u = 16 u: allow 64 u for fp32;
    # bf16/fp8 inputs are exact, the product is accumulated in fp32 and rounded once to bf16.
    *[
        (name, {"m": 256, "k": 256, "n": 1024}, {"float32": 64, "bfloat16": 2, "float8_e4m3": 1 / 16})
        for name in registry.MATMUL_FAMILY
    ],
    # The fully blocked kernel at shapes its planner splits unevenly (fp32: 4 bytes per element):
    # K = 7 tiles in K blocks of 4 + 3, M = 3 tiles in stationary blocks of 2 + 1, N = 4 moving tiles
    # of 512 and one of 52; and N = 3300 in blocks of 4 + 3 moving tiles. fp32 accumulation over
    # K = 896 terms grows like √K·u ≈ 30 u: 128 u keeps the 4× margin of the K = 256 case.
    ("matmul", {"m": 384, "k": 896, "n": 2100}, {"float32": 128}),
    ("matmul", {"m": 256, "k": 896, "n": 3300}, {"float32": 128}),
    # Attention outputs are weighted means whose error scales with the summed terms, not with
    # the result: checked against the a priori bound of tests/kernels/attention_bounds.py
    # (factor 1 of that bound; DERIVED marks the cases).
    (
        "flash_attention_fwd",
        {"batch": 1, "heads": 2, "kv_heads": 1, "seq_q": 640, "seq_k": 640, "head_dim": 64, "causal": 1},
        {"float32": DERIVED, "bfloat16": DERIVED},
    ),
    (
        "flash_attention_fwd",
        {"batch": 2, "heads": 2, "kv_heads": 1, "seq_q": 256, "seq_k": 384, "head_dim": 128, "causal": 0},
        {"float32": DERIVED, "bfloat16": DERIVED},
    ),
    # P and dS are rounded to bf16 before each matmul, and dK/dV sum over query heads: 8 u.
    # dS = P∘(dP − Δ) cancels (the first causal row has dS = 0 exactly, computed as a difference
    # of O(1) numbers), so errors are ulps of the terms, not of dQ: checked normwise (see
    # NORMWISE), and fp32 gets 256 u for the longer chains of the backward pass.
    (
        "flash_attention_bwd",
        {"batch": 1, "heads": 2, "kv_heads": 1, "seq_q": 384, "seq_k": 384, "head_dim": 64, "causal": 1},
        {"float32": 256, "bfloat16": 8},
    ),
    (
        "flash_attention_bwd",
        {"batch": 1, "heads": 2, "kv_heads": 2, "seq_q": 256, "seq_k": 256, "head_dim": 32, "causal": 0},
        {"float32": 256, "bfloat16": 8},
    ),
    # h is rounded to the dtype in the reference as in the kernel; fp32 accumulation over
    # H=256 and F=640, output rounded once.
    ("swiglu_mlp", {"tokens": 256, "hidden": 256, "ffn": 640}, {"float32": 64, "bfloat16": 4}),
    # Eight fp32 operations per element (16 u); a bf16 parameter is rounded once (2 u).
    ("adamw", {"numel": 128 * 2100}, {"float32": 16, "bfloat16": 2}),
    # Loss and gradient: fp32 statistics over V=3000 (logsumexp), the gradient rounded once.
    ("cross_entropy", {"tokens": 200, "vocab": 3000}, {"float32": 64, "bfloat16": 2}),
    ("add_spmd", {"rows": 512, "cols": 640}, {"float32": 1, "bfloat16": 1}),
]


#: Operations whose outputs are checked against max|ref| (cancellation-dominated gradients).
NORMWISE = {"flash_attention_bwd"}


def _cases() -> list[Any]:
    params = []
    for op, shape, tolerances in CASES:
        for dtype, factor in tolerances.items():
            tag = "-".join(f"{k}{v}" for k, v in shape.items())
            params.append(pytest.param(op, shape, dtype, factor, id=f"{op}-{dtype}-{tag}"))
    return params


def _as_tuple(x: Any) -> tuple[Any, ...]:
    return x if isinstance(x, tuple) else (x,)


@pytest.mark.parametrize(("op", "shape", "dtype", "factor"), _cases())
def test_kernel_matches_reference(op: str, shape: dict[str, int], dtype: str, factor: float) -> None:
    entry = registry.get(op)
    rng = np.random.default_rng(sum(map(ord, op)) + len(shape))
    args = entry.make_args(shape, dtype, rng=rng)
    got = _as_tuple(nki.simulate(entry.kernel, *args, target=TARGET, grid=entry.grid()))
    ref = _as_tuple(entry.reference(*args))
    assert len(got) == len(ref), f"{op}: {len(got)} outputs, reference has {len(ref)}"
    if factor == DERIVED:
        _check_against_bounds(op, args, got, ref, dtype)
        return
    for i, (g, r) in enumerate(zip(got, ref, strict=True)):
        out_dtype = np.asarray(g).dtype
        # Outputs are checked at their own precision (fp32 statistics, bf16 results of fp8 matmuls).
        out_name = next(n for n, d in registry.DTYPES.items() if d == out_dtype)
        scaled = factor if out_name == dtype else max(factor * _u(dtype) / _u(out_name), 1.0)
        assert_close(g, r, out_name, scaled, what=f"{op} output {i}", normwise=op in NORMWISE)


def _check_against_bounds(
    op: str, args: tuple[Any, ...], got: tuple[Any, ...], ref: tuple[Any, ...], dtype: str
) -> None:
    """``|got − ref| ≤ bound + u32·|ref|`` elementwise (the reference is itself rounded to fp32)."""
    assert op == "flash_attention_fwd", f"no derived bound for {op}"
    q, k, v, causal = args
    bounds = flash_fwd_bounds(q, k, v, causal, out_u=_u(dtype))
    for i, (g, r, bound) in enumerate(zip(got, ref, bounds, strict=True)):
        g64, r64 = np.asarray(g).astype(np.float64), np.asarray(r).astype(np.float64)
        assert np.all(np.isfinite(g64)), f"{op} output {i}: non-finite values"
        allowed = bound + _u("float32") * np.abs(r64)
        ratio = np.abs(g64 - r64) / allowed
        worst = np.unravel_index(np.argmax(ratio), ratio.shape)
        assert ratio[worst] <= 1.0, (
            f"{op} output {i} [{dtype}]: error {abs(g64[worst] - r64[worst]):.3g} at {worst} is "
            f"{ratio[worst]:.2f}× its derived bound {allowed[worst]:.3g}"
        )


def _u(name: str) -> float:
    from tests.kernels.tolerance import UNIT_ROUNDOFF

    return UNIT_ROUNDOFF[name]


def test_outputs_keep_input_dtype() -> None:
    """Kernels return the input dtype (fp8 matmuls return bf16, as documented)."""
    rng = np.random.default_rng(1)
    entry = registry.get("matmul")
    args = entry.make_args({"m": 128, "k": 128, "n": 512}, "float8_e4m3", rng=rng)
    out = nki.simulate(entry.kernel, *args, target=TARGET)
    assert np.asarray(out).dtype == registry.DTYPES["bfloat16"]
    entry = registry.get("rmsnorm")
    args = entry.make_args({"rows": 128, "hidden": 256}, "bfloat16", rng=rng)
    out = nki.simulate(entry.kernel, *args, target=TARGET)
    assert np.asarray(out).dtype == registry.DTYPES["bfloat16"]
