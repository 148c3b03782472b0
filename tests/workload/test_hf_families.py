"""Hugging Face families beyond Llama: parameter counts against the figures of the HF-config spec.

Each config is the spec's example (or table row) for its family; the expected totals are the
spec's re-derived ("calc") figures and the published ones, compared within half a unit of their
last printed digit (the tolerance their rounding allows), or exactly where the paper prints every
digit (Gemma 2's non-embedding counts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trnsim.errors import ConfigError
from trnsim.workload.models import load_model


def _within_rounding(value: float, printed: str, units: float = 0.5) -> None:
    """``value`` rounds to ``printed`` (a figure in the spec's unit): |diff| <= half its last digit.

    ``units=1`` allows a whole unit of the last digit: published sizes are rounded or truncated
    (Qwen3-30B-A3B's "3.3 B active" is 3.35 B by the config).
    """
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    assert abs(value - float(printed)) <= units * 10.0 ** -decimals + 1e-12, (value, printed)


def _load(tmp_path: Path, data: dict[str, Any], name: str = "config.json") -> Any:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return load_model(path)


GEMMA2 = {  # google/gemma-2-9b config.json (spec §2)
    "model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336, "num_hidden_layers": 42,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 256000,
    "sliding_window": 4096, "query_pre_attn_scalar": 256, "attn_logit_softcapping": 50.0,
    "final_logit_softcapping": 30.0, "max_position_embeddings": 8192,
    "hidden_activation": "gelu_pytorch_tanh", "rms_norm_eps": 1e-6, "attention_bias": False,
}


@pytest.mark.parametrize(("dims", "non_embedding"), [
    ({"hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26, "num_attention_heads": 8,
      "num_key_value_heads": 4, "head_dim": 256}, 2_024_517_888),
    ({}, 8_324_201_984),
    ({"hidden_size": 4608, "intermediate_size": 36864, "num_hidden_layers": 46, "num_attention_heads": 32,
      "num_key_value_heads": 16, "head_dim": 128, "query_pre_attn_scalar": 144}, 26_047_480_320),
])
def test_gemma2_non_embedding_counts_equal_the_paper(tmp_path: Path, dims: dict, non_embedding: int) -> None:
    model = _load(tmp_path, {**GEMMA2, **dims})
    assert model.n_nonembedding_params() == non_embedding  # Gemma 2 paper, table 2: every digit
    assert model.tie_embeddings and model.norms_per_layer == 4
    assert model.n_params() == non_embedding + 256000 * model.hidden_size
    assert any("sliding-window" in n and f"on {model.num_layers // 2} of" in n for n in model.notes)
    assert any("soft-capping" in n for n in model.notes)


@pytest.mark.parametrize("layer_types", ["sliding_attention", {"0": "sliding_attention"}, [1, 2],
                                         ["sliding_attention"] * 41])
def test_gemma2_malformed_layer_types_is_refused(tmp_path: Path, layer_types: Any) -> None:
    """A layer_types that is not one string per layer was ignored (the default pattern used silently)."""
    with pytest.raises(ConfigError, match="'layer_types'") as error:
        _load(tmp_path, {**GEMMA2, "layer_types": layer_types})
    assert "\n" not in str(error.value) and "per layer" in str(error.value)


def test_gemma2_layer_types_list_sets_the_sliding_layers(tmp_path: Path) -> None:
    """A valid list is read, not the default even/odd rule: 3 sliding layers of 42 here."""
    types = ["sliding_attention"] * 3 + ["full_attention"] * 39
    model = _load(tmp_path, {**GEMMA2, "layer_types": types})
    assert any("on 3 of 42 layers" in n for n in model.notes)


@pytest.mark.parametrize(("data", "non_embedding_m"), [
    ({"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26,
      "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 262144,
      "sliding_window": 512, "max_position_embeddings": 32768}, "697.9"),
    # gemma-3-4b: the sparse text_config leaves heads, head_dim and vocab to the class defaults.
    ({"model_type": "gemma3", "text_config": {"hidden_size": 2560, "intermediate_size": 10240,
                                              "num_hidden_layers": 34, "sliding_window": 1024},
      "vision_config": {"model_type": "siglip_vision_model"}}, "3209.0"),
    ({"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", "hidden_size": 3840,
                                              "intermediate_size": 15360, "num_hidden_layers": 48,
                                              "num_attention_heads": 16, "num_key_value_heads": 8}},
     "10759.2"),
    ({"model_type": "gemma3", "text_config": {"hidden_size": 5376, "intermediate_size": 21504,
                                              "num_hidden_layers": 62, "num_attention_heads": 32,
                                              "num_key_value_heads": 16, "head_dim": 128,
                                              "query_pre_attn_scalar": 168, "sliding_window": 1024,
                                              "rope_scaling": {"rope_type": "linear", "factor": 8.0}},
      "vision_config": {"model_type": "siglip_vision_model"}}, "25599.7"),
])
def test_gemma3_text_decoder_and_sparse_text_config(tmp_path: Path, data: dict, non_embedding_m: str) -> None:
    model = _load(tmp_path, data)
    _within_rounding(model.n_nonembedding_params() / 1e6, non_embedding_m)
    assert model.qk_norm and model.family == "gemma3"
    # Every 6th layer is global: floor(L / 6) of them, the rest slide.
    local = model.num_layers - model.num_layers // 6
    assert any(f"on {local} of {model.num_layers} layers" in n for n in model.notes)
    assert ("vision_config" in data) == any("vision_config (siglip_vision_model) not modelled" in n
                                            for n in model.notes)


# (name, config, spec calc total B, calc active B or None, published total B, published active B)
CASES: list[tuple[str, dict[str, Any], str, str | None, str, str | None]] = [
    ("Phi-3.5-mini", {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192,
                      "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
                      "vocab_size": 32064, "max_position_embeddings": 131072,
                      "original_max_position_embeddings": 4096, "sliding_window": 262144,
                      "tie_word_embeddings": False}, "3.82", None, "3.8", None),
    ("Phi-3-medium", {"model_type": "phi3", "hidden_size": 5120, "intermediate_size": 17920,
                      "num_hidden_layers": 40, "num_attention_heads": 40, "num_key_value_heads": 10},
     "13.96", None, "14", None),
    ("falcon-7b", {"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32,
                   "num_attention_heads": 71, "multi_query": True, "parallel_attn": True},
     "6.92", None, "7", None),
    ("falcon-7b (RefinedWebModel names)", {"model_type": "RefinedWebModel", "n_embed": 4544, "n_layer": 32,
                                           "n_head": 71, "multi_query": True, "parallel_attn": True},
     "6.92", None, "7", None),
    ("falcon-40b", {"model_type": "falcon", "hidden_size": 8192, "num_hidden_layers": 60,
                    "num_attention_heads": 128, "num_kv_heads": 8, "new_decoder_architecture": True,
                    "parallel_attn": True, "bias": False, "alibi": False, "vocab_size": 65024,
                    "layer_norm_epsilon": 1e-5}, "41.3", None, "40", None),
    ("falcon-180B", {"model_type": "falcon", "hidden_size": 14848, "num_hidden_layers": 80,
                     "num_attention_heads": 232, "num_kv_heads": 8, "new_decoder_architecture": True},
     "178.6", None, "180", None),
    ("dbrx-base", {"model_type": "dbrx", "d_model": 6144, "n_heads": 48, "n_layers": 40, "vocab_size": 100352,
                   "max_seq_len": 32768,
                   "attn_config": {"kv_n_heads": 8, "clip_qkv": 8, "rope_theta": 500000},
                   "ffn_config": {"ffn_hidden_size": 10752, "moe_num_experts": 16, "moe_top_k": 4}},
     "131.6", "36.5", "132", "36"),
    ("deepseek-moe-16b", {"model_type": "deepseek", "hidden_size": 2048, "num_hidden_layers": 28,
                          "num_attention_heads": 16, "num_key_value_heads": 16, "intermediate_size": 10944,
                          "moe_intermediate_size": 1408, "n_routed_experts": 64, "num_experts_per_tok": 6,
                          "n_shared_experts": 2, "first_k_dense_replace": 1, "moe_layer_freq": 1,
                          "vocab_size": 102400, "tie_word_embeddings": False},
     "16.38", "2.83", "16.4", "2.8"),
    ("Qwen3-30B-A3B", {"model_type": "qwen3_moe", "hidden_size": 2048, "num_hidden_layers": 48,
                       "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
                       "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8,
                       "intermediate_size": 6144, "vocab_size": 151936, "tie_word_embeddings": False,
                       "decoder_sparse_step": 1, "mlp_only_layers": [], "norm_topk_prob": True},
     "30.53", "3.35", "30.5", "3.3"),
    ("Qwen3-235B-A22B", {"model_type": "qwen3_moe", "hidden_size": 4096, "num_hidden_layers": 94,
                         "num_attention_heads": 64, "num_key_value_heads": 4, "head_dim": 128,
                         "moe_intermediate_size": 1536}, "235.1", "22.2", "235", "22"),
    ("Qwen1.5-MoE-A2.7B", {"model_type": "qwen2_moe", "hidden_size": 2048, "num_hidden_layers": 24,
                           "num_attention_heads": 16, "num_key_value_heads": 16,
                           "moe_intermediate_size": 1408,
                           "shared_expert_intermediate_size": 5632, "num_experts": 60,
                           "num_experts_per_tok": 4}, "14.32", "2.69", "14.3", "2.7"),
    ("Qwen2-57B-A14B", {"model_type": "qwen2_moe", "hidden_size": 3584, "num_hidden_layers": 28,
                        "num_attention_heads": 28, "num_key_value_heads": 4, "moe_intermediate_size": 2560,
                        "shared_expert_intermediate_size": 20480, "num_experts": 64,
                        "num_experts_per_tok": 8},
     "57.4", "14.2", "57", "14"),
    ("OLMo-2-1124-7B", {"model_type": "olmo2", "hidden_size": 4096, "intermediate_size": 11008,
                        "num_hidden_layers": 32, "num_attention_heads": 32, "vocab_size": 100352},
     "7.30", None, "7", None),
    ("OLMo-2-1124-13B", {"model_type": "olmo2", "hidden_size": 5120, "intermediate_size": 13824,
                         "num_hidden_layers": 40, "num_attention_heads": 40, "vocab_size": 100352},
     "13.72", None, "13", None),
    ("OLMoE-1B-7B", {"model_type": "olmoe", "hidden_size": 2048, "intermediate_size": 1024,
                     "num_hidden_layers": 16, "num_attention_heads": 16, "num_key_value_heads": 16,
                     "num_experts": 64, "num_experts_per_tok": 8, "vocab_size": 50304,
                     "tie_word_embeddings": False}, "6.92", "1.28", "6.9", "1.3"),
    ("starcoder2-3b", {"model_type": "starcoder2", "hidden_size": 3072, "intermediate_size": 12288,
                       "num_hidden_layers": 30, "num_attention_heads": 24, "num_key_value_heads": 2,
                       "sliding_window": 4096, "max_position_embeddings": 16384}, "3.03", None, "3", None),
    ("starcoder2-7b", {"model_type": "starcoder2", "hidden_size": 4608, "intermediate_size": 18432,
                       "num_hidden_layers": 32, "num_attention_heads": 36, "num_key_value_heads": 4},
     "7.17", None, "7", None),
    ("starcoder2-15b", {"model_type": "starcoder2", "hidden_size": 6144, "intermediate_size": 24576,
                        "num_hidden_layers": 40, "num_attention_heads": 48, "num_key_value_heads": 4,
                        "tie_word_embeddings": False}, "15.96", None, "16", None),
    ("c4ai-command-r-v01", {"model_type": "cohere", "hidden_size": 8192, "intermediate_size": 22528,
                            "num_hidden_layers": 40, "num_attention_heads": 64, "logit_scale": 0.0625},
     "34.98", None, "35", None),
    ("c4ai-command-r-plus", {"model_type": "cohere", "hidden_size": 12288, "intermediate_size": 33792,
                             "num_hidden_layers": 64, "num_attention_heads": 96, "num_key_value_heads": 8,
                             "use_qk_norm": True}, "103.8", None, "104", None),
    ("c4ai-command-r7b", {"model_type": "cohere2", "hidden_size": 4096, "intermediate_size": 14336,
                          "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8},
     "8.03", None, "8", None),
    ("Minitron-8B-Base", {"model_type": "nemotron", "hidden_size": 4096, "intermediate_size": 16384,
                          "num_hidden_layers": 32, "num_attention_heads": 48, "num_key_value_heads": 8,
                          "head_dim": 128, "partial_rotary_factor": 0.5}, "8.27", None, "8.27", None),
    ("Nemotron-4-Minitron-4B", {"model_type": "nemotron", "hidden_size": 3072, "intermediate_size": 9216,
                                "num_hidden_layers": 32, "num_attention_heads": 24, "num_key_value_heads": 8,
                                "head_dim": 128}, "4.19", None, "4.19", None),
]


@pytest.mark.parametrize(("name", "data", "calc", "calc_active", "published", "published_active"), CASES,
                         ids=[c[0] for c in CASES])
def test_family_parameter_counts(tmp_path: Path, name: str, data: dict, calc: str, calc_active: str | None,
                                 published: str, published_active: str | None) -> None:
    model = _load(tmp_path, data)
    total, active = model.n_params() / 1e9, model.n_active_params() / 1e9
    print(f"{name}: {total:.3f} B total, {active:.3f} B active")
    _within_rounding(total, calc)
    if "." in published:  # "7 B"-style marketing sizes say nothing at 0.1 %
        _within_rounding(total, published, units=1)
    if calc_active is None:
        assert model.n_active_params() == model.n_params()
    else:
        _within_rounding(active, calc_active)
        assert published_active is not None
        if "." in published_active:
            _within_rounding(active, published_active, units=1)


def test_family_layouts_that_decide_the_counts(tmp_path: Path) -> None:
    falcon7 = _load(tmp_path, CASES[2][1])
    assert (falcon7.num_kv_heads, falcon7.norms_per_layer, falcon7.head_dim) == (1, 1, 64)
    falcon40 = _load(tmp_path, CASES[4][1])
    assert (falcon40.num_kv_heads, falcon40.norms_per_layer) == (8, 2)
    dbrx = _load(tmp_path, CASES[6][1])
    assert dbrx.norm_params() == dbrx.hidden_size and not dbrx.tie_embeddings  # LayerNorm without bias
    assert any("clip_qkv" in n for n in dbrx.notes)
    dsmoe = _load(tmp_path, CASES[7][1])
    assert [dsmoe.is_moe_layer(i) for i in (0, 1, 27)] == [False, True, True]
    qwen2moe = _load(tmp_path, CASES[10][1])
    assert qwen2moe.qkv_bias and qwen2moe.shared_ffn_hidden_size == 5632 and qwen2moe.shared_expert_gate
    cohere_plus = _load(tmp_path, CASES[19][1])
    # Per-head LayerNorm weights over q and k: (nq + nkv)·d per layer on top of Command-R's layout.
    plain = _load(tmp_path, {**CASES[19][1], "use_qk_norm": False}, "plain.json")
    assert cohere_plus.n_params() - plain.n_params() == 64 * (96 + 8) * 128


def test_moe_layer_selectors(tmp_path: Path) -> None:
    base = {"model_type": "qwen3_moe", "hidden_size": 256, "num_hidden_layers": 8, "num_attention_heads": 4,
            "num_key_value_heads": 2, "intermediate_size": 512, "moe_intermediate_size": 128,
            "num_experts": 8,
            "num_experts_per_tok": 2, "vocab_size": 1000}
    model = _load(tmp_path, {**base, "decoder_sparse_step": 2, "mlp_only_layers": [3]})
    assert [i for i in range(8) if model.is_moe_layer(i)] == [1, 5, 7]
    ds = _load(tmp_path, {**CASES[7][1], "first_k_dense_replace": 2, "moe_layer_freq": 3}, "ds.json")
    assert [i for i in range(28) if ds.is_moe_layer(i)] == list(range(3, 28, 3))
    with pytest.raises(ConfigError, match="leave no MoE layer"):
        _load(tmp_path, {**base, "mlp_only_layers": list(range(8))}, "none.json")


def test_deepseek_v3_says_it_drops_the_mtp_module(tmp_path: Path) -> None:
    presets = Path(load_model.__code__.co_filename).parent / "presets"
    preset = json.loads((presets / "deepseek-v3.json").read_text())
    preset.pop("_trnsim")
    model = _load(tmp_path, {**preset, "num_nextn_predict_layers": 1})
    note = next(n for n in model.notes if "multi-token-prediction" in n)
    # Spec §9: the MTP module is about 11.6 B parameters (one MoE layer, eh_proj 2h->h, norms).
    size = float(note.split("about ")[1].split(" B")[0])
    _within_rounding(size, "11.6")
    _within_rounding(model.n_params() / 1e9, "671.0")


def test_generic_fallback_reads_standard_fields_and_names_what_it_ignored(tmp_path: Path) -> None:
    granite = {"model_type": "granite", "hidden_size": 4096, "intermediate_size": 14336,
               "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
               "vocab_size": 128256, "rms_norm_eps": 1e-5,
               "hidden_act": "silu", "residual_multiplier": 0.22, "logits_scaling": 16.0, "bos_token_id": 1,
               "max_position_embeddings": 8192}
    model = _load(tmp_path, granite)
    as_llama = _load(tmp_path, {**granite, "model_type": "llama"}, "llama.json")
    assert model.n_params() == as_llama.n_params()
    note = next(n for n in model.notes if "generic decoder" in n)
    assert "ignored fields: logits_scaling, residual_multiplier" in note and "bos_token_id" not in note
    gpt_style = _load(tmp_path, {"model_type": "gptish", "n_embd": 64, "n_layer": 2, "n_head": 4,
                                 "vocab_size": 100, "activation_function": "gelu_new"}, "g.json")
    assert gpt_style.mlp.value == "gelu" and gpt_style.norm.value == "layernorm"
    assert gpt_style.ffn_hidden_size == 256 and any("4 x hidden_size" in n for n in gpt_style.notes)


def test_unknown_type_without_standard_fields_is_one_clear_line(tmp_path: Path) -> None:
    expected = (r"unknown architecture model_type='mamba' without the standard decoder fields "
                r"\(missing 'num_hidden_layers'\); supported: ")
    with pytest.raises(ConfigError, match=expected) as info:
        _load(tmp_path, {"model_type": "mamba", "hidden_size": 8})
    assert "\n" not in str(info.value)
