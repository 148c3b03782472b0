"""NumPy references of the library's kernels: the values each kernel must reproduce.

Each function takes the kernel's positional arguments (NumPy arrays of any float dtype) and
returns what the kernel returns, computed in float64 from the inputs, then cast to float32.
Where a kernel's contract rounds an intermediate to the input dtype (the SwiGLU hidden
activation), the reference rounds it too; every other rounding difference is left to the test
tolerances.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


def _f64(x: Any) -> Array:
    return np.asarray(x).astype(np.float64)


def _f32(x: Array) -> Array:
    return x.astype(np.float32)


def add(a: Array, b: Array) -> Array:
    """``a + b``."""
    return _f32(_f64(a) + _f64(b))


def transpose(x: Array) -> Array:
    """``x.T``."""
    return _f32(_f64(x).T)


def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def softmax(x: Array) -> Array:
    """Softmax over the last axis."""
    return _f32(_softmax(_f64(x)))


def rmsnorm(x: Array, weight: Array, eps: float = 1e-6) -> Array:
    """``x / sqrt(mean(x², -1) + eps) * weight``."""
    x64 = _f64(x)
    return _f32(x64 / np.sqrt((x64**2).mean(axis=-1, keepdims=True) + eps) * _f64(weight))


def layernorm(x: Array, gamma: Array, beta: Array, eps: float = 1e-5) -> Array:
    """``(x − mean) / sqrt(var + eps) * gamma + beta`` over the last axis."""
    x64 = _f64(x)
    mean = x64.mean(axis=-1, keepdims=True)
    var = x64.var(axis=-1, keepdims=True)
    return _f32((x64 - mean) / np.sqrt(var + eps) * _f64(gamma) + _f64(beta))


def matmul(lhsT: Array, rhs: Array) -> Array:
    """``lhsT.T @ rhs``."""
    return _f32(_f64(lhsT).T @ _f64(rhs))


def _expand_kv(t: Array, group: int) -> Array:
    return np.repeat(t, group, axis=1)


def _attention_probs(q: Array, k: Array, causal: bool, scale: float | None) -> tuple[Array, float]:
    d = q.shape[-1]
    sc = 1.0 / math.sqrt(d) if scale is None else scale
    s = q @ k.transpose(0, 1, 3, 2) * sc
    if causal:
        keep = np.tril(np.ones((q.shape[2], k.shape[2]), dtype=bool))
        s = np.where(keep, s, -np.inf)
    return s, sc


def flash_attention_fwd(
    q: Array, k: Array, v: Array, causal: bool = True, softmax_scale: float | None = None
) -> tuple[Array, Array]:
    """``(softmax(q k^T · scale [+ causal mask]) v, logsumexp of the scaled scores)``."""
    group = q.shape[1] // k.shape[1]
    s, _ = _attention_probs(_f64(q), _expand_kv(_f64(k), group), causal, softmax_scale)
    m = s.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True))
    out = np.exp(s - lse) @ _expand_kv(_f64(v), group)
    return _f32(out), _f32(lse[..., 0])


def flash_attention_bwd(
    q: Array,
    k: Array,
    v: Array,
    out: Array,
    dout: Array,
    lse: Array,
    causal: bool = True,
    softmax_scale: float | None = None,
) -> tuple[Array, Array, Array]:
    """``(dq, dk, dv)`` of attention, recomputed exactly (``out`` and ``lse`` are not trusted)."""
    b, hq, _, d = q.shape
    hkv = k.shape[1]
    group = hq // hkv
    q64, do64 = _f64(q), _f64(dout)
    k64, v64 = _expand_kv(_f64(k), group), _expand_kv(_f64(v), group)
    s, sc = _attention_probs(q64, k64, causal, softmax_scale)
    probs = _softmax(s)
    o = probs @ v64
    dv = probs.transpose(0, 1, 3, 2) @ do64
    dp = do64 @ v64.transpose(0, 1, 3, 2)
    ds = probs * (dp - (do64 * o).sum(axis=-1, keepdims=True))
    dq = sc * ds @ k64
    dk = sc * ds.transpose(0, 1, 3, 2) @ q64
    sk = k.shape[2]
    dk = dk.reshape(b, hkv, group, sk, d).sum(axis=2)
    dv = dv.reshape(b, hkv, group, sk, d).sum(axis=2)
    return _f32(dq), _f32(dk), _f32(dv)


def swiglu_mlp(x: Array, w_gate: Array, w_up: Array, w_down: Array) -> Array:
    """``(silu(x w_gate) ∘ (x w_up)) w_down`` with the hidden activation rounded to x's dtype."""
    x64 = _f64(x)
    g = x64 @ _f64(w_gate)
    u = x64 @ _f64(w_up)
    h = (g / (1.0 + np.exp(-g)) * u).astype(np.asarray(x).dtype)
    return _f32(_f64(h) @ _f64(w_down))


def adamw(
    param: Array,
    grad: Array,
    exp_avg: Array,
    exp_avg_sq: Array,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    step: int = 1,
) -> tuple[Array, Array, Array]:
    """One ``torch.optim.AdamW`` step: ``(param, exp_avg, exp_avg_sq)``."""
    p, g = _f64(param), _f64(grad)
    m = beta1 * _f64(exp_avg) + (1.0 - beta1) * g
    v = beta2 * _f64(exp_avg_sq) + (1.0 - beta2) * g * g
    p = p * (1.0 - lr * weight_decay)
    p = p - lr / (1.0 - beta1**step) * m / (np.sqrt(v / (1.0 - beta2**step)) + eps)
    return _f32(p), _f32(m), _f32(v)


def cross_entropy(logits: Array, labels: Array, grad_scale: float = 1.0) -> tuple[Array, Array]:
    """``(logsumexp − picked logit, grad_scale · (softmax − onehot))`` per token."""
    x = _f64(logits)
    rows = np.arange(x.shape[0])
    m = x.max(axis=-1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=-1))
    loss = lse - x[rows, labels]
    grad = np.exp(x - lse[:, None])
    grad[rows, labels] -= 1.0
    return _f32(loss), _f32(grad * grad_scale)


def decode_matmul(xT: Array, w: Array) -> Array:
    """``xT.T @ w`` (the skinny decode matmul)."""
    return _f32(_f64(xT).T @ _f64(w))


def decode_attention(q: Array, k_t: Array, v: Array, softmax_scale: float | None = None) -> Array:
    """``softmax(q k^T · scale) v`` for one query per (batch, head); ``k_t`` is [B, Hkv, D, S]."""
    q64, k64, v64 = _f64(q), _f64(k_t), _f64(v)
    group = q64.shape[1] // k64.shape[1]
    sc = 1.0 / math.sqrt(q64.shape[-1]) if softmax_scale is None else softmax_scale
    k_full = np.repeat(k64, group, axis=1)  # [B, Hq, D, S]
    s = np.einsum("bhd,bhds->bhs", q64, k_full) * sc
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return _f32(np.einsum("bhs,bhsd->bhd", p, np.repeat(v64, group, axis=1)))
