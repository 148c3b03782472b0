"""Shared helpers for the kernel-layer tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trnsim.nki import runtime


@pytest.fixture
def no_templates() -> Iterator[None]:
    """Call templates off for one test (trnsim.nki.templates: every call takes the checked path)."""
    runtime.CACHE_TEMPLATES = False
    try:
        yield
    finally:
        runtime.CACHE_TEMPLATES = True
