"""Trainium op times from the project's own kernels run through the NeuronCore model.

An op maps to a kernel of ``trnsim.kernels`` (its ``Op.kernel`` name) and the shape of one call
(:func:`kernel_call`); :func:`simulate_ns` traces that kernel in timing-only mode and runs the
trace through ``trnsim.core``. Both layers are imported inside the functions that use them (so
that start-up does not load the kernel language): without them (or without a kernel
for an op) :class:`KernelPathUnavailable` says so and callers fall back to the roofline.

A kernel runs on one physical NeuronCore. A logical core of LNC=2 cores splits the op's
independent tiles between its two cores, so the op takes the single-core time divided by the LNC
size (an ideal split: the sharing of HBM bandwidth between the pair is not modelled here).
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from trnsim.devicetime.ops import Op, OpClass
from trnsim.errors import TrnsimError

__all__ = ["KernelCall", "KernelPathUnavailable", "kernel_call", "simulate_ns", "timing_model_version"]


class KernelPathUnavailable(TrnsimError):
    """The kernel or chip-model layer cannot time this op (not built, or no kernel for it)."""


@dataclass(frozen=True)
class KernelCall:
    """One kernel launch: name, the shape it takes, dtype, and identical launches per op instance."""

    kernel: str
    shape: Mapping[str, int]
    dtype: str
    repeats: int = 1


#: Packages whose code or data decide a simulated latency (see :func:`timing_model_version`).
#: Each package maps to the path prefix of its relevant files ("" = all of them).
_VERSIONED: dict[str, tuple[str, ...]] = {
    "trnsim.nki": ("",), "trnsim.kernels": ("",), "trnsim.core": ("",),
    "trnsim.hardware": ("neuroncore", "data/neuroncore"),
}

#: Kernel-library dtype names of the op dtypes.
_DTYPE_NAMES = {"bf16": "bfloat16", "fp8": "float8_e4m3", "fp32": "float32"}


def _attention_shape(op: Op) -> dict[str, int]:
    # One (batch, head) per launch: the library kernel's shape for a single head and KV head.
    # The kernel has one head_dim; MLA's wider query/key heads (192 vs 128) use the larger.
    return {"batch": 1, "heads": 1, "kv_heads": 1, "seq_q": int(op.shape["seq_q"]),
            "seq_k": int(op.shape["seq_kv"]),
            "head_dim": max(int(op.shape["head_dim_qk"]), int(op.shape["head_dim_v"])),
            "causal": int(op.shape.get("causal", 1))}


def _rows_hidden(op: Op) -> dict[str, int]:
    return {"rows": int(op.shape["rows"]), "hidden": int(op.shape["cols"])}


def _tokens_vocab(op: Op) -> dict[str, int]:
    return {"tokens": int(op.shape["rows"]), "vocab": int(op.shape["cols"])}


def _numel(op: Op) -> dict[str, int]:
    # The AdamW kernel takes a multiple of 128 elements (one per partition).
    return {"numel": -(-int(op.shape["params"]) // 128) * 128}


#: Most (request, KV head) pairs one decode-attention launch takes; more are further launches.
DECODE_ATTENTION_MAX_BATCH = 64


def _decode_attention_shape(op: Op) -> dict[str, int]:
    # The (request, KV head) pairs of one step in as few launches as possible (independent pairs
    # overlap on the engines within a launch), each pair with its group of query heads; the cache
    # is padded to whole 128-position tiles as a paged/contiguous cache allocates it.
    pairs = int(op.shape["batch_heads"])
    launches = -(-pairs // DECODE_ATTENTION_MAX_BATCH)
    return {"batch": -(-pairs // launches), "heads": int(op.shape["group"]), "kv_heads": 1,
            "seq_k": -(-int(op.shape["seq_kv"]) // 128) * 128,
            "head_dim": max(int(op.shape["head_dim_qk"]), int(op.shape["head_dim_v"]))}


def _same(op: Op) -> dict[str, int]:
    return {k: int(v) for k, v in op.shape.items()}


#: Op kernel hint -> (registry name, shape translator). Ops without an entry have no kernel.
_KERNELS: dict[str, tuple[str, Callable[[Op], dict[str, int]]]] = {
    "matmul": ("matmul", _same),
    "attention": ("flash_attention_fwd", _attention_shape),
    "attention_bwd": ("flash_attention_bwd", _attention_shape),
    "decode_matmul": ("decode_matmul", _same),
    "decode_attention": ("decode_attention", _decode_attention_shape),
    "rmsnorm": ("rmsnorm", _rows_hidden),
    "layernorm": ("layernorm", _rows_hidden),
    "add": ("add", _same),
    "cross_entropy": ("cross_entropy", _tokens_vocab),
    "adamw": ("adamw", _numel),
}


#: Largest output block (rows m, columns n) one launch of the library's matmul kernel takes: it
#: keeps its [m, n] result in SBUF, which overflows one NeuronCore beyond 2048 x 2048 (found by
#: running the kernel). Bigger GEMMs are launched as equal blocks, as a real kernel tiles them.
MATMUL_MAX_BLOCK = 2048


def _split(extent: int, limit: int) -> tuple[int, int]:
    """(blocks, block size): equal blocks of at most ``limit``, sizes rounded up to 128."""
    blocks = -(-extent // limit)
    size = -(-extent // blocks)
    return blocks, min(limit, -(-size // 128) * 128) if blocks > 1 else extent


def kernel_call(op: Op) -> KernelCall | None:
    """The kernel launch that implements one instance of ``op``, or None when none does."""
    if op.kernel not in _KERNELS:
        return None
    name, translate = _KERNELS[op.kernel]
    shape = translate(op)
    repeats = int(op.shape["batch_heads"]) if op.op_class is OpClass.ATTENTION else 1
    if name == "decode_attention":
        repeats = -(-int(op.shape["batch_heads"]) // DECODE_ATTENTION_MAX_BATCH)
    if name == "matmul":
        # The kernel takes whole 128-row tiles of the contraction (K: the PE array's rows) and of
        # the stationary operand's columns (M: its 128 columns); a partial tile still occupies the
        # whole array for as long as a full one, so a real kernel pays the padding too.
        shape["k"] = -(-shape["k"] // 128) * 128
        m_blocks, shape["m"] = _split(-(-shape["m"] // 128) * 128, MATMUL_MAX_BLOCK)
        n_blocks, shape["n"] = _split(shape["n"], MATMUL_MAX_BLOCK)
        repeats = m_blocks * n_blocks
    elif name == "decode_matmul":
        # Rows beyond one stationary tile (128 requests) are further launches over the same weights.
        shape["k"] = -(-shape["k"] // 128) * 128
        m_blocks, shape["m"] = _split(shape["m"], 128)
        repeats = m_blocks
    return KernelCall(name, shape, _DTYPE_NAMES[op.dtype.value], repeats)


def _registry() -> Any:
    """The kernel library's registry module (tests substitute one with a ``get``)."""
    try:
        from trnsim.kernels import registry
    except ImportError:
        raise KernelPathUnavailable("the kernel library (trnsim.kernels.registry) is not installed") from None
    return registry


