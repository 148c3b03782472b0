"""Hypothesis: random valid tile programs agree with numpy; random invalid ones raise KernelError only."""

from __future__ import annotations

import os
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trnsim.nki import KernelError, simulate
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

# CI runs a fixed sample; TRNSIM_HYPOTHESIS_EXAMPLES=500 explores a fresh, larger one locally.
EXAMPLES = int(os.environ.get("TRNSIM_HYPOTHESIS_EXAMPLES", "40"))
DERANDOMIZE = "TRNSIM_HYPOTHESIS_EXAMPLES" not in os.environ

UNARY = {"exp": np.exp, "tanh": np.tanh, "square": np.square, "relu": lambda x: np.maximum(x, 0)}
BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "maximum": np.maximum}
REDUCE = {"sum": np.sum, "max": np.max}

step = st.one_of(
    st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY))),
    st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY))),
    st.tuples(st.just("scalar"), st.sampled_from(sorted(BINARY)), st.floats(-2, 2, width=32)),
    st.tuples(st.just("reduce"), st.sampled_from(sorted(REDUCE))),
    st.tuples(st.just("matmul"), st.integers(1, 64)),
    st.tuples(st.just("transpose")),
    st.tuples(st.just("bf16")),
)


def _reference(steps: list[Any], x: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """The program in numpy, fp32 throughout (bf16 steps round with ml_dtypes, as the chip stores)."""
    cur = x.astype(np.float32)
    with np.errstate(all="ignore"):  # exp of large values overflows to inf on the chip too
        for s in steps:
            p, f = cur.shape
            if s[0] == "unary":
                cur = UNARY[s[1]](cur).astype(np.float32)
            elif s[0] == "binary":
                cur = BINARY[s[1]](cur, pool[:p, :f]).astype(np.float32)
            elif s[0] == "scalar":
                cur = BINARY[s[1]](cur, np.float32(s[2])).astype(np.float32)
            elif s[0] == "reduce":
                cur = REDUCE[s[1]](cur, axis=1, keepdims=True).astype(np.float32)
            elif s[0] == "matmul":  # stationary cur [K=p, M=f], moving pool [p, n] -> [f, n]
                cur = (cur.T @ pool[:p, : s[1]]).astype(np.float32)
            elif s[0] == "transpose":
                cur = np.ascontiguousarray(cur.T)
            else:
                cur = cur.astype(ml_dtypes.bfloat16).astype(np.float32)
    return cur


@jit
def program(x: Any, pool: Any, steps: Any) -> Any:
    cur = nl.load(x)
    pool_t = nl.load(pool)
    for s in steps:
        p, f = cur.shape
        if s[0] == "unary":
            cur = getattr(nl, s[1])(cur, dtype=nl.float32)
        elif s[0] == "binary":
            cur = getattr(nl, s[1])(cur, pool_t[0:p, 0:f], dtype=nl.float32)
        elif s[0] == "scalar":
            cur = getattr(nl, s[1])(cur, float(s[2]), dtype=nl.float32)
        elif s[0] == "reduce":
            cur = getattr(nl, s[1])(cur, axis=1, keepdims=True, dtype=nl.float32)
        elif s[0] == "matmul":
            # fp32 matmuls take fp32 on both sides (moving is fp32 here)
            on_sbuf_fp32 = cur.buffer is nl.sbuf and cur.dtype == nl.float32
            stationary = cur if on_sbuf_fp32 else nl.copy(cur, dtype=nl.float32)
            cur = nisa.nc_matmul(stationary, pool_t[0:p, 0 : s[1]])
        elif s[0] == "transpose":
            src = nl.copy(cur, dtype=nl.float32) if cur.buffer is not nl.sbuf else cur
            cur = nisa.nc_transpose(src, engine=nisa.tensor_engine)
        else:
            cur = nl.copy(cur, dtype=nl.bfloat16)
    out = nl.ndarray(cur.shape, nl.float32, buffer=nl.shared_hbm)
    nl.store(out, value=nl.copy(cur, dtype=nl.float32))
    return out


@settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE)
@given(
    p=st.integers(1, 128),
    f=st.integers(1, 128),
    steps=st.lists(step, min_size=1, max_size=6),
    seed=st.integers(0, 2**16),
)
def test_valid_programs_agree_with_numpy(p: int, f: int, steps: list[Any], seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (p, f)).astype(np.float32)
    pool = rng.uniform(-1, 1, (128, 128)).astype(np.float32)
    out = simulate(program, x, pool, steps)
    ref = _reference(steps, x, pool)
    # the only difference allowed is fp32 summation order inside matmuls and reductions
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(
            out,
            ref,
            rtol=1e-4,
            atol=1e-4 * (1 + np.nanmax(np.abs(ref[np.isfinite(ref)]), initial=0)),
            equal_nan=True,
        )


invalid = st.one_of(
    st.tuples(st.just("partitions"), st.integers(129, 512)),
    st.tuples(st.just("stationary"), st.integers(129, 256)),
    st.tuples(st.just("moving"), st.integers(513, 2048)),
    st.tuples(st.just("psum_bank"), st.integers(513, 2048)),
    st.tuples(st.just("oob"), st.integers(1, 64)),
    st.tuples(st.just("hbm_compute"), st.integers(1, 8)),
    st.tuples(st.just("int_matmul"), st.integers(1, 8)),
    st.tuples(st.just("reduce_partition"), st.integers(1, 8)),
)


@jit
def bad(kind: str, n: int, a: Any) -> Any:
    if kind == "partitions":
        return nl.zeros((n, 4), nl.float32)
    if kind == "stationary":
        return nisa.nc_matmul(nl.zeros((8, n), nl.float32), nl.zeros((8, 8), nl.float32))
    if kind == "moving":
        return nisa.nc_matmul(nl.zeros((8, 8), nl.float32), nl.zeros((8, n), nl.float32))
    if kind == "psum_bank":
        return nl.zeros((8, n), nl.float32, buffer=nl.psum)
    if kind == "oob":
        return nl.load(a[0:4, n : n + 8])  # a is [4, 8]
    if kind == "hbm_compute":
        return nl.exp(a)
    if kind == "int_matmul":
        t = nl.zeros((8, 8), nl.int32)
        return nisa.nc_matmul(t, t)
    return nl.sum(nl.zeros((8, 8), nl.float32), axis=0)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE)
@given(case=invalid)
def test_invalid_programs_raise_kernel_error_only(case: tuple[str, int]) -> None:
    try:
        simulate(bad, case[0], case[1], np.zeros((4, 8), np.float32))
    except KernelError as error:
        assert "\n" not in str(error) and str(error).startswith("kernel 'bad'")
    else:
        raise AssertionError(f"{case} did not raise KernelError")
