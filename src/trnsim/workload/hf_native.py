"""Meta's native Llama ``params.json`` (``dim``, ``n_layers``, ``multiple_of``, ...) as a Llama decoder.

The file has no ``model_type``; its ``multiple_of`` marks it. hf-configs.md §18 gives its key names
and the Llama-native FFN width rule; the layer is the Llama layout (§17: RMSNorm ×2, gated SiLU FFN,
GQA, no biases, untied).
"""

from __future__ import annotations

from typing import Any

from trnsim.errors import ConfigError
from trnsim.workload.config import MlpKind, NormKind, PositionKind
from trnsim.workload.hf_reader import HfReader

__all__ = ["is_llama_native", "llama_native", "llama_native_ffn"]


def is_llama_native(data: Any) -> bool:
    """True for a Meta ``params.json``: no ``model_type``, and the ``multiple_of`` only it carries."""
    return data.get("model_type") is None and data.get("multiple_of") is not None


def llama_native_ffn(hidden: int, multiple_of: int, multiplier: float | None) -> int:
    """The FFN width Meta's code derives (§18): int(2·4h/3), times ``ffn_dim_multiplier`` if set
    (truncated), rounded up to a multiple of ``multiple_of``."""
    width = 8 * hidden // 3  # int(2·4h/3), exact in integers
    if multiplier is not None:
        width = int(multiplier * width)
    return multiple_of * -(-width // multiple_of)


def llama_native(r: HfReader) -> dict[str, Any]:
    """The :class:`~trnsim.workload.config.ModelConfig` fields of a ``params.json``."""
    h = r.integer("dim")
    heads = r.integer("n_heads", minimum=1)
    if h % heads:
        raise ConfigError(f"{r.where}: dim={h} is not divisible by n_heads={heads}")
    multiplier = r.raw("ffn_dim_multiplier")
    if multiplier is not None and (isinstance(multiplier, bool) or not isinstance(multiplier, int | float)
                                   or multiplier <= 0):
        raise ConfigError(f"{r.where}: 'ffn_dim_multiplier' must be a positive number or null, "
                          f"got {multiplier!r}")
    vocab = r.integer("vocab_size")
    if vocab == -1:  # Meta's Llama 2 files: the tokenizer sets it
        raise ConfigError(f"{r.where}: 'vocab_size' is -1 (params.json leaves it to the tokenizer); "
                          "write the tokenizer's vocabulary size there")
    return {
        "family": "llama", "hidden_size": h, "num_layers": r.integer("n_layers"), "num_heads": heads,
        "num_kv_heads": r.integer("n_kv_heads", default=heads), "head_dim": h // heads,
        "ffn_hidden_size": llama_native_ffn(h, r.integer("multiple_of", minimum=1),
                                            None if multiplier is None else float(multiplier)),
        "vocab_size": vocab,
        "max_seq_len": r.integer("max_seq_len", default=4096),
        "mlp": MlpKind.SWIGLU, "norm": NormKind.RMSNORM, "position": PositionKind.ROPE,
        "tie_embeddings": False,
        "_notes": ["Meta params.json read as a Llama (RMSNorm, gated SiLU FFN of the width multiple_of and "
                   "ffn_dim_multiplier give)"],
    }
