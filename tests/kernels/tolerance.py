"""Shared helpers of the kernel-library tests.

Tolerances are stated in units of the output dtype's unit roundoff ``u`` (half the gap between
1 and the next representable number): fp32 ``2^-24``, bf16 ``2^-8`` (7 stored mantissa bits),
fp8 e4m3 ``2^-4`` (3 bits). A kernel whose only extra error is rounding its result once has
``|got − ref| ≤ u·|ref|``; each test states the factor it allows on top and why.
"""

from __future__ import annotations

from typing import Any

import numpy as np

UNIT_ROUNDOFF = {"float32": 2.0**-24, "bfloat16": 2.0**-8, "float8_e4m3": 2.0**-4}


def assert_close(
    got: Any, ref: Any, dtype: str, factor: float, what: str = "", normwise: bool = False
) -> None:
    """Check ``|got − ref| ≤ factor·u·(|ref| + s)`` elementwise, ``s = mean|ref|`` (or ``max|ref|``).

    The ``s`` term covers outputs that are small differences of rounded intermediates (a
    softmax-weighted sum): their error scales with the terms, not with the result. ``normwise``
    uses ``max|ref|`` for outputs dominated by cancellation (attention gradients).
    """
    got32 = np.asarray(got).astype(np.float64)
    ref64 = np.asarray(ref).astype(np.float64)
    assert got32.shape == ref64.shape, f"{what}: shape {got32.shape} != reference {ref64.shape}"
    assert np.all(np.isfinite(got32)), f"{what}: non-finite values in the kernel output"
    u = UNIT_ROUNDOFF[dtype]
    spread = np.abs(ref64).max() if normwise else np.abs(ref64).mean()
    bound = factor * u * (np.abs(ref64) + spread)
    excess = np.abs(got32 - ref64) - bound
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    err_u = float(np.abs(got32 - ref64)[worst] / (u * (abs(ref64[worst]) + spread)))
    assert excess[worst] <= 0, (
        f"{what} [{dtype}]: worst error {err_u:.1f} u at {worst} (got {got32[worst]}, "
        f"ref {ref64[worst]}); allowed {factor} u"
    )
