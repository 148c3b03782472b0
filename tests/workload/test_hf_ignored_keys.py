"""Keys of a config.json that change what a model would cost, and that trnsim does not model, are
named in the model's notes (printed by estimate, plan, compare and serve), never dropped silently.

Mixtral's ``sliding_window`` was dropped without a note (Mistral's had one); Qwen's note counted
every layer as sliding where transformers slides layer ``i`` only from ``max_window_layers`` on
(``i >= max_window_layers``, Qwen2Config's ``layer_types``); a ``quantization_config`` (an FP8 or
4-bit checkpoint) was dropped and the weights costed in BF16 without a word.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trnsim.errors import ConfigError
from trnsim.workload.models import load_model

MIXTRAL = {"model_type": "mixtral", "hidden_size": 1024, "intermediate_size": 3584, "num_hidden_layers": 4,
           "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 32000,
           "max_position_embeddings": 32768, "num_local_experts": 8, "num_experts_per_tok": 2}
QWEN2 = {"model_type": "qwen2", "hidden_size": 1024, "intermediate_size": 3584, "num_hidden_layers": 28,
         "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 32000,
         "max_position_embeddings": 32768, "sliding_window": 4096, "use_sliding_window": True}
QWEN2_MOE = {**QWEN2, "model_type": "qwen2_moe", "num_experts": 8, "num_experts_per_tok": 2,
             "moe_intermediate_size": 512, "shared_expert_intermediate_size": 1024}


def _notes(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return list(load_model(str(path)).notes)


def test_mixtral_sliding_window_is_noted(tmp_path: Path) -> None:
    assert not any("sliding" in n for n in _notes(tmp_path, MIXTRAL))
    (note,) = [n for n in _notes(tmp_path, {**MIXTRAL, "sliding_window": 4096}) if "sliding" in n]
    assert note.startswith("sliding-window attention (window 4096 on 4 of 4 layers)")


@pytest.mark.parametrize("data", [QWEN2, QWEN2_MOE], ids=["qwen2", "qwen2_moe"])
def test_qwen_slides_from_max_window_layers_on(tmp_path: Path, data: dict[str, Any]) -> None:
    (note,) = [n for n in _notes(tmp_path, {**data, "max_window_layers": 21}) if "sliding" in n]
    assert "window 4096 on 7 of 28 layers" in note  # layers 21..27
    # the class default, 28, leaves no layer of 28 sliding: nothing left out, no note
    assert not any("sliding" in n for n in _notes(tmp_path, data))
    assert not any("sliding" in n for n in _notes(tmp_path, {**data, "max_window_layers": 21,
                                                             "use_sliding_window": False}))


def test_quantization_config_is_noted(tmp_path: Path) -> None:
    notes = _notes(tmp_path, {**MIXTRAL, "quantization_config": {"quant_method": "fp8",
                                                                  "activation_scheme": "dynamic"}})
    (note,) = [n for n in notes if "quantization_config" in n]
    assert "fp8" in note and "--precision" in note
    assert not any("quantization" in n for n in _notes(tmp_path, MIXTRAL))


def test_gpt_neox_parallel_block_is_noted_as_falcon_and_cohere_are(tmp_path: Path) -> None:
    neox = {"model_type": "gpt_neox", "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 4,
            "num_attention_heads": 8, "vocab_size": 50304, "max_position_embeddings": 2048}
    parallel = "parallel attention and MLP block timed as sequential (same FLOPs)"
    assert parallel in _notes(tmp_path, neox)  # GPTNeoXConfig's default: use_parallel_residual true
    assert parallel not in _notes(tmp_path, {**neox, "use_parallel_residual": False})


def test_a_file_without_model_type_says_so(tmp_path: Path) -> None:
    # It read "unknown model_type='None'", a value the file does not have.
    data = {k: v for k, v in QWEN2.items() if k not in ("model_type", "sliding_window", "use_sliding_window")}
    notes = _notes(tmp_path, data)
    assert any("no model_type: read as a generic decoder" in n for n in notes)
    assert not any("'None'" in n for n in notes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_size": 1024}))
    expected = r"unknown architecture \(no model_type\) without the standard decoder fields"
    with pytest.raises(ConfigError, match=expected) as error:
        load_model(str(path))
    assert "'None'" not in str(error.value)


DEEPSEEK_V2_LITE = {"model_type": "deepseek_v2", "hidden_size": 2048, "num_hidden_layers": 27,
                    "num_attention_heads": 16, "q_lora_rank": None, "kv_lora_rank": 512,
                    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
                    "n_routed_experts": 64, "n_shared_experts": 2,
                    "num_experts_per_tok": 6, "moe_intermediate_size": 1408, "first_k_dense_replace": 1,
                    "intermediate_size": 10944, "vocab_size": 102400, "max_position_embeddings": 163840}


def test_a_users_moe_and_mla_configs_carry_the_presets_assumptions(tmp_path: Path) -> None:
    # The presets say routing is taken as balanced and MLA is timed as standard attention; the same
    # model from the user's own config.json said nothing of either.
    balanced = "routing assumed perfectly balanced across experts (no capacity factor, no token dropping)"
    assert balanced in _notes(tmp_path, MIXTRAL)
    notes = _notes(tmp_path, DEEPSEEK_V2_LITE)
    assert balanced in notes
    assert "MLA attention timed as standard attention with qk head dim 192 and v head dim 128 after " \
           "decompression" in notes
    assert not any("routing" in n or "MLA" in n for n in _notes(tmp_path, QWEN2))  # dense, standard
    # a preset keeps its own labelled notes, once each
    assert sum("routing" in n for n in load_model("mixtral-8x7b").notes) == 1
    assert sum("MLA" in n for n in load_model("deepseek-v3").notes) == 1


def test_a_llama_lineage_attention_dropout_is_noted(tmp_path: Path) -> None:
    # Llama-lineage readers do not model dropout: a non-zero attention_dropout was dropped silently.
    (note,) = [n for n in _notes(tmp_path, {**QWEN2, "attention_dropout": 0.1}) if "dropout" in n]
    assert "attention_dropout=0.1" in note and "not modelled" in note
    assert not any("dropout" in n for n in _notes(tmp_path, {**QWEN2, "attention_dropout": 0.0}))
