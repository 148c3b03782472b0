"""``nki.collectives``: not simulated; any use raises one clear error line."""

from __future__ import annotations

from typing import Any

from trnsim.nki.errors import KernelError


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise KernelError(
        f"nki.collectives.{name} is not simulated by trnsim (collectives need several devices)",
        kernel="-",
        err_id="not_simulated",
    )
