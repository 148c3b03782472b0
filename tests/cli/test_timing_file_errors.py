"""``--timing FILE`` with a key the NeuronCore timing data lacks: the one error line names the user's
file, where the key is, not only the shipped file it was checked against (the what-if workflow of
docs/whatif.md; the line named only ``.../neuroncore_timing/trn2.toml``, a file the user never wrote).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import run_cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "tensor_add.py"


def test_unknown_key_names_the_user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    what_if = tmp_path / "what_if.toml"
    what_if.write_text("[dmaa]\nqueue_bandwidth_bytes_per_s = 1e11\n")
    code, _, err = run_cli(monkeypatch, capsys, "kernel", "profile", str(EXAMPLE), "--timing", str(what_if))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, err)
    assert str(what_if) in lines[0] and "override key 'dmaa.queue_bandwidth_bytes_per_s'" in lines[0]
    assert "did you mean 'dma'" in lines[0]
