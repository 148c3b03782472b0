"""Readers for the Hugging Face decoder families beyond Llama/GPT/Mixtral/DeepSeek-V2/V3.

Each reader turns one ``model_type``'s fields into :class:`~trnsim.workload.config.ModelConfig`
fields, with the family's class defaults for absent keys (transformers does the same), and
lists in ``"_notes"`` what the model keeps out (sliding windows, soft-capping, ...). Field names,
defaults and layouts follow the transformers configuration classes of each family.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trnsim.errors import ConfigError
from trnsim.workload.config import MlpKind, NormKind, PositionKind, QkNormScope
from trnsim.workload.hf_reader import HfReader

__all__ = ["FAMILY_DEFAULTS", "FAMILY_PARSERS", "bias_fields", "decoder_fields", "moe_layer_indices",
           "qwen_is_global", "sliding_note"]

#: transformers class defaults of each family (used for keys a file leaves out).
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma2": {"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
               "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "sliding_window": 4096,
               "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0,
               "max_position_embeddings": 8192, "tie_word_embeddings": True},
    "gemma3_text": {"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
                    "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                    "head_dim": 256, "sliding_window": 4096, "sliding_window_pattern": 6,
                    "max_position_embeddings": 131072, "tie_word_embeddings": True},
    "phi3": {"vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
             "num_attention_heads": 32, "max_position_embeddings": 4096},
    "falcon": {"vocab_size": 65024, "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
               "multi_query": True, "parallel_attn": True, "new_decoder_architecture": False, "bias": False,
               "alibi": False, "tie_word_embeddings": True, "max_position_embeddings": 2048},
    "RefinedWeb": {"vocab_size": 65024, "new_decoder_architecture": True, "parallel_attn": True,
                   "tie_word_embeddings": True, "max_position_embeddings": 2048},
    "RefinedWebModel": {"vocab_size": 65024, "multi_query": True, "parallel_attn": True,
                        "tie_word_embeddings": True, "max_position_embeddings": 2048},
    "dbrx": {"d_model": 2048, "n_heads": 16, "n_layers": 24, "vocab_size": 32000, "max_seq_len": 2048},
    "deepseek": {"vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 11008,
                 "num_hidden_layers": 30, "num_attention_heads": 32, "moe_layer_freq": 1,
                 "first_k_dense_replace": 0, "max_position_embeddings": 2048},
    "qwen2_moe": {"vocab_size": 151936, "hidden_size": 2048,
   "intermediate_size": 5632, "num_hidden_layers": 24,
                  "num_attention_heads": 16, "num_key_value_heads": 16, "moe_intermediate_size": 1408,
                  "shared_expert_intermediate_size": 5632, "num_experts": 60, "num_experts_per_tok": 4,
                  "decoder_sparse_step": 1, "max_position_embeddings": 32768},
    "qwen3_moe": {"vocab_size": 151936, "hidden_size": 2048,
   "intermediate_size": 6144, "num_hidden_layers": 24,
                  "num_attention_heads": 32, "num_key_value_heads": 4, "moe_intermediate_size": 768,
                  "num_experts": 128, "num_experts_per_tok": 8, "decoder_sparse_step": 1,
                  "max_position_embeddings": 32768},
    "olmo2": {"vocab_size": 50304, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
              "num_attention_heads": 32, "max_position_embeddings": 2048},
    "olmoe": {"vocab_size": 50304, "hidden_size": 2048, "intermediate_size": 2048, "num_hidden_layers": 16,
              "num_attention_heads": 16, "num_experts": 64, "num_experts_per_tok": 8,
              "max_position_embeddings": 4096},
    "starcoder2": {"vocab_size": 49152, "hidden_size": 3072, "intermediate_size": 12288,
                   "num_hidden_layers": 30, "num_attention_heads": 24, "num_key_value_heads": 2,
                   "use_bias": True, "tie_word_embeddings": True, "max_position_embeddings": 4096},
    "cohere": {"vocab_size": 256000, "hidden_size": 8192, "intermediate_size": 22528, "num_hidden_layers": 40,
               "num_attention_heads": 64, "tie_word_embeddings": True, "max_position_embeddings": 8192},
    "cohere2": {"vocab_size": 256000, "hidden_size": 8192,
   "intermediate_size": 22528, "num_hidden_layers": 40,
                "num_attention_heads": 64, "tie_word_embeddings": True, "sliding_window": 4096,
                "sliding_window_pattern": 4, "max_position_embeddings": 8192},
    "nemotron": {"vocab_size": 256000, "hidden_size": 6144,
   "intermediate_size": 24576, "num_hidden_layers": 32,
                 "num_attention_heads": 48, "max_position_embeddings": 4096},
}


def decoder_fields(r: HfReader, family: str, *, mlp: MlpKind = MlpKind.SWIGLU,
                   norm: NormKind = NormKind.RMSNORM, tie_default: bool = False) -> dict[str, Any]:
    """The fields every Llama-lineage family shares (hidden size, heads, FFN width, vocab, ...)."""
    h = r.integer("hidden_size")
    heads = r.integer("num_attention_heads", minimum=1)
    if h % heads and not r.has("head_dim"):
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
        "mlp": mlp,
        "norm": norm,
        "position": PositionKind.ROPE,
        "tie_embeddings": r.flag("tie_word_embeddings", tie_default),
        "_notes": _dropout_notes(r),
    }


def bias_fields(r: HfReader) -> dict[str, Any]:
    """A Llama-lineage file's two bias flags (hf-configs.md §18): ``attention_bias`` sets the q/k/v/o
    projections' biases, ``mlp_bias`` the MLP's (both default false)."""
    return {"linear_bias": r.flag("attention_bias", False), "mlp_bias": r.flag("mlp_bias", False)}


def _dropout_notes(r: HfReader) -> list[str]:
    """A non-zero ``attention_dropout``: these readers cost no dropout (their released models have 0.0)."""
    rate = r.raw("attention_dropout")
    if isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0:
        return [f"attention_dropout={rate:g} not modelled: dropout masks are not costed"]
    return []


def layer_types(r: HfReader, layers: int) -> list[str] | None:
    """The file's per-layer attention kinds (transformers 5.x ``layer_types``), None when absent.

    Refused unless a list of one string per layer: a malformed list was ignored and the family's
    default pattern silently used in its place.
    """
    types = r.raw("layer_types")
    if types is None:
        return None
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise ConfigError(f"{r.where}: 'layer_types' must be a list of one attention kind per layer "
                          f"(\"sliding_attention\" or \"full_attention\"), got {types!r}")
    if types and len(types) != layers:
        raise ConfigError(f"{r.where}: 'layer_types' has {len(types)} entries for {layers} layers "
                          "(num_hidden_layers): give one attention kind per layer")
    return types


def sliding_note(r: HfReader, layers: int, is_global: Callable[[int], bool] | None) -> str | None:
    """A note naming the sliding-window layers (attention FLOPs are counted over the whole sequence).

    ``is_global(i)`` is the family's rule for layer ``i`` when the file has no ``layer_types``
    list; None means every layer slides once ``sliding_window`` is set.
    """
    types = layer_types(r, layers)  # checked even without a window: a malformed list is an error
    window = r.raw("sliding_window")
    if not window or (r.raw("use_sliding_window") is False):
        return None
    if types:
        local = sum(1 for t in types if t in ("sliding_attention", "chunked_attention"))
    else:
        local = layers if is_global is None else sum(1 for i in range(layers) if not is_global(i))
    if not local or window >= r.integer("max_position_embeddings", default=window + 1):
        return None
    return (f"sliding-window attention (window {window} on {local} of {layers} layers) not modelled: "
            "attention FLOPs counted over the whole sequence")


def qwen_is_global(r: HfReader) -> Callable[[int], bool]:
    """Qwen2/Qwen3 (dense and MoE): layer ``i`` slides only from ``max_window_layers`` on
    (transformers' ``layer_types``: sliding iff ``i >= max_window_layers``; class default 28)."""
    first = r.integer("max_window_layers", default=28, minimum=0)
    return lambda i: i < first


def moe_layer_indices(layers: int, is_moe: Callable[[int], bool]) -> tuple[int, ...] | None:
    """The MoE layer list, or None when it is every layer (the model's default rule)."""
    found = tuple(i for i in range(layers) if is_moe(i))
    return None if len(found) == layers else found


def _gemma(r: HfReader, family: str, qk_norm: bool, is_global: Callable[[int], bool]) -> dict[str, Any]:
    fields = decoder_fields(r, family, tie_default=True)
    fields.update(norms_per_layer=4, qk_norm=qk_norm, **bias_fields(r))
    notes = fields["_notes"]
    note = sliding_note(r, fields["num_layers"], is_global)
    if note:
        notes.append(note)
    if r.raw("attn_logit_softcapping") or r.raw("final_logit_softcapping"):
        notes.append("logit soft-capping (elementwise tanh on scores and logits) not costed")
    notes.append("GeGLU costed as SwiGLU (same three GEMMs)")
    return fields


def _gemma2(r: HfReader) -> dict[str, Any]:
    return _gemma(r, "gemma2", False, lambda i: i % 2 == 1)


def _gemma3_text(r: HfReader) -> dict[str, Any]:
    pattern = r.integer("sliding_window_pattern", minimum=1)
    return _gemma(r, "gemma3", True, lambda i: (i + 1) % pattern == 0)


def _phi3(r: HfReader) -> dict[str, Any]:
    fields = decoder_fields(r, "phi3")
    note = sliding_note(r, fields["num_layers"], None)
    if note:
        fields["_notes"].append(note)
    return fields


def _falcon(r: HfReader) -> dict[str, Any]:
    h = r.integer("hidden_size", "n_embed")
    heads = r.integer("num_attention_heads", "n_head", minimum=1)
    if h % heads:
        raise ConfigError(f"{r.where}: hidden_size={h} is not divisible by num_attention_heads={heads}")
    new_arch = r.flag("new_decoder_architecture", False)
    parallel = r.flag("parallel_attn", True)
    if new_arch:
        kv = r.integer("num_kv_heads", "n_head_kv", default=heads)
        norms = 1 if r.integer("num_ln_in_parallel_attn", default=2) == 1 else 2
        parallel = True
    else:
        kv = 1 if r.flag("multi_query", True) else heads
        norms = 1 if parallel else 2
    notes = []
    if parallel:
        notes.append("parallel attention and MLP block timed as sequential (same FLOPs)")
    if r.flag("alibi", False):
        notes.append("ALiBi position bias timed as RoPE (no parameters either way)")
    return {
        "family": "falcon", "hidden_size": h,
        "num_layers": r.integer("num_hidden_layers", "n_layer"),
        "num_heads": heads, "num_kv_heads": kv, "head_dim": h // heads,
        "ffn_hidden_size": r.integer("ffn_hidden_size", default=4 * h),
        "vocab_size": r.integer("vocab_size"),
        "max_seq_len": r.integer("max_position_embeddings", default=2048),
        "mlp": MlpKind.GELU, "norm": NormKind.LAYERNORM, "position": PositionKind.ROPE,
        "tie_embeddings": r.flag("tie_word_embeddings", True), "linear_bias": r.flag("bias", False),
        "norms_per_layer": norms, "_notes": notes,
    }


def _dbrx(r: HfReader) -> dict[str, Any]:
    h = r.integer("d_model", "hidden_size")
    heads = r.integer("n_heads", "num_attention_heads", minimum=1)
    if h % heads:
        raise ConfigError(f"{r.where}: d_model={h} is not divisible by n_heads={heads}")
    attn = r.sub("attn_config", {"kv_n_heads": 1})
    ffn = r.sub("ffn_config", {"ffn_hidden_size": 3584, "moe_num_experts": 4, "moe_top_k": 1})
    width = ffn.integer("ffn_hidden_size")
    return {
        "family": "dbrx", "hidden_size": h, "num_layers": r.integer("n_layers", "num_hidden_layers"),
        "num_heads": heads, "num_kv_heads": attn.integer("kv_n_heads", minimum=1), "head_dim": h // heads,
        "ffn_hidden_size": width, "vocab_size": r.integer("vocab_size"),
        "max_seq_len": r.integer("max_seq_len", "max_position_embeddings"),
        "mlp": MlpKind.SWIGLU, "norm": NormKind.LAYERNORM, "norm_bias": False,
        "tie_embeddings": r.flag("tie_word_embeddings", False),
        "num_experts": ffn.integer("moe_num_experts", minimum=1),
        "experts_per_token": ffn.integer("moe_top_k", minimum=1), "moe_ffn_hidden_size": width,
        "_notes": ["clip_qkv clamping (elementwise) not costed"] if attn.raw("clip_qkv") else [],
    }


def deepseek_moe_fields(r: HfReader, layers: int) -> dict[str, Any]:
    """DeepSeek's MoE fields (v1, V2, V3): routed and shared experts, first dense layers, frequency."""
    experts = r.integer("n_routed_experts", default=0)
    if not experts:
        return {}
    first = r.integer("first_k_dense_replace", default=0)
    freq = r.integer("moe_layer_freq", default=1, minimum=1)
    return {
        "num_experts": experts,
        "experts_per_token": r.integer("num_experts_per_tok"),
        "num_shared_experts": r.integer("n_shared_experts", default=0),
        "moe_ffn_hidden_size": r.integer("moe_intermediate_size"),
        "first_dense_layers": first,
        "moe_layers": None if freq == 1 else moe_layer_indices(layers, lambda i: i >= first and not i % freq),
    }


def _deepseek_v1(r: HfReader) -> dict[str, Any]:
    fields = decoder_fields(r, "deepseek")
    fields.update(deepseek_moe_fields(r, fields["num_layers"]))
    return fields


def _qwen_moe_layers(r: HfReader, layers: int) -> tuple[int, ...] | None:
    step = r.integer("decoder_sparse_step", default=1, minimum=1)
    dense = set(r.int_list("mlp_only_layers"))
    return moe_layer_indices(layers, lambda i: i not in dense and (i + 1) % step == 0)


def _qwen_moe(r: HfReader, family: str) -> dict[str, Any]:
    fields = decoder_fields(r, family)
    layers = fields["num_layers"]
    fields.update(
        num_experts=r.integer("num_experts", minimum=1),
        experts_per_token=r.integer("num_experts_per_tok", minimum=1),
        moe_ffn_hidden_size=r.integer("moe_intermediate_size"),
        moe_layers=_qwen_moe_layers(r, layers),
    )
    if fields["moe_layers"] == ():
        raise ConfigError(f"{r.where}: decoder_sparse_step/mlp_only_layers leave no MoE layer")
    note = sliding_note(r, layers, qwen_is_global(r)) if r.raw("use_sliding_window") else None
    if note:
        fields["_notes"].append(note)
    return fields


def _qwen2_moe(r: HfReader) -> dict[str, Any]:
    fields = _qwen_moe(r, "qwen2_moe")
    shared = r.integer("shared_expert_intermediate_size", default=0)
    fields.update(qkv_bias=r.flag("qkv_bias", True), num_shared_experts=1 if shared else 0,
                  shared_expert_ffn_size=shared or None, shared_expert_gate=bool(shared))
    return fields


def _qwen3_moe(r: HfReader) -> dict[str, Any]:
    fields = _qwen_moe(r, "qwen3_moe")
    fields.update(qk_norm=True, **bias_fields(r))
    return fields


def _olmo2(r: HfReader) -> dict[str, Any]:
    fields = decoder_fields(r, "olmo2")
    fields.update(qk_norm=True, qk_norm_scope=QkNormScope.PROJECTION, **bias_fields(r))
    fields["_notes"].append("post-norm layout (norm after attention and MLP) timed as pre-norm (same ops)")
    return fields


def _olmoe(r: HfReader) -> dict[str, Any]:
    fields = decoder_fields(r, "olmoe")
    fields.update(qk_norm=True, qk_norm_scope=QkNormScope.PROJECTION,
                  num_experts=r.integer("num_experts", minimum=1),
                  experts_per_token=r.integer("num_experts_per_tok", minimum=1),
                  moe_ffn_hidden_size=fields["ffn_hidden_size"])
    return fields


def _starcoder2(r: HfReader) -> dict[str, Any]:
    fields = decoder_fields(r, "starcoder2", mlp=MlpKind.GELU, norm=NormKind.LAYERNORM, tie_default=True)
    fields["linear_bias"] = r.flag("use_bias", True)
    note = sliding_note(r, fields["num_layers"], None)
    if note:
        fields["_notes"].append(note)
    return fields


def _cohere(r: HfReader, family: str) -> dict[str, Any]:
    fields = decoder_fields(r, family, norm=NormKind.LAYERNORM, tie_default=True)
    fields.update(norms_per_layer=1, norm_bias=False, **bias_fields(r),
                  qk_norm=r.flag("use_qk_norm", False), qk_norm_scope=QkNormScope.PROJECTION)
    fields["_notes"].append("parallel attention and MLP block timed as sequential (same FLOPs)")
    if family == "cohere2":
        pattern = r.integer("sliding_window_pattern", minimum=1)
        note = sliding_note(r, fields["num_layers"], lambda i: (i + 1) % pattern == 0)
        if note:
            fields["_notes"].append(note)
    return fields


def _nemotron(r: HfReader) -> dict[str, Any]:
    fields = decoder_fields(r, "nemotron", mlp=MlpKind.GELU, norm=NormKind.LAYERNORM)
    fields.update(bias_fields(r))
    fields["_notes"].append("relu² activation costed as GELU (same two GEMMs)")
    return fields


#: model_type -> reader, for the families this module adds.
FAMILY_PARSERS: dict[str, Callable[[HfReader], dict[str, Any]]] = {
    "gemma2": _gemma2,
    "gemma3_text": _gemma3_text,
    "phi3": _phi3,
    "falcon": _falcon,
    "RefinedWeb": _falcon,
    "RefinedWebModel": _falcon,
    "dbrx": _dbrx,
    "deepseek": _deepseek_v1,
    "qwen2_moe": _qwen2_moe,
    "qwen3_moe": _qwen3_moe,
    "olmo2": _olmo2,
    "olmoe": _olmoe,
    "starcoder2": _starcoder2,
    "cohere": lambda r: _cohere(r, "cohere"),
    "cohere2": lambda r: _cohere(r, "cohere2"),
    "nemotron": _nemotron,
}
