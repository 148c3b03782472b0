"""Imports point downward only: a layer never imports a layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "trnsim"

#: Bottom to top. A module may import its own layer and the layers before it in this list.
LAYERS = [
    "errors",
    "hardware",
    "nki",
    "kernels",
    "core",
    "devicetime",
    "workload",
    "cluster",
    "plan",
    "serve",
    "report",
    "api",
    "cli",
]


def _layer_of(module_path: Path) -> str:
    rel = module_path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_layers(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "trnsim" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "__init__.py")


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downward(module: Path) -> None:
    layer = _layer_of(module)
    if layer not in LAYERS:
        return
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    upward = {
        imported
        for imported in _imported_layers(module.read_text())
        if imported in LAYERS and imported not in allowed
    }
    assert not upward, f"{module.relative_to(PACKAGE)} ({layer}) imports upper layers {sorted(upward)}"
