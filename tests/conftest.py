"""Suite-wide set-up: the tests never read or write the user's own trnsim cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trnsim.devicetime.cache import CACHE_ENV
from trnsim.nki import templates


@pytest.fixture(autouse=True, scope="session")
def _private_latency_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point ``$TRNSIM_CACHE_DIR`` at a directory of this test session.

    The default (``~/.cache/trnsim``) is shared by every trnsim process of the user: a suite
    must neither depend on what an earlier run left there nor race another run writing it.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("trnsim-cache")))
        yield


@pytest.fixture(autouse=True)
def _own_call_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no call templates kept from launches of earlier tests
    (trnsim.nki.templates._KEPT): a test's result must not depend on which tests ran before it."""
    monkeypatch.setattr(templates, "_KEPT", {})
