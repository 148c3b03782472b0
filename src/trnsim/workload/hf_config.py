"""Read Hugging Face style ``config.json`` files (no network) into :class:`ModelConfig`.

Supported ``model_type`` values: llama, mistral, qwen2, qwen3 (dense, SwiGLU, RMSNorm, RoPE);
gpt2 and megatron-gpt2 (GELU, LayerNorm, learned positions, biases); gpt_neox; mixtral; deepseek_v2
and deepseek_v3 (shared + routed experts, multi-head latent attention); gemma (Gemma 1: GeGLU,
tied); llama4 / llama4_text (routed + shared expert, dense layers of their own width); and the families of
:mod:`trnsim.workload.hf_families` (Gemma 2/3, Phi-3, Falcon, DBRX, DeepSeek-MoE, Qwen2/3-MoE,
OLMo 2, OLMoE, StarCoder2, Cohere, Nemotron). Multimodal wrappers are read from ``text_config``;
other ``model_type``s go to a generic decoder reader that names the fields it ignored. Keys the
model does not need are ignored (HF configs carry many); keys it needs but cannot find, or values
that make no sense, give one clear :class:`~trnsim.errors.ConfigError`. What a model leaves out
(sliding windows, DeepSeek-V3's multi-token prediction, vision towers) is added to its notes.

A config may carry a ``"_trnsim"`` object with ``name``, ``notes`` (what is approximated or
assumed) and ``source``; the built-in presets use it to label their assumptions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from trnsim.errors import ConfigError
from trnsim.workload.config import AttentionKind, MlpKind, ModelConfig, NormKind, PositionKind
from trnsim.workload.hf_families import (
    FAMILY_DEFAULTS,
    FAMILY_PARSERS,
    bias_fields,
    decoder_fields,
    deepseek_moe_fields,
    moe_layer_indices,
    qwen_is_global,
    sliding_note,
)
from trnsim.workload.hf_generic import generic_decoder
from trnsim.workload.hf_native import is_llama_native, llama_native
from trnsim.workload.hf_reader import HfReader

__all__ = ["SUPPORTED_MODEL_TYPES", "model_from_hf_dict"]


def _dense_llama_like(r: HfReader, family: str) -> dict[str, Any]:
    fields = decoder_fields(r, family)
    fields.update(qk_norm=r.flag("qk_norm", family == "qwen3"), **bias_fields(r))
    # Qwen2's q/k/v projections carry biases (hard-wired in transformers 4.x); o_proj has none.
    fields["qkv_bias"] = family == "qwen2" and not fields["linear_bias"]
    if family == "mistral" or r.raw("use_sliding_window"):
        is_global = qwen_is_global(r) if family in ("qwen2", "qwen3") else None
        note = sliding_note(r, fields["num_layers"], is_global)
        if note:
            fields["_notes"].append(note)
    return fields


def _llama(r: HfReader) -> dict[str, Any]:
    return _dense_llama_like(r, str(r.data.get("model_type")))


def _gpt2(r: HfReader) -> dict[str, Any]:
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


def _gpt_neox(r: HfReader) -> dict[str, Any]:
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
        # GPTNeoXConfig's default block is parallel (Pythia, GPT-NeoX-20B), as Falcon's and Cohere's
        "_notes": (["parallel attention and MLP block timed as sequential (same FLOPs)"]
                   if r.flag("use_parallel_residual", True) else []),
    }


def _mixtral(r: HfReader) -> dict[str, Any]:
    fields = decoder_fields(r, "mixtral")
    fields.update(
        num_experts=r.integer("num_local_experts"),
        experts_per_token=r.integer("num_experts_per_tok"),
        moe_ffn_hidden_size=fields["ffn_hidden_size"],
    )
    note = sliding_note(r, fields["num_layers"], None)  # Mixtral slides on every layer, as Mistral
    if note:
        fields["_notes"].append(note)
    return fields


def _mtp_note(r: HfReader, fields: dict[str, Any]) -> str | None:
    """DeepSeek-V3's multi-token-prediction module, which trnsim leaves out, with its size."""
    mtp = r.integer("num_nextn_predict_layers", "num_mtp_layers", default=0)
    if not mtp:
        return None
    probe = ModelConfig(**{k: v for k, v in fields.items() if not k.startswith("_")}, name="mtp")
    h = probe.hidden_size
    # One full decoder layer (the last, MoE), eh_proj 2h -> h, and the enorm/hnorm/shared_head norms.
    params = mtp * (probe.layer_params(probe.num_layers - 1) + 2 * h * h + 3 * h)
    return (f"multi-token-prediction module ({mtp} layer(s), about {params / 1e9:.1f} B parameters) "
            "not modelled: parameters, FLOPs and memory leave it out")


