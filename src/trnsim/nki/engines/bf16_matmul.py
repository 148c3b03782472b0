"""Value mode's bfloat16 conversions and bfloat16 matmul into fp32, on the bits.

A bfloat16 is the top half of an fp32, so widening is ``bits << 16``: ml_dtypes' cast bit for bit
(NaN payloads included), without its per-element cast loop. :func:`multiply_bf16` widens both
operands into scratch arrays kept per operand shapes and lets ``np.matmul`` write the product into
the destination (``out=``: the same sgemm call as without it). Used by the checked ``nc_matmul``
(``tensor_engine``) and by its value-mode call template (``trnsim.nki.templates``).

:func:`narrow_bf16` rounds fp32 to bfloat16 (nearest, ties to even) with integer adds on the bits:
ml_dtypes' ``astype`` bit for bit for all 2**32 fp32 patterns (checked exhaustively; the tests
check every bfloat16 with the low halves around each rounding boundary), NaN becoming the quiet
NaN of its sign (0x7FC0 / 0xFFC0) as there.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

__all__ = [
    "BF16",
    "multiply_bf16",
    "multiply_bf16_bits",
    "narrow_bf16",
    "narrow_bf16_into",
    "plain_bf16",
    "widen_bf16",
]

BF16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
_SHIFT = np.uint32(16)
_U16 = np.dtype(np.uint16)
_HALF_MINUS_ONE = np.uint32(0x7FFF)
_SIGN = np.uint16(0x8000)
_QUIET_NAN = np.uint16(0x7FC0)


def plain_bf16(t: Any) -> bool:
    """A bfloat16 tensor view read whole from one strided box (no index arrays, in bounds, not empty)."""
    return bool(
        t.dtype == BF16 and t.flat is None and t.oob is None and not t.index_tiles and 0 not in t.shape
    )


def widen_bf16(values: np.ndarray) -> np.ndarray:
    """``values.astype(np.float32)`` for a bfloat16 array (same memory order, same bits)."""
    return np.left_shift(values.view(np.uint16), _SHIFT, dtype=np.uint32).view(np.float32)


def narrow_bf16(values: np.ndarray) -> np.ndarray:
    """``values.astype(bfloat16)`` for an fp32 array (same shape and bits; no warnings)."""
    if values.ndim == 0:  # ufuncs return scalars for 0-d operands: no out= arrays
        return narrow_bf16(values.reshape(1)).reshape(())
    bits = values.view(np.uint32)
    # round half to even: add 0x7FFF plus the lowest kept bit, keep the top 16 bits (a carry
    # into the exponent is the correct rounding up, to infinity past the largest finite value)
    t = np.right_shift(bits, _SHIFT)
    np.bitwise_and(t, 1, out=t)
    np.add(t, bits, out=t)
    np.add(t, _HALF_MINUS_ONE, out=t)
    np.right_shift(t, _SHIFT, out=t)
    out = t.astype(np.uint16)
    nan = np.isnan(values)
    if nan.any():
        # the sign from the input bits (the rounding add may have carried out of a NaN's)
        out[nan] = (np.right_shift(bits[nan], _SHIFT).astype(np.uint16) & _SIGN) | _QUIET_NAN
    return out.view(BF16)


def narrow_bf16_into(scratch: dict[Any, Any], values: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = values.astype(bfloat16)`` for an fp32 array ``values`` and a uint16 view ``out``
    of a bfloat16 destination of the same shape (the bits :func:`narrow_bf16` returns).

    The rounding's uint32 temporary and the NaN mask are ``scratch`` arrays kept per shape (as the
    matmul's widened operands are), and the result goes straight into ``out``: no fresh memory and
    no second copy of the result per call (a value launch's PSUM-to-SBUF copies: the temporaries of
    a fresh ``narrow_bf16`` were new memory each time, written cold).
    """
    key = ("narrow_bf16", values.shape)
    kept = scratch.get(key)
    if kept is None:
        kept = scratch[key] = (np.empty(values.shape, np.uint32), np.empty(values.shape, np.bool_))
    t, nan = kept
    bits = values.view(np.uint32)
    # narrow_bf16's integer rounding, in the kept temporary
    np.right_shift(bits, _SHIFT, out=t)
    t &= 1
    t += bits
    t += _HALF_MINUS_ONE
    t >>= _SHIFT
    np.isnan(values, out=nan)
    if nan.any():
        t[nan] = (np.right_shift(bits[nan], _SHIFT).astype(np.uint16) & _SIGN) | _QUIET_NAN
    # one write into ``out``, after every read of ``values`` (safe should they share memory)
    out[...] = t


def multiply_bf16(scratch: dict[Any, Any], s: np.ndarray, mv: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = s.T @ mv`` in fp32 for C-contiguous bfloat16 ``s`` [K, M...] and ``mv`` [K, N...]
    (flattened to [K, M] and [K, N]), ``out`` a C-contiguous fp32 [M, N] view."""
    multiply_bf16_bits(scratch, s.view(_U16), mv.view(_U16), out)


def multiply_bf16_bits(scratch: dict[Any, Any], s: np.ndarray, mv: np.ndarray, out: np.ndarray) -> None:
    """:func:`multiply_bf16` of operands given as their bits (uint16 arrays: value mode's matmul
    replay reads the tiles' storage so, one ``view`` per operand less)."""
    key = (s.shape, mv.shape)
    kept = scratch.get(key)
    if kept is None:
        # the widened operands' scratch, and the [M, K] and [K, N] fp32 views matmul reads
        k = s.shape[0]
        ws = np.empty(s.shape, np.uint32)
        wm = np.empty(mv.shape, np.uint32)
        lhs = ws.view(np.float32).reshape(k, -1).T
        kept = scratch[key] = (ws, wm, lhs, wm.view(np.float32).reshape(k, -1))
    ws, wm, lhs, rhs = kept
    # widened as a plain cast, then an in-place shift: two unbuffered vector loops, 20-30 % faster
    # than one shift ufunc casting its uint16 input through buffers (same bits)
    ws[...] = s
    ws <<= _SHIFT
    wm[...] = mv
    wm <<= _SHIFT
    np.matmul(lhs, rhs, out=out)
