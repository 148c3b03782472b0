"""Gemma 1 (``gemma``) and Llama 4 (``llama4``/``llama4_text``) configs, counted as hf-configs.md says.

Both went to the generic reader before: Gemma 1 as a plain-GELU, untied model (gemma-7b 15 % short)
and Llama 4 without its shared expert, dense-layer width or MoE interleave (Maverick 94 % over).
Expected counts are the spec's per-layer formulas evaluated here; the spec's calc totals are
checked within their printed rounding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trnsim.workload.models import load_model


def _load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return load_model(path)


@pytest.mark.parametrize(("h", "i", "layers", "nq", "nkv", "calc_b"), [
    (2048, 16384, 18, 8, 1, "2.51"),   # gemma-2b
    (3072, 24576, 28, 16, 16, "8.54"),  # gemma-7b
])
def test_gemma1_is_geglu_and_tied(tmp_path: Path, h: int, i: int, layers: int, nq: int, nkv: int,
                                  calc_b: str) -> None:
    vocab, d = 256000, 256  # head_dim from the family default: the file leaves it out
    model = _load(tmp_path, {"model_type": "gemma", "hidden_size": h, "intermediate_size": i,
                             "num_hidden_layers": layers, "num_attention_heads": nq,
                             "num_key_value_heads": nkv, "vocab_size": vocab, "hidden_act": "gelu",
                             "rms_norm_eps": 1e-6})
    layer = h * d * (2 * nq + 2 * nkv) + 3 * h * i + 2 * h  # gated FFN, 2 RMSNorms
    assert model.n_params() == layers * layer + h + vocab * h  # tied: one V·h
    assert abs(model.n_params() / 1e9 - float(calc_b)) <= 0.005
    assert model.tie_embeddings and model.head_dim == d


SCOUT_TEXT = {"hidden_size": 5120, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
              "num_hidden_layers": 48, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
              "num_local_experts": 16, "num_experts_per_tok": 1, "interleave_moe_layer_step": 1,
              "vocab_size": 202048, "rms_norm_eps": 1e-5}


def _llama4_expected(experts: int, step: int, active: bool) -> int:
    h, i, i_mlp, layers, nq, nkv, d, vocab, k = 5120, 8192, 16384, 48, 40, 8, 128, 202048, 1
    attention = h * d * (2 * nq + 2 * nkv)
    moe_layer = attention + h * experts + (k if active else experts) * 3 * h * i + 3 * h * i + 2 * h
    dense_layer = attention + 3 * h * i_mlp + 2 * h
    moe_count = len(range(step - 1, layers, step))
    return moe_count * moe_layer + (layers - moe_count) * dense_layer + 2 * vocab * h + h


@pytest.mark.parametrize(("experts", "step", "calc_total", "calc_active"), [
    (16, 1, "107.8", "17.2"),    # Llama-4-Scout-17B-16E: every layer MoE
    (128, 2, "400.7", "17.2"),   # Llama-4-Maverick-17B-128E: MoE on odd layers, dense between
])
def test_llama4_shared_expert_and_interleaved_dense_layers(tmp_path: Path, experts: int, step: int,
                                                          calc_total: str, calc_active: str) -> None:
    text = {**SCOUT_TEXT, "model_type": "llama4_text", "num_local_experts": experts,
            "interleave_moe_layer_step": step}
    model = _load(tmp_path, {"model_type": "llama4", "text_config": text,
                             "vision_config": {"model_type": "llama4_vision_model"}})
    assert model.n_params() == _llama4_expected(experts, step, active=False)
    assert model.n_active_params() == _llama4_expected(experts, step, active=True)
    assert abs(model.n_params() / 1e9 - float(calc_total)) <= 0.05
    assert abs(model.n_active_params() / 1e9 - float(calc_active)) <= 0.05
    assert any("vision_config" in n for n in model.notes)
    assert any("chunked attention" in n for n in model.notes)


def test_llama4_explicit_moe_layers_and_text_config_without_type(tmp_path: Path) -> None:
    text = {**SCOUT_TEXT, "moe_layers": [1, 3]}  # no model_type inside: taken from the wrapper's
    model = _load(tmp_path, {"model_type": "llama4", "text_config": text})
    assert [i for i in range(model.num_layers) if model.is_moe_layer(i)] == [1, 3]


def test_llama4_moe_layers_beyond_the_model_are_refused(tmp_path: Path) -> None:
    """An index past the last layer was dropped without a word (the model had one MoE layer fewer)."""
    from trnsim.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'moe_layers' lists \[100\], outside the 48 layers"):
        _load(tmp_path, {**SCOUT_TEXT, "model_type": "llama4_text", "moe_layers": [1, 100]})


@pytest.mark.parametrize(("extra", "notes"), [({"notes": "one note"}, ("one note",)),
                                              ({"notes": ["a", "b"]}, ("a", "b"))])
def test_trnsim_notes_as_text_or_list(tmp_path: Path, extra: dict[str, Any], notes: tuple[str, ...]) -> None:
    """A string was taken one note per character."""
    model = _load(tmp_path, {**SCOUT_TEXT, "model_type": "llama4_text", "_trnsim": extra})
    assert model.notes[:len(notes)] == notes and model.notes[len(notes)] != notes[0][0]


@pytest.mark.parametrize("extra", [{"overrides": [1]}, {"notes": 3}])
def test_trnsim_object_of_the_wrong_shape_is_one_line(tmp_path: Path, extra: dict[str, Any]) -> None:
    """``overrides`` as a list raised AttributeError."""
    from trnsim.errors import ConfigError

    with pytest.raises(ConfigError, match="'_trnsim' notes must be a list of strings and overrides an obj"):
        _load(tmp_path, {**SCOUT_TEXT, "model_type": "llama4_text", "_trnsim": extra})


def test_a_config_that_is_not_text_is_one_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 ended in a UnicodeDecodeError traceback."""
    from trnsim.errors import ConfigError

    path = tmp_path / "config.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_model(path)


def test_gemma3_positions_default_from_the_spec(tmp_path: Path) -> None:
    """hf-configs.md §3 states Gemma3TextConfig's max_position_embeddings default, 131072: a sparse
    ``text_config`` without it (§1 rule 2) takes the family's default, not the generic 4096. (The only
    family whose default the spec states; for the others it is silent and trnsim's defaults stand.)"""
    data = {"model_type": "gemma3", "text_config": {"hidden_size": 2560, "intermediate_size": 10240,
                                                    "num_hidden_layers": 34}}
    assert _load(tmp_path, data).max_seq_len == 131072
