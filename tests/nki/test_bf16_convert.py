"""The integer bfloat16 conversions agree with ml_dtypes' casts bit for bit.

Every bfloat16 (all 65,536 bit patterns) is widened; for narrowing, every upper half of an fp32
(all signs, exponents and bfloat16 mantissas, NaN and infinity included) is combined with the
lower halves where rounding decides (0, 1, just below, at and above the tie 0x8000, all ones),
plus random fp32 bit patterns.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from trnsim.nki.engines.bf16 import bf16_to_f32, f32_to_bf16

_BF16 = np.dtype(ml_dtypes.bfloat16)


def test_widening_matches_ml_dtypes_on_every_bfloat16() -> None:
    values = np.arange(1 << 16, dtype=np.uint16).view(_BF16)
    want = values.astype(np.float32).view(np.uint32)
    assert np.array_equal(bf16_to_f32(values).view(np.uint32), want)


def test_widening_keeps_the_memory_order_of_a_view() -> None:
    values = np.arange(12, dtype=np.float32).astype(_BF16).reshape(3, 4).T
    got, want = bf16_to_f32(values), values.astype(np.float32)
    assert got.strides == want.strides
    assert np.array_equal(got, want)


def test_narrowing_matches_ml_dtypes_at_every_rounding_boundary() -> None:
    upper = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)
    lower = np.array([0, 1, 0x7FFE, 0x7FFF, 0x8000, 0x8001, 0xFFFE, 0xFFFF], dtype=np.uint32)
    bits = (upper[:, None] | lower[None, :]).reshape(-1)
    rng = np.random.default_rng(0)
    bits = np.concatenate([bits, rng.integers(0, 1 << 32, size=1 << 20, dtype=np.uint64).astype(np.uint32)])
    values = bits.view(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        want = values.astype(_BF16).view(np.uint16)
    got = f32_to_bf16(values).view(np.uint16)
    assert np.array_equal(got, want)
