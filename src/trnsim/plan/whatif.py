"""What-if hardware through the catalog's own override mechanism.

A what-if (``scale`` or ``set`` on catalog fields) becomes user override files, written into a
catalog directory that is then loaded exactly as a user's own ``TRNSIM_CATALOG`` would be: the
files name their source ("what-if <name>") so every changed value stays traceable, and a user's
existing catalog directory is copied first so its entries still apply underneath. Paths are
``chip.<field>`` for the system's chip and ``system.<field>`` (or a bare field) for the system.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import CATALOG_ENV, ChipSpec, SystemSpec, load_system
from trnsim.plan.sweep import WhatIf


def _split(path: str) -> tuple[str, str]:
    scope, _, field = path.rpartition(".")
    scope = scope or "system"
    if scope not in ("chip", "system"):
        raise ConfigError(f"what-if path '{path}': expected 'chip.<field>' or 'system.<field>'")
    return scope, field


def _toml_table(field: str, value: float | int | str, source: str) -> str:
    return f"[{field}]\nvalue = {json.dumps(value)}\nsource = {json.dumps(source)}\nconfidence = \"user\"\n"


def _check_field(spec: ChipSpec | SystemSpec, scope: str, field: str, whatif: WhatIf) -> None:
    if field not in type(spec).model_fields or field in ("name", "sources", "chip"):
        valid = ", ".join(f for f in type(spec).model_fields if f not in ("name", "sources", "chip"))
        raise ConfigError(f"what-if '{whatif.name}': unknown {scope} field '{field}'; valid: {valid}")


def _override_text(spec: ChipSpec | SystemSpec, changes: dict[str, float | int | str], whatif: WhatIf) -> str:
    lines = [f"name = {json.dumps(spec.name)}"]
    for field, value in sorted(changes.items()):
        lines.append(_toml_table(field, value, f"what-if '{whatif.name}'"))
    return "\n".join(lines) + "\n"


def whatif_catalog(system_name: str, whatif: WhatIf, base_dir: str | Path | None, into: Path) -> Path:
    """Write the override files of ``whatif`` for ``system_name`` into ``into``; return it."""
    base_dir = base_dir if base_dir is not None else (os.environ.get(CATALOG_ENV) or None)
    if base_dir is not None:
        for sub in ("chips", "systems"):
            if (Path(base_dir) / sub).is_dir():
                shutil.copytree(Path(base_dir) / sub, into / sub, dirs_exist_ok=True)
    base = load_system(system_name, catalog_dir=base_dir)
    changes: dict[str, dict[str, float | int | str]] = {"chip": {}, "system": {}}
    for path, factor in whatif.scale.items():
        scope, field = _split(path)
        _check_field(base.chip if scope == "chip" else base, scope, field, whatif)
        current = getattr(base.chip if scope == "chip" else base, field, None)
        if not isinstance(current, int | float) or isinstance(current, bool):
            raise ConfigError(
                f"what-if '{whatif.name}': cannot scale {path}: the catalog has no number there "
                f"(value {current!r})"
            )
        changes[scope][field] = current * factor
    for path, value in whatif.set.items():
        scope, field = _split(path)
        _check_field(base.chip if scope == "chip" else base, scope, field, whatif)
        changes[scope][field] = value
    for scope, spec, sub in (("chip", base.chip, "chips"), ("system", base, "systems")):
        if changes[scope]:
            (into / sub).mkdir(parents=True, exist_ok=True)
            text = _override_text(spec, changes[scope], whatif)
            (into / sub / f"zz-whatif-{spec.name}.toml").write_text(text)
    return into


def load_system_whatif(system_name: str, whatif: WhatIf, base_dir: str | Path | None = None) -> SystemSpec:
    """The catalog system with the what-if applied (the baseline needs no files at all)."""
    if whatif.is_baseline:
        return load_system(system_name, catalog_dir=base_dir)
    with tempfile.TemporaryDirectory(prefix="trnsim-whatif-") as tmp:
        directory = whatif_catalog(system_name, whatif, base_dir, Path(tmp))
        return load_system(system_name, catalog_dir=directory)
