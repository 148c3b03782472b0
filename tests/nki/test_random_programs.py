"""Hypothesis: random valid tile programs agree with numpy; random invalid ones raise KernelError only."""

from __future__ import annotations

import os
from typing import Any

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
)


def _reference(steps: list[Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):  # exp of large values overflows to inf on the chip too
        return _reference_steps(steps, x, y)


def _reference_steps(steps: list[Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    cur = x.astype(np.float32)
    for s in steps:
        if s[0] == "unary":
            cur = UNARY[s[1]](cur).astype(np.float32)
        elif s[0] == "binary":
            cur = BINARY[s[1]](cur, np.broadcast_to(y, cur.shape)).astype(np.float32)
        elif s[0] == "scalar":
            cur = BINARY[s[1]](cur, np.float32(s[2])).astype(np.float32)
        else:
            cur = REDUCE[s[1]](cur, axis=1, keepdims=True).astype(np.float32)
    return cur


@jit
def program(x: Any, y: Any, steps: Any) -> Any:
    cur = nl.load(x)
    yt = nl.load(y)
    for s in steps:
        if s[0] == "unary":
            cur = getattr(nl, s[1])(cur)
        elif s[0] == "binary":
            other = yt if cur.shape == yt.shape else yt[:, 0:1]
            cur = getattr(nl, s[1])(cur, other)
        elif s[0] == "scalar":
            cur = getattr(nl, s[1])(cur, float(s[2]))
        else:
            cur = getattr(nl, s[1])(cur, axis=1, keepdims=True)
    out = nl.ndarray(cur.shape, nl.float32, buffer=nl.shared_hbm)
    nl.store(out, value=cur)
    return out


@settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE)
@given(
    p=st.integers(1, 128),
    f=st.integers(1, 64),
    steps=st.lists(step, min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_valid_programs_agree_with_numpy(p: int, f: int, steps: list[Any], seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (p, f)).astype(np.float32)
    y = rng.uniform(-1, 1, (p, f)).astype(np.float32)
    # a binary step after a reduction combines [P,1] with y's first column
    ref_steps = []
    for s in steps:
        ref_steps.append(s)
    out = simulate(program, x, y, steps)
    cur = x
    for s in ref_steps:
        other = y if cur.shape == y.shape else y[:, 0:1]
        cur = _reference([s], cur, other)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(out, cur, rtol=2e-5, atol=2e-5, equal_nan=True)


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
