"""The library's kernels by operation name, with references and argument builders.

The training-step model times each operation of a step by running the matching kernel at the
step's shapes in timing-only mode; value tests run the same kernels on random data. Both build
their inputs here::

    entry = registry.get("matmul")
    args = entry.make_args({"m": 4096, "k": 8192, "n": 8192}, "bfloat16")        # placeholders
    args = entry.make_args({"m": 256, "k": 256, "n": 512}, "float32", rng=rng)    # random values

Placeholders are :class:`trnsim.nki.TensorSpec` (shape and dtype, no memory), which
``nki.trace_kernel`` accepts in timing-only mode. ``make_args`` rejects a missing or unknown
shape key, or a dtype the kernel does not support, with one line naming what would be valid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from trnsim.errors import UnknownNameError
from trnsim.kernels import reference
from trnsim.kernels.adamw import adamw
from trnsim.kernels.attention import flash_attention_fwd
from trnsim.kernels.attention_bwd import flash_attention_bwd
from trnsim.kernels.cross_entropy import cross_entropy
from trnsim.kernels.decode import decode_attention, decode_matmul
from trnsim.kernels.elementwise import tensor_add, tensor_add_spmd
from trnsim.kernels.matmul import (
    matmul_blocked_free,
    matmul_fully_blocked,
    matmul_hoisted,
    matmul_naive,
    matmul_tiled,
)
from trnsim.kernels.mlp import swiglu_mlp
from trnsim.kernels.norms import layernorm, rmsnorm
from trnsim.kernels.softmax import softmax
from trnsim.kernels.tiling import KernelShapeError
from trnsim.kernels.transpose import transpose
from trnsim.nki import TensorSpec
from trnsim.nki.legacy import language as nl

#: dtype names the library accepts, and their NumPy types.
DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype(np.float32),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float8_e4m3": np.dtype(ml_dtypes.float8_e4m3),
}
FLOAT_DTYPES = ("float32", "bfloat16")
WITH_FP8 = ("float32", "bfloat16", "float8_e4m3")

Rng = np.random.Generator
ArgBuilder = Callable[[dict[str, int], np.dtype[Any], Rng | None], tuple[Any, ...]]


def resolve_dtype(dtype: Any, allowed: tuple[str, ...], op: str) -> np.dtype[Any]:
    """Map a dtype name or NumPy dtype to the NumPy dtype, if ``allowed`` for operation ``op``."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    name = next((n for n, d in DTYPES.items() if d == resolved), None)
    if name is None or name not in allowed:
        raise KernelShapeError(f"{op}: dtype '{dtype}' is not supported; use one of {', '.join(allowed)}")
    return DTYPES[name]


def tensor(shape: tuple[int, ...], dtype: np.dtype[Any], rng: Rng | None, scale: float = 1.0) -> Any:
    """A placeholder (``rng`` None) or a standard-normal array times ``scale``, cast to ``dtype``."""
    if rng is None:
        return TensorSpec(shape, dtype)
    return (rng.standard_normal(shape) * scale).astype(dtype)


@dataclass(frozen=True, slots=True)
class KernelEntry:
    """One operation of the library.

    ``kernel`` is the NKI kernel, ``reference`` its NumPy reference (same positional arguments),
    ``shape_keys`` the keys ``make_args`` requires (``optional_keys`` may be given too, with the
    defaults documented in ``doc``), ``dtypes`` the input dtypes it supports, ``cores`` the
    number of NeuronCores an SPMD launch spans (1: a plain call; see :meth:`grid`).
    """

    name: str
    kernel: Any
    reference: Callable[..., Any]
    shape_keys: tuple[str, ...]
    build: ArgBuilder
    dtypes: tuple[str, ...] = FLOAT_DTYPES
    optional_keys: tuple[str, ...] = ()
    cores: int = 1
    doc: str = ""

    def grid(self) -> tuple[Any, ...] | None:
        """The launch grid to pass to ``simulate``/``trace_kernel``: None, or ``(nl.nc(cores),)``."""
        return None if self.cores == 1 else (nl.nc(self.cores),)

    def make_args(self, shape: Mapping[str, int], dtype: Any, rng: Rng | None = None) -> tuple[Any, ...]:
        """The kernel's positional arguments for ``shape`` (see ``shape_keys``) and ``dtype``.

        Placeholders (shape and dtype only) when ``rng`` is None, random values otherwise.
        """
        missing = [k for k in self.shape_keys if k not in shape]
        unknown = [k for k in shape if k not in self.shape_keys and k not in self.optional_keys]
        if missing or unknown:
            problem = f"missing {missing}" if missing else f"unknown {unknown}"
            valid = ", ".join(self.shape_keys + self.optional_keys)
            raise KernelShapeError(f"{self.name}: shape keys {problem}; it takes {valid}")
        sizes: dict[str, int] = {}
        for key, value in shape.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise KernelShapeError(
                    f"{self.name}: shape '{key}' is {value!r}; expected a non-negative int"
                )
            sizes[key] = int(value)
        return self.build(sizes, resolve_dtype(dtype, self.dtypes, self.name), rng)


