"""Shared helpers for the kernel-layer tests."""

from __future__ import annotations

import pytest

from trnsim.nki import runtime


@pytest.fixture
def no_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Call templates off for one test (trnsim.nki.templates: every call takes the checked path)."""
    monkeypatch.setattr(runtime, "CACHE_TEMPLATES", False)
