"""``--model ""`` is refused: it was read as the current directory, so a config.json lying there was
loaded in its place (and without one the error named a file the user never gave)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_errors import one_error_line, run_cli
from trnsim.errors import ConfigError
from trnsim.workload import load_model

LLAMA = {"model_type": "llama", "hidden_size": 1024, "intermediate_size": 3584, "num_hidden_layers": 4,
         "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 32000,
         "max_position_embeddings": 8192}


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_name_is_refused_beside_a_config_json(name: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.json").write_text(json.dumps(LLAMA))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="empty"):
        load_model(name)
    code, out, err = run_cli(monkeypatch, capsys, "serve", "--model", name, "--system", "trn2",
                             "--chips", "1")
    line = one_error_line(code, err)
    assert "empty" in line and "llama3-8b" in line and out == ""
    assert load_model(".").hidden_size == 1024  # the directory, named, is still read
