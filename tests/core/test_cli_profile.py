"""``trnsim kernel profile`` end to end on the kernel layer's example file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trnsim.cli import commands  # noqa: F401  (registers the commands)
from trnsim.cli.apps import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tensor_add.py"


@pytest.fixture(autouse=True)
def _restore_target_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # ``trnsim kernel run`` sets NEURON_PLATFORM_TARGET_OVERRIDE; undo it after each test.
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn2")


def test_profile_writes_tables_trace_and_json(tmp_path: Path) -> None:
    trace_path, json_path = tmp_path / "trace.json", tmp_path / "summary.json"
    result = CliRunner().invoke(app, ["kernel", "profile", str(EXAMPLE), "--target", "trn1,trn2",
                                      "--trace", str(trace_path), "--json", str(json_path)])
    assert result.exit_code == 0, result.output
    assert "Side by side" in result.output
    summaries = json.loads(json_path.read_text())
    assert [s["target"] for s in summaries] == ["trn1", "trn2"]
    assert all(s["latency_us"] > 0 and s["dma_bytes"] > 0 for s in summaries)
    events = json.loads(trace_path.read_text())["traceEvents"]
    assert any(e["ph"] == "X" and "tensor_add.py:" in e["args"]["source"] for e in events)


def test_profile_rejects_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["kernel", "profile", str(tmp_path / "nope.py")])
    assert result.exit_code != 0
    assert "does not exist" in str(result.exception)
