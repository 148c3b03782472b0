"""The catalog-environment check: a changed $TRNSIM_CATALOG clears the registered caches."""

from __future__ import annotations

from pathlib import Path

import pytest

from trnsim.hardware import datafile
from trnsim.hardware.datafile import CATALOG_ENV, check_catalog_environment, on_data_change


def test_a_changed_catalog_variable_clears_the_caches(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    cleared: list[int] = []
    callback = on_data_change(lambda: cleared.append(1))
    try:
        check_catalog_environment()
        before = len(cleared)
        check_catalog_environment()
        assert len(cleared) == before  # unchanged: nothing cleared
        monkeypatch.setenv(CATALOG_ENV, str(tmp_path))
        check_catalog_environment()
        assert len(cleared) == before + 1
        monkeypatch.undo()
        check_catalog_environment()
        assert len(cleared) == before + 2
    finally:
        datafile._INVALIDATORS.remove(callback)
