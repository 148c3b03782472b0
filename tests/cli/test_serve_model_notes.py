"""``trnsim serve`` says what the model leaves out, as ``estimate``, ``plan`` and ``compare`` do.

A Mistral config.json's sliding window (4,096 positions) is not modelled: attention and the KV
cache run over the whole context. ``estimate`` printed that note; ``serve``, where the window
changes the KV cache and the decode attention most, said nothing in its tables or its JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

MISTRAL = {"model_type": "mistral", "hidden_size": 1024, "intermediate_size": 3584, "num_hidden_layers": 4,
           "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 32000,
           "max_position_embeddings": 32768, "sliding_window": 4096}
LOAD = ["--input-tokens", "512", "--output-tokens", "64"]


@pytest.fixture
def model(tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(MISTRAL))
    return str(path)


def test_one_layout_prints_and_writes_the_model_notes(model: str, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = ["serve", "--model", model, "--system", "trn2", "--chips", "1", "--tp", "4", *LOAD]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "model notes: sliding-window attention (window 4096 on 4 of 4 layers)" in " ".join(out.split())
    code, out, err = run_cli(monkeypatch, capsys, *args, "--json", "-")
    assert code == 0, err
    notes = json.loads(out)["model_notes"]
    assert len(notes) == 1 and notes[0].startswith("sliding-window attention (window 4096")


def test_compare_prints_and_writes_the_model_notes(model: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    args = ["serve", "--model", model, "--compare", "--systems", "trn2", "--concurrency", "2", *LOAD]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "model notes: sliding-window attention (window 4096" in " ".join(out.split())
    code, out, err = run_cli(monkeypatch, capsys, *args, "--json", "-")
    assert code == 0, err
    assert json.loads(out)["model_notes"][0].startswith("sliding-window attention (window 4096")


def test_a_preset_without_notes_prints_none(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "serve", "--model", "llama3-8b", "--system", "trn2",
                             "--chips", "1", *LOAD, "--json", "-")
    assert code == 0 and json.loads(out)["model_notes"] == [], err
