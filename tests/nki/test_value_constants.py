"""Value mode's constant stores (``nisa.memset``, ``nl.zeros``, ``nl.full``): the rounded constant is
kept per (value bits, dtypes) and stored over a whole view directly (all-zero bits as a byte fill
where the view is contiguous), the bits ``to_dtype`` + ``Tensor.write`` stored before."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trnsim.nki import dtypes, simulate
from trnsim.nki.engines import execute
from trnsim.nki.engines.execute import to_dtype
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

_VALUES = (0, 0.0, -0.0, 1, 2.5, -3.75, 1 / 3, 300, -300, 65504.0, 1e30, float("inf"), float("nan"))


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16", "int32", "int8", "float8_e4m3"])
def test_memsets_store_the_constant_s_rounded_bits(name: str) -> None:
    """Whole tiles and strided views (every other column, retargeted) hold ``to_dtype``'s bits of each
    constant (signed zeros, NaN, infinities, saturating and rounded integers); the columns beside
    the view keep the tile's earlier fill."""
    dt = dtypes._BY_NAME[name]

    for value in _VALUES:

        @jit
        def kernel(a: Any, value: Any = value) -> Any:
            out = nl.ndarray((2, 128, 64), dtype=dt, buffer=nl.shared_hbm)
            whole = nisa.memset((128, 64), value, dt)
            nl.store(out[0], value=whole)
            t = nl.full((128, 64), 7, dtype=dt, buffer=nl.sbuf)
            t[:, 0:64:2] = nisa.memset((128, 32), value, dt)
            nl.store(out[1], value=t)
            return out

        got = np.asarray(simulate(kernel, np.zeros((1, 1), np.float32), target="trn2"))
        const = to_dtype(np.asarray(value), dt)
        seven = to_dtype(np.asarray(7), dt)
        assert np.array_equal(_bits(got[0]), _bits(np.broadcast_to(const, (128, 64)))), value
        assert np.array_equal(_bits(got[1][:, 0::2]), _bits(np.broadcast_to(const, (128, 32)))), value
        assert np.array_equal(_bits(got[1][:, 1::2]), _bits(np.broadcast_to(seven, (128, 32)))), value


def test_a_constant_is_rounded_once_per_value_and_dtype() -> None:
    """Repeated memsets of one constant round it once (``to_dtype`` is not called per memset), and
    the kept constant cannot be written through."""

    @jit
    def kernel(a: Any) -> Any:
        out = nl.ndarray((5, 128, 64), dtype=nl.float32, buffer=nl.shared_hbm)
        for i in nl.affine_range(5):
            nl.store(out[i], value=nisa.memset((128, 64), 0.25, nl.float32))
        return out

    calls = []
    real = execute.to_dtype

    def counting(values: Any, dt: Any) -> Any:
        calls.append(dt)
        return real(values, dt)

    execute._CONSTANTS.clear()
    execute.to_dtype = counting  # type: ignore[assignment]
    try:
        got = np.asarray(simulate(kernel, np.zeros((1, 1), np.float32), target="trn2"))
    finally:
        execute.to_dtype = real  # type: ignore[assignment]
    assert (got == 0.25).all()
    assert calls.count(np.dtype(np.float32)) <= 1
    for const, _ in execute._CONSTANTS.values():
        assert not const.flags.writeable
