"""``trnsim catalog data`` of a catalog entry (chips/, systems/) says where its fields are shown."""

from __future__ import annotations

import pytest

from tests.cli_errors import run_cli


def test_catalog_data_of_a_catalog_entry_points_to_catalog_show(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """It said "unknown data-file kind 'chips'; known: chips (trnsim catalog show), ...": both at once."""
    code, _, err = run_cli(monkeypatch, capsys, "catalog", "data", "chips/trn2")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "trnsim catalog show trn2" in lines[0]
    assert "unknown" not in lines[0]
