"""A generic decoder reader for ``model_type``s trnsim does not know, from the standard fields.

It resolves the common aliases (``n_embd``, ``d_model``, ``n_layer``, ``num_kv_heads``, ...),
takes a gated FFN for SiLU-style activations and a plain one for GELU/ReLU (a heuristic it
states), RMSNorm iff the file has ``rms_norm_eps``, biases only when a bias flag is set, and MoE
when an experts field is positive. Its note names the heuristics and every field it ignored.
"""

from __future__ import annotations

from typing import Any

from trnsim.errors import ConfigError
from trnsim.workload.config import MlpKind, NormKind, PositionKind
from trnsim.workload.hf_reader import HfReader

__all__ = ["generic_decoder"]

_GATED_ACTS = ("silu", "swish", "swiglu")
# Keys that set neither parameters nor FLOPs; the rest of what the reader leaves is reported.
_NO_EFFECT_PARTS = ("token_id", "eps", "dropout", "pdrop", "rope", "initializer", "dtype", "version",
                    "use_cache", "auto_map", "name_or_path", "architectures", "model_type", "_trnsim",
                    "hidden_act", "hidden_activation", "activation_function", "output_", "return_dict")


def generic_decoder(r: HfReader, model_type: str, supported: str) -> dict[str, Any]:
    """Fields of an unknown decoder, or one clear error when it lacks the standard fields."""
    # A file without the key: say so, not "model_type='None'" (the caller's str() of the missing value)
    missing = r.raw("model_type") is None
    kind = "no model_type" if missing else f"unknown model_type={model_type!r}"
    try:
        fields = _read(r, model_type)
    except ConfigError as error:
        what = "(no model_type)" if missing else f"model_type={model_type!r}"
        raise ConfigError(
            f"{r.where}: unknown architecture {what} without the standard decoder "
            f"fields ({str(error).removeprefix(r.where + ': ')}); supported: {supported}"
        ) from None
    ignored = sorted(k for k in r.data if k not in r.used and not any(p in k for p in _NO_EFFECT_PARTS))
    fields["_notes"].append(
        f"{kind}{':' if missing else ''} read as a generic decoder; ignored fields: "
        f"{', '.join(ignored) if ignored else '(none)'}"
    )
    return fields


def _read(r: HfReader, model_type: str) -> dict[str, Any]:
    h = r.integer("hidden_size", "n_embd", "n_embed", "d_model", "dim")
    layers = r.integer("num_hidden_layers", "n_layer", "n_layers", "num_layers")
    heads = r.integer("num_attention_heads", "n_head", "n_heads", "num_heads", minimum=1)
    if h % heads and not r.has("head_dim"):
        raise ConfigError(f"{r.where}: hidden_size={h} is not divisible by num_attention_heads={heads}")
    if r.flag("multi_query", False):
        kv = 1
    else:
        kv = r.integer("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num",
                       "n_kv_heads", default=heads)
    act = str(r.raw("hidden_act") or r.raw("hidden_activation") or r.raw("activation_function") or "")
    rms = any("rms_norm" in k for k in r.data)
    gated = act.lower() in _GATED_ACTS if act else rms
    why_ffn = f"hidden_act={act}" if act else ("no activation named; RMSNorm model" if rms else
                                               "no activation named")
    notes = [f"generic reader heuristics: {'gated (SwiGLU)' if gated else 'plain (GELU)'} FFN from "
             f"{why_ffn}; {'RMSNorm' if rms else 'LayerNorm'} from "
             f"{'rms_norm_eps' if rms else 'no rms_norm_eps'}"]
    ffn = r.integer("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim", "d_ff", "hidden_dim",
                    default=0)
    if not ffn:
        ffn = 4 * h
        notes.append("no FFN width field: assumed 4 x hidden_size")
    # ``bias``/``use_bias`` cover every linear; ``attention_bias`` and ``mlp_bias`` one block each (§18)
    all_bias = any(r.flag(k, False) for k in ("bias", "use_bias"))
    attention_bias = all_bias or r.flag("attention_bias", False)
    mlp_bias = all_bias or r.flag("mlp_bias", False)
    fields: dict[str, Any] = {
        "family": model_type, "hidden_size": h, "num_layers": layers, "num_heads": heads,
        "num_kv_heads": kv, "head_dim": r.integer("head_dim", default=h // heads),
        "ffn_hidden_size": ffn, "vocab_size": r.integer("vocab_size", "padded_vocab_size"),
        "max_seq_len": r.integer("max_position_embeddings", "n_positions", "max_seq_len", "seq_length",
                                 "n_ctx", default=4096),
        "mlp": MlpKind.SWIGLU if gated else MlpKind.GELU,
        "norm": NormKind.RMSNORM if rms else NormKind.LAYERNORM,
        "position": PositionKind.ROPE,
        "tie_embeddings": r.flag("tie_word_embeddings", False),
        "linear_bias": attention_bias, "mlp_bias": mlp_bias,
        "qkv_bias": not attention_bias and r.flag("qkv_bias", False),
        "_notes": notes,
    }
    experts = r.integer("num_local_experts", "n_routed_experts", "moe_num_experts", "num_experts", default=0)
    if experts:
        fields.update(
            num_experts=experts,
            experts_per_token=r.integer("num_experts_per_tok", "moe_top_k", "top_k", "num_selected_experts"),
            moe_ffn_hidden_size=r.integer("moe_intermediate_size", default=ffn),
            num_shared_experts=r.integer("n_shared_experts", default=0),
            first_dense_layers=r.integer("first_k_dense_replace", default=0),
        )
    return fields
