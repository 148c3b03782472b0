"""``sweep --json/--html`` keep the points that ended infeasible or in an error, with the reason.

The terminal listed them under the table, but the JSON of an all-infeasible sweep was ``"results":
[]`` and nothing else: the sweep's answer for those points (why no plan fits) was lost from the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

SPEC = 'tokens = 1e12\nmodels = ["llama3-405b"]\nsystems = ["p5"]\nchips = [8]\n'


def test_infeasible_point_in_json_and_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    out_json, out_html = tmp_path / "s.json", tmp_path / "s.html"
    code, _, err = run_cli(monkeypatch, capsys, "sweep", str(spec), "--db", str(tmp_path / "s.sqlite"),
                           "--local", "--json", str(out_json), "--html", str(out_html))
    assert code == 0, err
    document = json.loads(out_json.read_text())
    assert document["results"] == []
    (failed,) = document["meta"]["failed_points"]
    assert failed["model"] == "llama3-405b" and failed["system"] == "p5" and failed["chips"] == 8
    assert failed["whatif"] == "baseline" and failed["status"] == "infeasible"
    assert "no feasible plan" in failed["error"]
    assert "no feasible plan for llama3-405b on p5" in out_html.read_text()
