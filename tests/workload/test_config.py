"""Model configs: presets against published sizes, HF config.json reading, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trnsim.errors import ConfigError, UnknownNameError
from trnsim.workload.graph import build_step
from trnsim.workload.models import list_models, load_model
from trnsim.workload.shard import Shard

# Published parameter counts (billions): model cards and papers.
PUBLISHED = {
    "llama3-8b": (8.03, None),
    "llama3-70b": (70.6, None),
    "llama3-405b": (405.9, None),  # Llama 3 paper: 405B
    "gpt3-175b": (175.0, None),
    "mixtral-8x7b": (46.7, 12.9),  # Mistral: 46.7B total, 12.9B active
    "deepseek-v3": (671.0, 37.0),  # DeepSeek-V3 report: 671B total, 37B active
}


def test_required_presets_exist() -> None:
    assert set(PUBLISHED) | {"afm-on-device", "afm-server"} <= set(list_models())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_preset_sizes_match_published_counts(name: str) -> None:
    model = load_model(name)
    total, active = PUBLISHED[name]
    print(f"{name}: {model.n_params() / 1e9:.2f} B total, {model.n_active_params() / 1e9:.2f} B active")
    assert model.n_params() / 1e9 == pytest.approx(total, rel=0.01)
    if active is not None:
        # DeepSeek's 37B excludes the embedding; the lookup is ~0.9B of our active count.
        assert model.n_active_params() / 1e9 == pytest.approx(active, rel=0.03)


def test_afm_on_device_matches_the_published_dimensions() -> None:
    model = load_model("afm-on-device")
    assert (model.hidden_size, model.head_dim, model.num_heads, model.num_kv_heads, model.num_layers) == (
        3072, 128, 24, 8, 26)
    assert model.tie_embeddings and model.qk_norm
    # Apple: "about 2.6 B non-embedding parameters".
    assert model.n_nonembedding_params() / 1e9 == pytest.approx(2.6, rel=0.02)
    assert any("ASSUMPTION" in note for note in model.notes)


def test_afm_server_is_labelled_an_assumption_and_can_be_changed() -> None:
    model = load_model("afm-server")
    assert any("NOT published" in note for note in model.notes)
    bigger = load_model("afm-server", overrides={"num_layers": 96})
    assert bigger.num_layers == 96 and bigger.n_params() > model.n_params()


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_reads_a_hugging_face_config_from_a_directory(tmp_path: Path) -> None:
    _write(tmp_path, {"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32,
                      "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
                      "vocab_size": 32000, "max_position_embeddings": 32768, "sliding_window": 4096})
    model = load_model(tmp_path)
    assert model.family == "mistral" and model.num_kv_heads == 8 and model.head_dim == 128


def test_reads_gpt2_and_gpt_neox(tmp_path: Path) -> None:
    gpt2 = load_model(_write(tmp_path, {"model_type": "gpt2", "n_embd": 1600, "n_layer": 48, "n_head": 25,
                                        "vocab_size": 50257, "n_positions": 1024}))
    # GPT-2 XL: 1.56 B parameters (OpenAI), tied embeddings.
    assert gpt2.n_params() / 1e9 == pytest.approx(1.558, rel=0.005)
    neox_dir = tmp_path / "neox"
    neox_dir.mkdir()
    neox = load_model(_write(neox_dir, {
        "model_type": "gpt_neox", "hidden_size": 6144, "num_hidden_layers": 44, "num_attention_heads": 64,
        "intermediate_size": 24576, "vocab_size": 50432, "max_position_embeddings": 2048}))
    # GPT-NeoX-20B: 20.6 B parameters (Black et al. 2022).
    assert neox.n_params() / 1e9 == pytest.approx(20.6, rel=0.01)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model_type": "mamba", "hidden_size": 8}, "unknown architecture model_type='mamba'"),
        ({"model_type": "llama", "hidden_size": 4096}, "missing 'num_attention_heads'"),
        ({"model_type": "gpt2", "n_embd": 1000, "n_layer": 2, "n_head": 3, "vocab_size": 10},
         "not divisible by n_head=3"),
        ({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 32,
          "num_key_value_heads": 5, "intermediate_size": 8, "vocab_size": 8},
         "num_key_value_heads=5 must divide num_attention_heads=32"),
        # the keys the file has, not the model's internal field names (num_layers, max_seq_len)
        ({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": -2, "num_attention_heads": 32,
          "intermediate_size": 8, "vocab_size": 8}, "num_hidden_layers must be positive"),
        ({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 32,
          "intermediate_size": 8, "vocab_size": 8, "max_position_embeddings": 0},
         "max_position_embeddings must be positive"),
        ({"model_type": "gpt2", "n_embd": 64, "n_layer": 0, "n_head": 4, "vocab_size": 8},
         "n_layer must be positive"),
        ({"model_type": "llama", "hidden_size": "big", "num_hidden_layers": 2}, "must be a whole number"),
        ({"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
          "intermediate_size": 8, "vocab_size": 8, "num_local_experts": 4, "num_experts_per_tok": 6},
         "num_experts_per_tok=6 must be in 1..num_local_experts=4"),
    ],
)
def test_bad_configs_get_one_clear_line(tmp_path: Path, data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_model(_write(tmp_path, data))
    assert "\n" not in str(info.value)
    # where: the file the user gave, not the model's name (which defaults to its folder's)
    assert str(info.value).startswith(str(tmp_path / "config.json")), str(info.value)


def test_unreadable_json_and_unknown_names(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_model(bad)
    with pytest.raises(UnknownNameError, match="unknown model 'llama9'"):
        load_model("llama9")
    with pytest.raises(ConfigError, match="unknown override"):
        load_model("llama3-8b", overrides={"layers": 3})


@pytest.mark.parametrize(
    ("shard", "seq", "message"),
    [
        (Shard(tp=5), 4096, "tp=5 must divide num_heads=32"),
        (Shard(cp=3), 4096, "cp=3 must divide seq_len=4096"),
        (Shard(ep=2), 4096, "ep=2 must divide num_experts=0"),
        (Shard(layers=40), 4096, "exceed its 32 layers"),
        (Shard(), 10_000, "exceeds max_seq_len=8192"),
    ],
)
def test_impossible_shards_are_rejected(shard: Shard, seq: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_step(load_model("llama3-8b"), shard, 1, seq)


def test_shard_fields_are_checked() -> None:
    with pytest.raises(ConfigError, match="tp must be at least 1"):
        Shard(tp=0)
