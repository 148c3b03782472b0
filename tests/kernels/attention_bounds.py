"""A priori rounding-error bounds of the flash-attention forward kernel, element by element.

Why not ``factor·u·|ref|``: an attention output ``o_i = Σ_j p_ij v_j`` is a weighted mean of
O(1) values whose signs cancel, so ``|o_i|`` is far smaller than the terms it sums, and every
rounding error scales with the terms ``T_i = Σ_j p_ij |v_j|``, not with ``|o_i|``. A tolerance in
units of ``|o_i|`` therefore held or failed by chance, with the summation order of whichever BLAS
and SIMD ``exp`` the installed NumPy ships (it failed with NumPy 2.4 / ml_dtypes 0.7).

The bound below follows the kernel's algorithm step by step (Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed., §3.1–3.5: ``γ_n = n·u/(1 − n·u)`` for an n-term sum or dot
product in any order). It holds for any summation order, so it does not depend on the library
version; the one library assumption is that a float32 ``exp``/``log`` is within ``EXP_ULPS`` ulp
(NumPy's SIMD float32 transcendental functions are documented to a few ulp), stated here.

Per score ``s_ij = scale·q_i·k_j`` (fp32 accumulation over D, in PSUM):
* ``|δ(scale·S_ij)| ≤ γ_D·A_ij`` with ``A_ij = scale·Σ_d |q_id||k_jd|``;
* the exponent ``scale·S_ij − scale·m_i`` is formed with two roundings: ``+ 2u(|s_ij| + |m_i|)``;
* ``exp`` adds ``EXP_ULPS`` ulp; each of the ``nb`` key-block rescalings ``α = exp(m_old − m_new)``
  adds one exp, its exponent's rounding and one multiply, bounded with ``|m| ≤ max_j A_ij``.
So each probability has relative error ``ε_ij``; then ``P·V`` and ``l = Σ p`` are sums of at most
``Sk + 2·nb`` terms (``γ``), ``O/l`` two more roundings, and bf16 inputs add one bf16 rounding of
``P`` before ``P·V`` and one of the output.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

U32 = 2.0**-24
#: Accuracy assumed of a float32 exp/log (ulp = 2u): NumPy's SIMD float32 exp/log are within
#: about 2.5 ulp; 4 ulp leaves room for other implementations.
EXP_ULPS = 4.0
#: Keys per score block of the kernel (one PSUM bank of fp32): sets the number of rescalings.
KV_BLOCK = 512


def _gamma(n: float) -> float:
    return n * U32 / (1.0 - n * U32)


def flash_fwd_bounds(
    q: Any, k: Any, v: Any, causal: bool, out_u: float, scale: float | None = None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Return elementwise bounds on ``|out − exact|`` and ``|lse − exact|`` of the forward kernel.

    ``out_u`` is the unit roundoff of the kernel's input/output dtype (``2^-24`` for fp32,
    ``2^-8`` for bf16): it rounds ``P`` before ``P·V`` and the output once.
    """
    group = q.shape[1] // k.shape[1]
    q64 = np.asarray(q).astype(np.float64)
    k64 = np.repeat(np.asarray(k).astype(np.float64), group, axis=1)
    v64 = np.repeat(np.asarray(v).astype(np.float64), group, axis=1)
    d, sk = q64.shape[-1], k64.shape[2]
    sc = 1.0 / math.sqrt(d) if scale is None else scale
    s = q64 @ k64.transpose(0, 1, 3, 2) * sc
    a = np.abs(q64) @ np.abs(k64).transpose(0, 1, 3, 2) * sc
    keep = np.tril(np.ones(s.shape[-2:], dtype=bool)) if causal else np.ones(s.shape[-2:], dtype=bool)
    s = np.where(keep, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    p = np.exp(s - m)
    p /= p.sum(axis=-1, keepdims=True)
    o = p @ v64
    lse = (m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True)))[..., 0]

    nb = math.ceil(sk / KV_BLOCK)
    a_max = np.where(keep, a, 0.0).max(axis=-1, keepdims=True)
    exp_err = EXP_ULPS * 2 * U32
    rescale = nb * (exp_err + U32 * (2 * 2 * a_max + 1))
    eps = _gamma(d) * a + 2 * U32 * (np.abs(np.where(keep, s, 0.0)) + np.abs(m)) + exp_err + rescale
    eps = np.where(keep, eps, 0.0)
    terms = p @ np.abs(v64)
    sums = _gamma(sk + 2 * nb)
    rel_l = (p * eps).sum(axis=-1) + sums
    bound_o = (
        (p * eps) @ np.abs(v64)
        + sums * terms
        + np.abs(o) * (rel_l[..., None] + 2 * U32)
        + (out_u if out_u > U32 else 0.0) * terms
        + out_u * np.abs(o)
    )
    bound_lse = U32 * (np.abs(m[..., 0]) + 2 * np.abs(lse)) + rel_l + exp_err * np.abs(lse - m[..., 0])
    return bound_o, bound_lse