def _deepseek(r: HfReader) -> dict[str, Any]:
    heads = r.integer("num_attention_heads", minimum=1)
    layers = r.integer("num_hidden_layers")
    fields: dict[str, Any] = {
        "family": str(r.data.get("model_type")),
        "hidden_size": r.integer("hidden_size"),
        "num_layers": layers,
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
        "_notes": [],
    }
    fields.update(deepseek_moe_fields(r, layers))
    note = _mtp_note(r, fields)
    if note:
        fields["_notes"].append(note)
    return fields


def _gemma1(r: HfReader) -> dict[str, Any]:
    """Gemma 1: the Llama layout with a GeGLU FFN, head_dim 256 and a tied head (hf-configs.md, §3)."""
    fields = decoder_fields(r, "gemma", tie_default=True)
    fields.update(bias_fields(r))
    fields["_notes"].append("GeGLU costed as SwiGLU (same three GEMMs)")
    return fields


def _llama4_text(r: HfReader) -> dict[str, Any]:
    """Llama 4's decoder: MoE layers of routed experts plus one shared expert, both of width
    ``intermediate_size``; the other layers dense, of width ``intermediate_size_mlp`` (§16)."""
    fields = decoder_fields(r, "llama4")
    layers = fields["num_layers"]
    listed = r.raw("moe_layers")
    if isinstance(listed, list):
        moe = set(r.int_list("moe_layers"))
        outside = sorted(i for i in moe if not 0 <= i < layers)
        if outside:
            raise ConfigError(f"{r.where}: 'moe_layers' lists {outside}, outside the {layers} layers "
                              f"(0..{layers - 1})")
    else:
        step = r.integer("interleave_moe_layer_step", minimum=1)
        moe = set(range(step - 1, layers, step))
    expert = fields["ffn_hidden_size"]
    fields.update(
        ffn_hidden_size=r.integer("intermediate_size_mlp"),
        num_experts=r.integer("num_local_experts"),
        experts_per_token=r.integer("num_experts_per_tok"),
        moe_ffn_hidden_size=expert,
        num_shared_experts=1,
        shared_expert_ffn_size=expert,
        moe_layers=moe_layer_indices(layers, lambda i: i in moe),
    )
    chunk = r.raw("attention_chunk_size")
    if chunk:
        flags = r.raw("no_rope_layers")
        rope = (sum(1 for f in flags if f) if isinstance(flags, list) and flags
                else sum(1 for i in range(layers) if (i + 1) % 4))
        fields["_notes"].append(f"chunked attention (chunks of {chunk} on {rope} of {layers} layers) not "
                                "modelled: attention FLOPs counted over the whole sequence")
    return fields


#: transformers class defaults of the families this module reads itself (hf-configs.md).
_DEFAULTS: dict[str, dict[str, Any]] = {
    **FAMILY_DEFAULTS,
    "gemma": {"head_dim": 256, "tie_word_embeddings": True},
    "llama4_text": {"vocab_size": 202048, "hidden_size": 5120, "intermediate_size": 8192,
                    "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
                    "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 16,
                    "num_experts_per_tok": 1, "interleave_moe_layer_step": 1, "attention_chunk_size": 8192},
}

_PARSERS: dict[str, Callable[[HfReader], dict[str, Any]]] = {
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
    "gemma": _gemma1,
    "llama4_text": _llama4_text,
    **FAMILY_PARSERS,
}

# Wrapper configs whose decoder sits in ``text_config`` without its own model_type.
_TEXT_TYPES = {"gemma3": "gemma3_text", "llama4": "llama4_text"}

#: The ``model_type`` values :func:`model_from_hf_dict` understands.
SUPPORTED_MODEL_TYPES = tuple(sorted(_PARSERS))


def _decoder_part(data: Mapping[str, Any], where: str) -> tuple[Mapping[str, Any], str, list[str]]:
    """The decoder's config (``text_config`` of a multimodal wrapper), its where, and notes."""
    text = data.get("text_config")
    if text is None:
        return data, where, []
    if not isinstance(text, Mapping):
        raise ConfigError(f"{where}: 'text_config' must be an object")
    outer = str(data.get("model_type"))
    inner = {**text, "model_type": text.get("model_type") or _TEXT_TYPES.get(outer, outer)}
    notes = []
    for key in sorted(k for k in data if k.endswith("_config") and k != "text_config"):
        kind = data[key].get("model_type", key) if isinstance(data[key], Mapping) else key
        notes.append(f"{key} ({kind}) not modelled: only the text decoder is costed")
    return inner, f"{where}: text_config", notes


