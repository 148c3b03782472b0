"""``--model NAME`` where NAME is a preset and also a file or directory here: the preset is read (as
documented), and a warning line says so, naming how to give the path instead.

A user's own ``llama3-8b/config.json`` (a 2-layer variant here) was silently replaced by the preset.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_errors import run_cli


@pytest.mark.parametrize("command", [["estimate", "--system", "p5", "--nodes", "1"],
                                     ["plan", "--system", "p5", "--nodes", "1", "--tokens", "1T", "--space",
                                      "quick"]])
def test_preset_shadowing_a_directory_is_said(command: list[str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    own = tmp_path / "llama3-8b"
    own.mkdir()
    config = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 32,
              "intermediate_size": 14336, "vocab_size": 128256, "num_key_value_heads": 8}
    (own / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, command[0], "--model", "llama3-8b", *command[1:], "--json",
                           str(tmp_path / "out.json"))
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("warning: --model")]
    assert len(warning) == 1 and "./llama3-8b" in warning[0], err
    document = json.loads((tmp_path / "out.json").read_text())
    total = document.get("params_total") or document["meta"]["params_total"]
    assert total > 7e9  # the preset, as documented


def test_no_warning_without_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "estimate", "--model", "llama3-8b", "--system", "p5",
                           "--nodes", "1", "--zero", "1", "--json", str(tmp_path / "out.json"))
    assert code == 0 and "warning: --model" not in err, err