def _rows_cols(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    return (tensor((s["rows"], s["cols"]), dt, rng),)


def _add_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    shape = (s["rows"], s["cols"])
    return tensor(shape, dt, rng), tensor(shape, dt, rng)


def _matmul_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    return tensor((s["k"], s["m"]), dt, rng), tensor((s["k"], s["n"]), dt, rng)


def _rmsnorm_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    return tensor((s["rows"], s["hidden"]), dt, rng), tensor((s["hidden"],), dt, rng)


def _layernorm_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    h = s["hidden"]
    return tensor((s["rows"], h), dt, rng), tensor((h,), dt, rng), tensor((h,), dt, rng)


def _qkv(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, Any, Any, bool]:
    b, d = s["batch"], s["head_dim"]
    q = tensor((b, s["heads"], s["seq_q"], d), dt, rng)
    k = tensor((b, s["kv_heads"], s["seq_k"], d), dt, rng)
    v = tensor((b, s["kv_heads"], s["seq_k"], d), dt, rng)
    return q, k, v, bool(s.get("causal", 1))


def _attn_fwd_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    return _qkv(s, dt, rng)


def _attn_bwd_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    q, k, v, causal = _qkv(s, dt, rng)
    if rng is None:
        out = tensor(q.shape, dt, None)
        lse = tensor(q.shape[:3], np.dtype(np.float32), None)
    else:
        # out and lse must be the forward's, or the gradients mean nothing.
        out32, lse = reference.flash_attention_fwd(q, k, v, causal)
        out = out32.astype(dt)
    return q, k, v, out, tensor(q.shape, dt, rng), lse, causal


def _decode_matmul_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    # Weights scaled by 1/sqrt(K) keep the products O(1), as initialised models do.
    return tensor((s["k"], s["m"]), dt, rng), tensor((s["k"], s["n"]), dt, rng, 1.0 / np.sqrt(s["k"]))


def _decode_attention_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    b, d, seq = s["batch"], s["head_dim"], s["seq_k"]
    return (tensor((b, s["heads"], d), dt, rng), tensor((b, s["kv_heads"], d, seq), dt, rng),
            tensor((b, s["kv_heads"], seq, d), dt, rng))


def _swiglu_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    t, h, f = s["tokens"], s["hidden"], s["ffn"]
    # Weights scaled by 1/sqrt(fan-in) keep activations O(1), as initialised models do.
    return (
        tensor((t, h), dt, rng),
        tensor((h, f), dt, rng, 1.0 / np.sqrt(h)),
        tensor((h, f), dt, rng, 1.0 / np.sqrt(h)),
        tensor((f, h), dt, rng, 1.0 / np.sqrt(f)),
    )


def _adamw_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    n = (s["numel"],)
    f32 = np.dtype(np.float32)
    v = tensor(n, f32, rng, 0.01)
    if rng is not None:
        v = np.abs(v)  # a second moment is never negative
    return tensor(n, dt, rng), tensor(n, dt, rng), tensor(n, f32, rng, 0.1), v


def _cross_entropy_args(s: dict[str, int], dt: np.dtype[Any], rng: Rng | None) -> tuple[Any, ...]:
    t, v = s["tokens"], s["vocab"]
    labels: Any = (
        TensorSpec((t,), np.dtype(np.int32)) if rng is None else rng.integers(0, v, size=t).astype(np.int32)
    )
    return tensor((t, v), dt, rng, 3.0), labels


_ROWS_COLS = ("rows", "cols")
_MNK = ("m", "k", "n")
_ATTN = ("batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim")
_MATMUL_DOC = "lhsT [k, m] (stationary, pre-transposed), rhs [k, n] → [m, n]; fp8 inputs give bf16"


def _matmul_entry(name: str, kernel: Any, stage: str) -> KernelEntry:
    return KernelEntry(
        name, kernel, reference.matmul, _MNK, _matmul_args, WITH_FP8, doc=f"{stage}; {_MATMUL_DOC}"
    )


#: The matmul family in the order of the optimisations (slowest first).
MATMUL_FAMILY: tuple[str, ...] = (
    "matmul_naive",
    "matmul_tiled",
    "matmul_hoisted",
    "matmul_blocked_free",
    "matmul_fully_blocked",
)

_ENTRIES = [
    KernelEntry("add", tensor_add, reference.add, _ROWS_COLS, _add_args, WITH_FP8, doc="a + b, [rows, cols]"),
    KernelEntry(
        "add_spmd",
        tensor_add_spmd,
        reference.add,
        _ROWS_COLS,
        _add_args,
        WITH_FP8,
        cores=2,
        doc="a + b split over 2 NeuronCores (grid nl.nc(2)); rows even",
    ),
    KernelEntry("transpose", transpose, reference.transpose, _ROWS_COLS, _rows_cols, WITH_FP8, doc="x.T"),
    KernelEntry("softmax", softmax, reference.softmax, _ROWS_COLS, _rows_cols, doc="softmax over cols"),
    KernelEntry(
        "rmsnorm", rmsnorm, reference.rmsnorm, ("rows", "hidden"), _rmsnorm_args, doc="x [rows, hidden]"
    ),
    KernelEntry(
        "layernorm",
        layernorm,
        reference.layernorm,
        ("rows", "hidden"),
        _layernorm_args,
        doc="x [rows, hidden]",
    ),
    _matmul_entry("matmul", matmul_fully_blocked, "fully blocked"),
    _matmul_entry("matmul_naive", matmul_naive, "stage 1, naive"),
    _matmul_entry("matmul_tiled", matmul_tiled, "stage 2, PSUM accumulation"),
    _matmul_entry("matmul_hoisted", matmul_hoisted, "stage 3, hoisted loads"),
    _matmul_entry("matmul_blocked_free", matmul_blocked_free, "stage 4, blocked M and N"),
    _matmul_entry("matmul_fully_blocked", matmul_fully_blocked, "stage 5, blocked M, N, K"),
    KernelEntry(
        "flash_attention_fwd",
        flash_attention_fwd,
        reference.flash_attention_fwd,
        _ATTN,
        _attn_fwd_args,
        optional_keys=("causal",),
        doc="q [b, heads, seq_q, d], k/v [b, kv_heads, seq_k, d]; causal 0/1 (default 1)",
    ),
    KernelEntry(
        "flash_attention_bwd",
        flash_attention_bwd,
        reference.flash_attention_bwd,
        _ATTN,
        _attn_bwd_args,
        optional_keys=("causal",),
        doc="(q, k, v, out, dout, lse) → (dq, dk, dv); causal 0/1 (default 1)",
    ),
    KernelEntry(
        "decode_matmul",
        decode_matmul,
        reference.decode_matmul,
        _MNK,
        _decode_matmul_args,
        WITH_FP8,
        doc="xT [k, m<=128] stationary, w [k, n] streamed once → [m, n]; decode-shaped (weights bound)",
    ),
    KernelEntry(
        "decode_attention",
        decode_attention,
        reference.decode_attention,
        ("batch", "heads", "kv_heads", "seq_k", "head_dim"),
        _decode_attention_args,
        doc="q [b, heads, d], kT [b, kv_heads, d, seq_k], v [b, kv_heads, seq_k, d] → [b, heads, d]",
    ),
    KernelEntry(
        "swiglu_mlp",
        swiglu_mlp,
        reference.swiglu_mlp,
        ("tokens", "hidden", "ffn"),
        _swiglu_args,
        doc="x [tokens, hidden], w_gate/w_up [hidden, ffn], w_down [ffn, hidden]",
    ),
    KernelEntry(
        "adamw",
        adamw,
        reference.adamw,
        ("numel",),
        _adamw_args,
        doc="param/grad in dtype, moments fp32, numel a multiple of 128",
    ),
    KernelEntry(
        "cross_entropy",
        cross_entropy,
        reference.cross_entropy,
        ("tokens", "vocab"),
        _cross_entropy_args,
        doc="logits [tokens, vocab], int32 labels → (loss fp32, dlogits)",
    ),
]

REGISTRY: dict[str, KernelEntry] = {e.name: e for e in _ENTRIES}


def get(name: str) -> KernelEntry:
    """The entry for operation ``name``; an unknown name lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownNameError("kernel", name, list(REGISTRY)) from None


def names() -> list[str]:
    """All operation names, in registry order."""
    return list(REGISTRY)
