"""Value mode's bfloat16 matmul into fp32: operands widened by a 16-bit shift, product stored in place.

A bfloat16 is the top half of an fp32, so widening is ``bits << 16``: ml_dtypes' cast bit for bit
(NaN payloads included), without its per-element cast loop. :func:`multiply_bf16` widens both
operands into scratch arrays kept per (use, shape) and lets ``np.matmul`` write the product into
the destination (``out=``: the same sgemm call as without it). Used by the checked ``nc_matmul``
(``tensor_engine``) and by its value-mode call template (``trnsim.nki.templates``).
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

__all__ = ["BF16", "multiply_bf16", "plain_bf16", "widen_bf16"]

BF16: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
_SHIFT = np.uint32(16)


def plain_bf16(t: Any) -> bool:
    """A bfloat16 tensor view read whole from one strided box (no index arrays, in bounds, not empty)."""
    return bool(
        t.dtype == BF16 and t.flat is None and t.oob is None and not t.index_tiles and 0 not in t.shape
    )


def widen_bf16(values: np.ndarray) -> np.ndarray:
    """``values.astype(np.float32)`` for a bfloat16 array (same memory order, same bits)."""
    return np.left_shift(values.view(np.uint16), _SHIFT, dtype=np.uint32).view(np.float32)


def multiply_bf16(scratch: dict[Any, Any], s: np.ndarray, mv: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = s.T @ mv`` in fp32 for C-contiguous bfloat16 ``s`` [K, M...] and ``mv`` [K, N...]
    (flattened to [K, M] and [K, N]), ``out`` a C-contiguous fp32 [M, N] view."""
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
    np.left_shift(s.view(np.uint16), _SHIFT, out=ws, dtype=np.uint32)
    np.left_shift(mv.view(np.uint16), _SHIFT, out=wm, dtype=np.uint32)
    np.matmul(lhs, rhs, out=out)
