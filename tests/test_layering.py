"""Imports point downward only: a layer never imports a layer above it.

Every import counts, wherever it is (module level, inside a function, under ``TYPE_CHECKING``),
relative ones included, and so does ``importlib.import_module("trnsim...")`` / ``__import__`` with
a literal name; no module of the package imports another of it by such a string.
"""

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

#: Upward imports allowed, with why: (module, layer it imports).
ALLOWED_UPWARD = {
    # nki.benchmark times kernels with the chip model, which registers itself on import
    # (trnsim.nki.perf imports trnsim.core inside estimate_latency_ns when nothing is registered).
    ("nki/perf.py", "core"),
}

#: Calls that import a module named by their first argument.
STRING_IMPORTERS = {"import_module", "__import__"}


def _layer_of(relative: Path) -> str:
    return relative.parts[0].removesuffix(".py")


def _package_of(relative: Path) -> list[str]:
    """The dotted package of a module, as parts (``cluster/step.py`` -> trnsim, cluster)."""
    parts = ["trnsim", *relative.parts[:-1]]
    return parts


def _string_import(node: ast.AST) -> str | None:
    """The literal module name of ``importlib.import_module("...")`` / ``__import__("...")``."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    first = node.args[0]
    if name in STRING_IMPORTERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def imported_modules(relative: Path, source: str) -> set[str]:
    """Every trnsim module a module's source imports, by any statement or literal-string call."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:  # relative: up level - 1 packages from this module's package
                package = _package_of(relative)
                kept = package[: len(package) - (node.level - 1)]
                base = ".".join([*kept, *([node.module] if node.module else [])])
            # ``from trnsim import api`` imports trnsim.api: count the names as modules too
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif (name := _string_import(node)) is not None:
            names = [name]
        found.update(n for n in names if n.split(".")[0] == "trnsim")
    return found


def upward_imports(relative: Path, source: str) -> set[str]:
    """The layers above its own that a module imports, less :data:`ALLOWED_UPWARD`."""
    layer = _layer_of(relative)
    if layer not in LAYERS:
        return set()
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    imported = {name.split(".")[1] for name in imported_modules(relative, source) if "." in name}
    return {
        other for other in imported
        if other in LAYERS and other not in allowed and (relative.as_posix(), other) not in ALLOWED_UPWARD
    }


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "__init__.py")


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downward(module: Path) -> None:
    relative = module.relative_to(PACKAGE)
    upward = upward_imports(relative, module.read_text())
    assert not upward, f"{relative} ({_layer_of(relative)}) imports upper layers {sorted(upward)}"


def test_no_module_imports_the_package_by_string() -> None:
    offenders = []
    for module in MODULES:
        for node in ast.walk(ast.parse(module.read_text())):
            name = _string_import(node)
            if name is not None and name.split(".")[0] == "trnsim":
                offenders.append(f"{module.relative_to(PACKAGE)}: {name}")
    assert not offenders, f"import these as ordinary (function-level) imports: {offenders}"


def test_allowed_upward_imports_still_exist() -> None:
    for path, layer in ALLOWED_UPWARD:
        source = (PACKAGE / path).read_text()
        assert any(n.split(".")[1] == layer for n in imported_modules(Path(path), source) if "." in n), (
            f"{path} no longer imports {layer}: drop it from ALLOWED_UPWARD")


SYNTHETIC = '''
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from trnsim.errors import ConfigError

if TYPE_CHECKING:
    from trnsim.report.tables import plans_table


def late() -> None:
    from trnsim.plan import search


def later() -> None:
    from ..cluster import step


def by_name() -> object:
    return importlib.import_module("trnsim.cli.cmd_plan")
'''


def test_the_check_sees_every_kind_of_upward_import() -> None:
    # A synthetic hardware module importing up four ways: under TYPE_CHECKING, in a function, a
    # relative import, by string. Each is reported; the one downward import (errors) is not.
    relative = Path("hardware/synthetic.py")
    assert upward_imports(relative, SYNTHETIC) == {"report", "plan", "cluster", "cli"}
    assert upward_imports(Path("cli/synthetic.py"), SYNTHETIC) == set()
    assert upward_imports(relative, "from trnsim.hardware import catalog\nfrom . import units\n") == set()
    assert "trnsim.hardware.units" in imported_modules(relative, "from . import units\n")
    assert upward_imports(relative, "def f() -> None:\n    from trnsim import api\n") == {"api"}
