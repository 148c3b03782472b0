"""Run the model with one chip's ``calibration_scale`` replaced, without touching any file.

The efficiency curves are data files looked up in ``$TRNSIM_CATALOG/efficiency/`` before the
shipped ones. To evaluate another scale this module builds a temporary overlay catalog: links to
everything in the user's catalog (if any), plus a copy of the chip's efficiency file in effect
with only its ``calibration_scale`` line changed, points ``$TRNSIM_CATALOG`` at it for the
duration, and clears the in-process time caches on the way in and out.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from trnsim.cluster.step import clear_cache
from trnsim.devicetime.timing import clear_memo
from trnsim.hardware.catalog import CATALOG_ENV

__all__ = ["scaled_efficiency"]

_SCALE_LINE = re.compile(r"(?m)^calibration_scale\s*=.*$")


def _shipped(chip_file: str) -> Path:
    return Path(str(resources.files("trnsim.devicetime"))) / "data" / "efficiency" / f"{chip_file}.toml"


def with_scale(text: str, scale: float) -> str:
    """The efficiency TOML ``text`` with its top-level ``calibration_scale`` set to ``scale``."""
    line = f"calibration_scale = {scale!r}"
    if _SCALE_LINE.search(text):
        return _SCALE_LINE.sub(line, text, count=1)
    return f"{line}\n{text}"  # top-level keys must precede the first table


def _link_all(source: Path, target: Path, skip: str) -> None:
    for entry in source.iterdir():
        if entry.name != skip:
            (target / entry.name).symlink_to(entry.resolve())


@contextmanager
def scaled_efficiency(chip_file: str, scale: float) -> Iterator[None]:
    """Within the block, the efficiency file ``chip_file`` (e.g. ``a100``) uses ``scale``."""
    user = os.environ.get(CATALOG_ENV)
    user_dir = Path(user) if user else None
    user_file = user_dir / "efficiency" / f"{chip_file}.toml" if user_dir else None
    source = user_file if user_file is not None and user_file.is_file() else _shipped(chip_file)
    with tempfile.TemporaryDirectory(prefix="trnsim-scale-") as tmp:
        root = Path(tmp)
        efficiency = root / "efficiency"
        efficiency.mkdir()
        if user_dir is not None and user_dir.is_dir():
            _link_all(user_dir, root, skip="efficiency")
            if (user_dir / "efficiency").is_dir():
                _link_all(user_dir / "efficiency", efficiency, skip=f"{chip_file}.toml")
        (efficiency / f"{chip_file}.toml").write_text(with_scale(source.read_text(), scale))
        os.environ[CATALOG_ENV] = tmp
        clear_memo()
        clear_cache()
        try:
            yield
        finally:
            if user is None:
                os.environ.pop(CATALOG_ENV, None)
            else:
                os.environ[CATALOG_ENV] = user
            clear_memo()
            clear_cache()