def model_from_hf_dict(data: Mapping[str, Any], where: str, default_name: str) -> ModelConfig:
    """Build a validated :class:`ModelConfig` from a parsed ``config.json``.

    Known ``model_type``s use their family reader; others go to the generic decoder reader,
    which refuses configs without the standard fields and notes what it ignored.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a JSON object")
    extra = data.get("_trnsim", {})
    decoder, inner_where, notes = _decoder_part(data, where)
    model_type = str(decoder.get("model_type"))
    reader = HfReader(decoder, inner_where, _DEFAULTS.get(model_type))
    if model_type in _PARSERS:
        fields = _PARSERS[model_type](reader)
    elif is_llama_native(decoder):
        fields = llama_native(reader)
    else:
        fields = generic_decoder(reader, model_type, ", ".join(SUPPORTED_MODEL_TYPES))
    if not isinstance(extra, Mapping):
        raise ConfigError(f"{where}: '_trnsim' must be an object with name, notes, source")
    given_notes = extra.get("notes", ())
    if isinstance(given_notes, str):  # one note, not one per character
        given_notes = (given_notes,)
    overrides = extra.get("overrides", {})
    if not isinstance(given_notes, list | tuple) or not isinstance(overrides, Mapping):
        raise ConfigError(f"{where}: '_trnsim' notes must be a list of strings and overrides an object "
                          "of ModelConfig fields")
    quantization = data.get("quantization_config")
    if quantization:  # an FP8/4-bit checkpoint: its weights would move fewer bytes than --precision's
        method = quantization.get("quant_method", "?") if isinstance(quantization, Mapping) else quantization
        notes.append(f"quantization_config ({method}) not applied: weights are costed in the run's "
                     "precision (--precision)")
    if "_trnsim" not in data:  # a user's file: the assumptions the presets label in their own notes
        notes += _assumption_notes(fields)
    fields["name"] = str(extra.get("name", default_name))
    fields["notes"] = tuple(str(n) for n in given_notes) + tuple(notes + fields.pop("_notes", []))
    fields["source"] = str(extra.get("source", where))
    for key, value in overrides.items():
        fields[key] = value
    try:
        return ModelConfig(**fields)
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(f"{inner_where}: {_file_keys(loc, decoder, overrides)}: {first['msg']}") from None
    except ConfigError as error:  # the model's own checks name its fields and itself: say the file's
        why = str(error).removeprefix(f"model '{fields['name']}': ")
        raise ConfigError(f"{inner_where}: {_file_keys(why, decoder, overrides)}") from None


def _assumption_notes(fields: Mapping[str, Any]) -> list[str]:
    """What every MoE and MLA model is approximated by (the presets say it in their ``_trnsim`` notes)."""
    notes = []
    if fields.get("num_experts"):
        notes.append("routing assumed perfectly balanced across experts (no capacity factor, no token "
                     "dropping)")
    if fields.get("attention") is AttentionKind.MLA:
        notes.append(f"MLA attention timed as standard attention with qk head dim "
                     f"{fields['qk_nope_head_dim'] + fields['qk_rope_head_dim']} and v head dim "
                     f"{fields['v_head_dim']} after decompression")
    return notes


#: What the model's fields are called in config.json files (the readers' aliases, most usual first):
#: an error about a field names the key the file has.
_FILE_KEYS: dict[str, tuple[str, ...]] = {
    "num_layers": ("num_hidden_layers", "n_layer", "n_layers", "num_layers"),
    "max_seq_len": ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"),
    "hidden_size": ("hidden_size", "n_embd", "n_embed", "d_model", "dim"),
    "num_heads": ("num_attention_heads", "n_head", "n_heads", "num_heads"),
    "num_kv_heads": ("num_key_value_heads", "num_kv_heads", "kv_n_heads"),
    "ffn_hidden_size": ("intermediate_size", "n_inner", "ffn_hidden_size"),
    "vocab_size": ("vocab_size", "padded_vocab_size"),
    "num_experts": ("num_local_experts", "n_routed_experts", "num_experts"),
    "experts_per_token": ("num_experts_per_tok", "moe_top_k"),
}


def _file_keys(message: str, data: Mapping[str, Any], overrides: Mapping[str, Any]) -> str:
    """``message`` with each model field it names replaced by the key the file gave it under (a
    field set in ``_trnsim.overrides``, or by no key of the file, keeps its own name)."""
    def key(match: re.Match[str]) -> str:
        field = match.group(0)
        if field in overrides:
            return field
        return next((k for k in _FILE_KEYS[field] if data.get(k) is not None), field)
    return re.sub(r"\b(" + "|".join(_FILE_KEYS) + r")\b", key, message)
