"""``attention_bias`` and ``mlp_bias`` are two flags (hf-configs.md §18, field list; §0 building blocks).

A Llama-lineage ``config.json`` names the q/k/v/o projections' biases ``attention_bias`` and the
MLP's ``mlp_bias``; each sets only its own block. Expected counts, by hand from §0 for a small
Llama config (h 64, L 2, nq 4, nkv 2, d 16, i 128, V 100, untied, RMSNorm ×2 per layer):

- attention weights h·d·(2nq+2nkv) = 64·16·12 = 12,288; its biases q nq·d + k, v 2·nkv·d + o h
  = 64 + 64 + 64 = 192;
- gated MLP 3·h·i = 3·64·128 = 24,576; its biases gate i + up i + down h = 128 + 128 + 64 = 320;
- norms 2·h = 128 per layer; embedding and head 2·V·h = 12,800; final norm h = 64.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trnsim.workload.models import load_model

_BASE: dict[str, Any] = {
    "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100, "rms_norm_eps": 1e-5,
    "max_position_embeddings": 256, "tie_word_embeddings": False,
}
_NO_BIAS_LAYER = 12_288 + 24_576 + 128
_OUTSIDE_LAYERS = 12_800 + 64


@pytest.mark.parametrize(("attention_bias", "mlp_bias", "per_layer_bias"), [
    (False, False, 0),
    (True, False, 192),   # q/k/v/o only: the MLP keeps no bias
    (False, True, 320),   # gate/up/down only
    (True, True, 192 + 320),
])
@pytest.mark.parametrize("model_type", ["llama", "nemotron"])
def test_bias_flags_set_their_own_block(tmp_path: Path, model_type: str, attention_bias: bool,
                                        mlp_bias: bool, per_layer_bias: int) -> None:
    data = {**_BASE, "attention_bias": attention_bias, "mlp_bias": mlp_bias}
    if model_type == "nemotron":  # §15: plain FFN 2·h·i (biases up i + down h), LayerNorm1P 2h each
        data.update(model_type="nemotron", norm_eps=1e-5)
        layer = 12_288 + 2 * 64 * 128 + 4 * 64
        bias = (192 if attention_bias else 0) + ((128 + 64) if mlp_bias else 0)
        outside = 12_800 + 2 * 64
    else:
        layer, bias, outside = _NO_BIAS_LAYER, per_layer_bias, _OUTSIDE_LAYERS
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    model = load_model(path)
    assert model.n_params() == 2 * (layer + bias) + outside


def test_generic_reader_keeps_the_flags_apart(tmp_path: Path) -> None:
    """An unknown model_type with ``attention_bias`` only (§18's generic fallback): the MLP has none."""
    data = {**_BASE, "model_type": "some_llama_clone", "hidden_act": "silu", "attention_bias": True}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    assert load_model(path).n_params() == 2 * (_NO_BIAS_LAYER + 192) + _OUTSIDE_LAYERS

