"""``plan --objective cost`` and ``--budget`` need the system's price.

Without one every cost is unknown: the plans were ranked by time under a "ranked by cost" title,
and no plan could miss the budget. With a price from a user catalog both work.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

PLAN = ["plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "trn2", "--nodes", "1",
        "--space", "quick"]


@pytest.mark.parametrize("extra", [["--objective", "cost"], ["--budget", "1000"]])
def test_cost_options_on_an_unpriced_system_are_refused(extra: list[str], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, *PLAN, *extra)
    assert code == 2 and err.count("\n") == 1 and extra[0] in err and "price" in err and out == "", err


def test_with_a_price_plans_are_ranked_by_cost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from trnsim.cluster.step import clear_cache

    clear_cache()
    monkeypatch.delenv("TRNSIM_CATALOG", raising=False)
    (tmp_path / "systems").mkdir()
    (tmp_path / "systems" / "price.toml").write_text('name = "trn2"\nprice_usd_per_node_hour = "40 USD/h"\n')
    code, out, err = run_cli(monkeypatch, capsys, *PLAN, "--objective", "cost", "--catalog", str(tmp_path),
                             "--top", "3", "--json", "-")
    assert code == 0, err
    costs = [r["cost_usd"] for r in json.loads(out)["results"] if r["kind"] == "top"]
    assert costs == sorted(costs) and all(c is not None and c > 0 for c in costs)
