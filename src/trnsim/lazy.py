"""Packages that export names from their submodules without importing them at start-up."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, source: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__``: import an exported name from its submodule on first access.

    ``source`` maps each name to the module defining it; the value is then cached in ``namespace``
    (the package's ``globals()``), so later lookups do not come back here.
    """

    def __getattr__(name: str) -> Any:
        module = source.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
