"""``kernel profile``'s launch table shows each kernel's name whole (in a pipe it printed "nki_t…")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import run_cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "tensor_add.py"


def test_kernel_names_whole_at_80_columns(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run_cli(monkeypatch, capsys, "kernel", "profile", str(EXAMPLE), "--target", "trn1,trn2")
    assert code == 0, err
    launches = out.split("Busy time")[0]
    assert "…" not in launches
    assert "".join(launches.split()).count("nki_tensor_add_kernel") == 2, launches  # a name may fold
