"""Read Hugging Face style ``config.json`` files (no network) into :class:`ModelConfig`.

Supported ``model_type`` values: llama, mistral, qwen2, qwen3 (dense, SwiGLU, RMSNorm, RoPE);
gpt2 and megatron-gpt2 (GELU, LayerNorm, learned positions, biases); gpt_neox; mixtral; deepseek_v2
and deepseek_v3 (shared + routed experts, multi-head latent attention). Keys the model does not
need are ignored (HF configs carry many); keys it needs but cannot find, or values that make no
sense, give one clear :class:`~trnsim.errors.ConfigError`.

A config may carry a ``"_trnsim"`` object with ``name``, ``notes`` (what is approximated or
assumed) and ``source``; the built-in presets use it to label their assumptions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from trnsim.errors import ConfigError
from trnsim.workload.config import AttentionKind, MlpKind, ModelConfig, NormKind, PositionKind

__all__ = ["SUPPORTED_MODEL_TYPES", "model_from_hf_dict"]


class _Reader:
    """Typed access to a config dict, naming the file and key in every error."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def integer(self, *keys: str, default: int | None = None, minimum: int | None = None) -> int:
        for key in keys:
            value = self.data.get(key)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ConfigError(f"{self.where}: '{key}' must be a whole number, got {value!r}")
                if minimum is not None and value < minimum:
                    raise ConfigError(f"{self.where}: '{key}' must be at least {minimum}, got {value}")
                return value
        if default is None:
            raise ConfigError(f"{self.where}: missing '{keys[0]}'")
        return default

    def opt_int(self, key: str) -> int | None:
        return self.integer(key, default=0) or None

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where}: '{key}' must be true or false, got {value!r}")
        return value


