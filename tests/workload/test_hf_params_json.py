"""Meta's native ``params.json`` is a Llama: gated SiLU FFN of the Llama-native width, RMSNorm.

hf-configs.md §18 names ``params.json``'s keys (``dim``, ``n_layers``, ``n_heads``, ``n_kv_heads``)
and its FFN width rule ("Llama-native FFN width"): w = int(2·4h/3); w = int(ffn_dim_multiplier·w)
if set; then round up to a multiple of ``multiple_of`` (Llama-2-7B h 4096 → 11008; Llama-3-8B
multiplier 1.3, multiple_of 1024 → 14336). The layer is the Llama layout (§17: RMSNorm ×2, SwiGLU,
GQA, no bias, untied). Before, the file went to the generic reader as a GELU FFN of 4h with
LayerNorm (Llama-3-8B: 6.69 B parameters).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trnsim.workload.config import MlpKind, NormKind
from trnsim.workload.models import load_model

# Llama-3-8B's params.json (the keys Meta ships).
LLAMA3_8B = {"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256,
             "multiple_of": 1024, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05, "rope_theta": 500000.0}
# Llama-2-7B's, with the tokenizer's 32000 rows written in (Meta's file says -1: set by the tokenizer).
LLAMA2_7B = {"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, "norm_eps": 1e-05,
             "vocab_size": 32000}


def _load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data))
    return load_model(path)


@pytest.mark.parametrize(("data", "ffn"), [
    # int(2·4·4096/3) = 10922; round up to 256 → 43·256 = 11008
    (LLAMA2_7B, 11008),
    # 10922; int(1.3·10922) = int(14198.6) = 14198; round up to 1024 → 14·1024 = 14336
    (LLAMA3_8B, 14336),
    # no rounding left: int(2·4·96/3) = 256, a multiple of 64 already
    ({"dim": 96, "n_layers": 1, "n_heads": 2, "vocab_size": 10, "multiple_of": 64}, 256),
])
def test_llama_native_ffn_width(tmp_path: Path, data: dict[str, Any], ffn: int) -> None:
    model = _load(tmp_path, data)
    assert model.ffn_hidden_size == ffn
    assert model.mlp is MlpKind.SWIGLU and model.norm is NormKind.RMSNORM


def test_llama3_8b_params_json_count(tmp_path: Path) -> None:
    # per layer (§0): attention h·d·(2nq+2nkv) = 4096·128·80 = 41,943,040; gated FFN 3·h·i =
    # 3·4096·14336 = 176,160,768; 2 RMSNorms 8,192 → 218,112,000; ×32 = 6,979,584,000;
    # embedding + untied head 2·128256·4096 = 1,050,673,152; final norm 4,096.
    model = _load(tmp_path, LLAMA3_8B)
    assert (model.num_kv_heads, model.head_dim, model.tie_embeddings) == (8, 128, False)
    assert model.n_params() == 6_979_584_000 + 1_050_673_152 + 4_096  # 8.03 B


def test_llama2_7b_params_json_count(tmp_path: Path) -> None:
    # per layer: 4096·128·128 = 67,108,864 + 3·4096·11008 = 135,266,304 + 8,192 = 202,383,360;
    # ×32 = 6,476,267,520; 2·32000·4096 = 262,144,000; final norm 4,096 (6.74 B)
    assert _load(tmp_path, LLAMA2_7B).n_params() == 6_476_267_520 + 262_144_000 + 4_096


def test_tokenizer_vocab_is_one_clear_error(tmp_path: Path) -> None:
    """Meta's Llama-2 params.json says ``vocab_size: -1`` (the tokenizer sets it): one line saying so."""
    from trnsim.errors import ConfigError
    with pytest.raises(ConfigError, match=r"'vocab_size' is -1 \(params.json leaves it to the tokenizer\)"):
        _load(tmp_path, {**LLAMA2_7B, "vocab_size": -1})
