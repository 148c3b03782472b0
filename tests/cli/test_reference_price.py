"""``compare --reference`` naming a system without a price is one error line (exit 2).

The reference's spend sets the equal budget; an unpriced reference set none, and every system's
equal-budget row then read "no reference price: no system with a known price has a feasible plan"
-- wrong for p5, which has a price and a feasible plan. The API's ``reference=`` the same.
"""

from __future__ import annotations

import pytest

import trnsim
from tests.cli_errors import run_cli
from trnsim.errors import ConfigError

CMP = ["compare", "--model", "llama3-8b", "--tokens", "1T", "--systems", "p5,tpu-v4", "--chips", "64",
       "--scaling", ""]


def test_unpriced_reference_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, *CMP, "--reference", "tpu-v4")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and out == "", (code, err)
    assert "--reference tpu-v4 has no price" in lines[0] and "--hourly-budget" in lines[0]
    assert "(p5)" in lines[0]  # the priced system to name instead


def test_unpriced_reference_with_a_budget_is_fine(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *CMP, "--reference", "tpu-v4", "--hourly-budget", "500",
                           "--workers", "1")
    assert code == 0, err


def test_api_unpriced_reference() -> None:
    with pytest.raises(ConfigError, match=r"^reference tpu-v4 has no price"):
        trnsim.compare("llama3-8b", tokens="1T", systems=["p5", "tpu-v4"], chips=64, scaling=(),
                       reference="tpu-v4")
