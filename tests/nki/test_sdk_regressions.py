"""Regressions found running kernels written as the public SDK samples write them."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from trnsim.nki import simulate
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


@jit
def transpose_by_identity(a: Any) -> Any:
    out = nl.ndarray((a.shape[1], a.shape[0]), nl.float32, buffer=nl.shared_hbm)
    ident = nl.load(nl.shared_identity_matrix(a.shape[0], dtype=nl.bfloat16))
    # nc_matmul(stationary=x, moving=I) = x.T @ I = x.T
    t = nisa.nc_matmul(nl.load(a), ident)
    nl.store(out, value=nl.copy(t, dtype=nl.float32))
    return out


def test_loading_shared_identity_matrix_gives_the_identity() -> None:
    # was: "could not broadcast input array from shape (128,128) into shape (16384,)" because the
    # constant array was written into the flat storage without flattening.
    a = np.arange(128 * 32, dtype=np.float32).reshape(128, 32) % 7
    out = simulate(transpose_by_identity, a.astype(ml_dtypes.bfloat16))
    np.testing.assert_array_equal(out, a.T)  # small integers: exact in bf16 and fp32


@jit
def load_constant(_: Any) -> Any:
    out = nl.ndarray((4, 3), nl.int32, buffer=nl.shared_hbm)
    c = nl.load(nl.shared_constant(np.arange(12).reshape(4, 3), dtype=nl.int32))
    nl.store(out, value=c)
    return out


def test_shared_constant_keeps_the_arrays_layout() -> None:
    out = simulate(load_constant, np.zeros((1, 1), np.float32))
    np.testing.assert_array_equal(out, np.arange(12).reshape(4, 3))