def _dense_llama_like(r: _Reader, family: str) -> dict[str, Any]:
    h = r.integer("hidden_size")
    heads = r.integer("num_attention_heads", minimum=1)
    if h % heads and "head_dim" not in r.data:
        raise ConfigError(f"{r.where}: hidden_size={h} is not divisible by num_attention_heads={heads}")
    return {
        "family": family,
        "hidden_size": h,
        "num_layers": r.integer("num_hidden_layers"),
        "num_heads": heads,
        "num_kv_heads": r.integer("num_key_value_heads", default=heads),
        "head_dim": r.integer("head_dim", default=h // heads),
        "ffn_hidden_size": r.integer("intermediate_size"),
        "vocab_size": r.integer("vocab_size"),
        "max_seq_len": r.integer("max_position_embeddings", default=4096),
        "mlp": MlpKind.SWIGLU,
        "norm": NormKind.RMSNORM,
        "position": PositionKind.ROPE,
        "tie_embeddings": r.flag("tie_word_embeddings", False),
        "qk_norm": r.flag("qk_norm", family == "qwen3"),
        "linear_bias": r.flag("attention_bias", False),
    }


def _llama(r: _Reader) -> dict[str, Any]:
    return _dense_llama_like(r, str(r.data.get("model_type")))


def _gpt2(r: _Reader) -> dict[str, Any]:
    h = r.integer("n_embd", "hidden_size")
    heads = r.integer("n_head", "num_attention_heads", minimum=1)
    if h % heads:
        raise ConfigError(f"{r.where}: n_embd={h} is not divisible by n_head={heads}")
    dropout = any(float(r.data.get(k) or 0.0) > 0 for k in ("resid_pdrop", "attn_pdrop", "embd_pdrop"))
    return {
        "family": "gpt2",
        "hidden_size": h,
        "num_layers": r.integer("n_layer", "num_hidden_layers"),
        "num_heads": heads,
        "num_kv_heads": heads,
        "head_dim": h // heads,
        "ffn_hidden_size": r.integer("n_inner", "ffn_hidden_size", default=4 * h),
        "vocab_size": r.integer("vocab_size"),
        "max_seq_len": r.integer("n_positions", "max_position_embeddings", default=1024),
        "mlp": MlpKind.GELU,
        "norm": NormKind.LAYERNORM,
        "position": PositionKind.LEARNED,
        "tie_embeddings": r.flag("tie_word_embeddings", True),
        "linear_bias": True,
        "dropout": dropout,
    }


def _gpt_neox(r: _Reader) -> dict[str, Any]:
    h = r.integer("hidden_size")
    heads = r.integer("num_attention_heads", minimum=1)
    if h % heads:
        raise ConfigError(f"{r.where}: hidden_size={h} is not divisible by num_attention_heads={heads}")
    return {
        "family": "gpt_neox",
        "hidden_size": h,
        "num_layers": r.integer("num_hidden_layers"),
        "num_heads": heads,
        "num_kv_heads": heads,
        "head_dim": h // heads,
        "ffn_hidden_size": r.integer("intermediate_size", default=4 * h),
        "vocab_size": r.integer("vocab_size"),
        "max_seq_len": r.integer("max_position_embeddings", default=2048),
        "mlp": MlpKind.GELU,
        "norm": NormKind.LAYERNORM,
        "position": PositionKind.ROPE,
        "tie_embeddings": r.flag("tie_word_embeddings", False),
        "linear_bias": True,
        "dropout": float(r.data.get("hidden_dropout") or 0.0) > 0,
    }


def _mixtral(r: _Reader) -> dict[str, Any]:
    fields = _dense_llama_like(r, "mixtral")
    fields.update(
        num_experts=r.integer("num_local_experts"),
        experts_per_token=r.integer("num_experts_per_tok"),
        moe_ffn_hidden_size=fields["ffn_hidden_size"],
    )
    return fields


def _deepseek(r: _Reader) -> dict[str, Any]:
    heads = r.integer("num_attention_heads", minimum=1)
    fields = {
        "family": str(r.data.get("model_type")),
        "hidden_size": r.integer("hidden_size"),
        "num_layers": r.integer("num_hidden_layers"),
        "num_heads": heads,
        "num_kv_heads": heads,  # MLA: every head has its own (decompressed) keys and values
        "head_dim": r.integer("v_head_dim"),
        "ffn_hidden_size": r.integer("intermediate_size"),
        "vocab_size": r.integer("vocab_size"),
        "max_seq_len": r.integer("max_position_embeddings", default=4096),
        "tie_embeddings": r.flag("tie_word_embeddings", False),
        "attention": AttentionKind.MLA,
        "q_lora_rank": r.opt_int("q_lora_rank"),
        "kv_lora_rank": r.integer("kv_lora_rank"),
        "qk_nope_head_dim": r.integer("qk_nope_head_dim"),
        "qk_rope_head_dim": r.integer("qk_rope_head_dim"),
        "v_head_dim": r.integer("v_head_dim"),
        "num_experts": r.integer("n_routed_experts", default=0),
        "experts_per_token": r.integer("num_experts_per_tok", default=0),
        "num_shared_experts": r.integer("n_shared_experts", default=0),
        "moe_ffn_hidden_size": r.opt_int("moe_intermediate_size"),
        "first_dense_layers": r.integer("first_k_dense_replace", default=0),
    }
    if r.integer("moe_layer_freq", default=1) != 1:
        raise ConfigError(f"{r.where}: moe_layer_freq other than 1 is not supported")
    return fields


_PARSERS: dict[str, Callable[[_Reader], dict[str, Any]]] = {
    "llama": _llama,
    "mistral": _llama,
    "qwen2": _llama,
    "qwen3": _llama,
    "gpt2": _gpt2,
    "megatron-gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "mixtral": _mixtral,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
}

#: The ``model_type`` values :func:`model_from_hf_dict` understands.
SUPPORTED_MODEL_TYPES = tuple(sorted(_PARSERS))


def model_from_hf_dict(data: Mapping[str, Any], where: str, default_name: str) -> ModelConfig:
    """Build a validated :class:`ModelConfig` from a parsed ``config.json``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a JSON object")
    model_type = data.get("model_type")
    if model_type not in _PARSERS:
        raise ConfigError(
            f"{where}: unknown architecture model_type={model_type!r}; supported: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    fields = _PARSERS[str(model_type)](_Reader(data, where))
    extra = data.get("_trnsim", {})
    if not isinstance(extra, Mapping):
        raise ConfigError(f"{where}: '_trnsim' must be an object with name, notes, source")
    fields["name"] = str(extra.get("name", default_name))
    fields["notes"] = tuple(str(n) for n in extra.get("notes", ()))
    fields["source"] = str(extra.get("source", where))
    for key, value in extra.get("overrides", {}).items():
        fields[key] = value
    try:
        return ModelConfig(**fields)
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(f"{where}: {loc}: {first['msg']}") from None