def _core() -> Callable[..., float]:
    """The chip model's ``predict_latency_ns``."""
    try:
        from trnsim.core import predict_latency_ns
    except ImportError:
        raise KernelPathUnavailable(
            "the chip model (trnsim.core.predict_latency_ns) is not installed") from None
    return predict_latency_ns


def _entry(registry: Any, name: str) -> Any:
    try:
        return registry.get(name)
    except (KeyError, LookupError, TrnsimError):
        raise KernelPathUnavailable(f"no kernel '{name}' in trnsim.kernels.registry") from None


def simulate_ns(call: KernelCall, target: str, timing: Any = None) -> float:
    """Latency in ns of one launch of ``call`` on one NeuronCore of ``target`` (event simulation).

    ``timing`` (a loaded ``NeuronCoreTiming``, e.g. with what-if overrides) replaces the shipped
    timing data of ``target``.
    """
    entry = _entry(_registry(), call.kernel)
    try:
        args = entry.make_args(dict(call.shape), call.dtype)
    except TrnsimError as error:
        raise KernelPathUnavailable(
            f"kernel '{call.kernel}' cannot take {dict(call.shape)}: {error}") from None
    predict = _core()
    try:
        return float(predict(entry.kernel, *args, target=timing if timing is not None else target))
    except TrnsimError as error:
        # A kernel the NKI front end or the chip model rejects cannot time the op; say why.
        raise KernelPathUnavailable(f"kernel '{call.kernel}' failed in simulation: {error}") from None


def timing_model_version(target: str) -> str:
    """A tag that changes whenever the code or data behind a simulated latency changes.

    A hash of the source files of the NKI front end, the kernel library and the chip model, and of
    the NeuronCore timing data: a disk-cache entry or a table made with other versions of them no
    longer matches (cache) or is reported stale (``tables_are_current``).
    """
    return f"{target}:{_sources_digest()}"


@lru_cache(maxsize=1)
def _sources_digest() -> str:
    """The hash of :func:`timing_model_version`, the same for every target: read once per process
    (some 170 files), not once per target."""
    digest = hashlib.sha256()
    for package in sorted(_VERSIONED):
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            digest.update(f"{package}:absent".encode())
            continue
        root = Path(spec.origin).parent
        for path in sorted(root.rglob("*")):
            relative = str(path.relative_to(root))
            wanted = relative.startswith(_VERSIONED[package])
            if wanted and path.suffix in (".py", ".toml") and path.is_file():
                digest.update(relative.encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
