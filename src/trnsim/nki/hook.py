"""Make ``neuronxcc.nki`` and ``nki`` importable as trnsim's front ends, only when asked.

trnsim installs no top-level ``neuronxcc`` or ``nki`` package (those names belong to the real
SDK). :func:`install` adds a ``sys.meta_path`` finder that resolves them to
:mod:`trnsim.nki.legacy` and :mod:`trnsim.nki.current`; :func:`uninstall` removes it and the
module names it created. ``with sdk_imports(): ...`` does both around a block (pytest suites
written for the SDK can call :func:`install` in a ``conftest.py``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any

#: SDK module name -> trnsim module name ("" = an empty namespace package).
ALIASES: dict[str, str] = {
    "neuronxcc": "",
    "neuronxcc.nki": "trnsim.nki.legacy",
    "neuronxcc.nki.language": "trnsim.nki.legacy.language",
    "neuronxcc.nki.language.constants": "trnsim.nki.legacy.language_constants",
    "neuronxcc.nki.language.iterators": "trnsim.nki.legacy.language_iterators",
    "neuronxcc.nki.isa": "trnsim.nki.legacy.isa",
    "neuronxcc.nki.isa.constants": "trnsim.nki.legacy.isa_constants",
    "neuronxcc.nki.compiler": "trnsim.nki.legacy.compiler",
    "neuronxcc.nki.nccl": "trnsim.nki.legacy.nccl",
    "neuronxcc.nki.typing": "trnsim.nki.legacy.typing",
    "neuronxcc.nki._private": "",
    "neuronxcc.nki._private.private_api": "trnsim.nki.legacy.private_api",
    "nki": "trnsim.nki.current",
    "nki.language": "trnsim.nki.current.language",
    "nki.isa": "trnsim.nki.current.isa",
    "nki.typing": "trnsim.nki.current.typing",
    "nki.collectives": "trnsim.nki.current.collectives",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if not self.target:
            module = types.ModuleType(spec.name, "trnsim stand-in for the Neuron SDK package")
            module.__path__ = []
            return module
        return importlib.import_module(self.target)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class SdkFinder(importlib.abc.MetaPathFinder):
    """Resolves the SDK's NKI module names to trnsim's front ends."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        if fullname not in ALIASES:
            return None
        self.created.append(fullname)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(ALIASES[fullname]), is_package=True)


_FINDER: SdkFinder | None = None


def installed() -> bool:
    """True while the hook is installed."""
    return _FINDER is not None


def install() -> None:
    """Provide ``neuronxcc.nki`` / ``nki`` imports (idempotent)."""
    global _FINDER
    if _FINDER is None:
        _FINDER = SdkFinder()
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Remove the hook and forget the SDK module names it provided."""
    global _FINDER
    if _FINDER is None:
        return
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_FINDER)
    for name in _FINDER.created:
        sys.modules.pop(name, None)
    _FINDER = None


@contextlib.contextmanager
def sdk_imports() -> Iterator[None]:
    """Install the hook for the duration of a ``with`` block (restoring the previous state)."""
    was = installed()
    install()
    try:
        yield
    finally:
        if not was:
            uninstall()
