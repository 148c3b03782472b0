"""The plan column of `plan` and `sweep --report` shows each plan whole.

In a pipe (100 columns) `trnsim plan` printed "recompute=…" for every plan with recomputation: the
setting a user needs to reproduce the plan was cut off, in the one place the terminal shows it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from tests.cli_errors import run_cli


def test_plan_table_keeps_every_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "plans.json"
    code, out, err = run_cli(monkeypatch, capsys, "plan", "--model", "llama3-70b", "--tokens", "1T",
                             "--system", "trn1", "--nodes", "4", "--space", "quick", "--top", "3",
                             "--json", str(out_json))
    assert code == 0, err
    plans = [entry["plan"] for entry in json.loads(out_json.read_text())["results"]]
    assert any("recompute=" in plan for plan in plans)  # the case that was cut
    assert "…" not in out
    words = set(out.split())
    for plan in plans:
        assert set(plan.split()) <= words, (plan, out)


@pytest.mark.parametrize("width", [80, 100, 120])
def test_sweep_table_keeps_every_setting(width: int) -> None:
    from trnsim.report.tables import sweep_table

    plan = "tp8 pp4 vpp2 dp64 cp2 zero1 mb1 recompute=selective"
    entry = {"model": "llama3-405b", "system": "trn2-ultraserver", "whatif": "hbm_bw_x2", "chips": 131072,
             "plan": plan, "time_to_train_days": 12.345, "error_band": 0.13, "tokens_per_s": 1.2e7,
             "mfu": 0.412, "cost_usd": None}
    console = Console(width=width, record=True)
    console.print(sweep_table([entry]))  # type: ignore[list-item]
    text = console.export_text()
    assert "…" not in text  # at worst a long word of the plan folds onto the next line
    assert {"131,072", "12.35", "13%", "12,000,000", "41.2%", "unknown"} <= set(text.split())
    if width >= 120:  # room for every name and word of the plan whole
        assert set(plan.split()) | {"llama3-405b", "trn2-ultraserver", "hbm_bw_x2"} <= set(text.split()), text
