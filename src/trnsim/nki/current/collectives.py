"""``nki.collectives``: not simulated; any use raises one clear error line."""

from __future__ import annotations

from typing import Any

from trnsim.nki.guard import not_simulated


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise not_simulated(f"nki.collectives.{name}", "collectives need several devices")
