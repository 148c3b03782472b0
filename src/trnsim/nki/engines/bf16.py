"""bfloat16 <-> fp32 conversions as integer operations, bit for bit those of ml_dtypes.

A bfloat16 is the top half of an fp32, so widening is a 16-bit shift, and narrowing rounds the
fp32 bits to nearest even at bit 16 (``bits + 0x7FFF + lsb``, whose carry also turns the largest
values into infinity as a float conversion does). NaN is the one case the integer rounding gets
wrong (it could carry into the sign or clear the payload): ml_dtypes gives the quiet NaN
``0x7FC0`` with the input's sign, and so does :func:`f32_to_bf16`.

ml_dtypes converts element by element through a generic cast loop; these are a few numpy
integer ufuncs: about twice as fast on a [128, 512] tile, slower on small tiles (each ufunc call
costs a few microseconds), hence :data:`BF16_INTEGER_MIN_SIZE`. Both keep the memory order of
their input as ``astype`` does (``order="K"``), so that a following matmul sees the same layout.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

__all__ = ["BF16", "BF16_INTEGER_MIN_SIZE", "bf16_to_f32", "f32_to_bf16"]

BF16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
#: Arrays of at least this many elements are converted here; smaller ones by ml_dtypes' cast
#: (a simulator speed setting, measured on [128, n] tiles; both give the same bits).
BF16_INTEGER_MIN_SIZE = 1 << 15
_SHIFT = np.uint32(16)
_LSB = np.uint32(1)
_HALF = np.uint32(0x7FFF)
_SIGN = np.uint16(0x8000)
_QUIET_NAN = np.uint16(0x7FC0)


def bf16_to_f32(values: np.ndarray) -> np.ndarray:
    """``values.astype(np.float32)`` for a bfloat16 array (exact: every bfloat16 is an fp32)."""
    out = np.empty_like(values, dtype=np.uint32)
    np.left_shift(values.view(np.uint16), _SHIFT, out=out, dtype=np.uint32)
    return out.view(np.float32)


def f32_to_bf16(values: np.ndarray) -> np.ndarray:
    """``values.astype(bfloat16)`` for an fp32 array: round to nearest even, NaN to quiet NaN."""
    bits = values.view(np.uint32)
    rounded = bits >> _SHIFT
    rounded &= _LSB
    rounded += _HALF
    rounded += bits
    rounded >>= _SHIFT
    out = rounded.astype(np.uint16)
    nan = np.isnan(values)
    if nan.any():
        out[nan] = ((bits[nan] >> _SHIFT).astype(np.uint16) & _SIGN) | _QUIET_NAN
    return out.view(BF16)
