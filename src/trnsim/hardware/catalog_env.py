"""The user catalog directory every data file is looked up in, ``$TRNSIM_CATALOG``, and setting it for
the span of one command or API call.

Standard library only, so that the CLI can set it from an option's callback at start-up without
importing the data layer.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trnsim.errors import ConfigError

__all__ = ["CATALOG_ENV", "CATALOG_FOLDERS", "catalog_env", "check_catalog_contents", "check_catalog_env"]

#: Environment variable naming a user catalog directory (``chips/``, ``efficiency/``, ...).
CATALOG_ENV = "TRNSIM_CATALOG"


@contextmanager
def catalog_env(directory: str | Path) -> Iterator[None]:
    """``$TRNSIM_CATALOG`` is ``directory`` within the block (and in worker processes it starts), then
    restored. The catalog loaders take the directory as an argument, but the device-time files
    (efficiency/, fusion/, param_passes/, trainium_scale/) and serving.toml are found through the
    variable."""
    previous = os.environ.get(CATALOG_ENV)
    os.environ[CATALOG_ENV] = str(directory)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(CATALOG_ENV, None)
        else:
            os.environ[CATALOG_ENV] = previous


#: The folders of a user catalog the loaders read (besides ``serving.toml`` at its top).
CATALOG_FOLDERS = ("chips", "systems", "efficiency", "fusion", "param_passes", "trainium_scale")

#: Data-file kinds a catalog does not override, and how to give the user's values instead.
_GIVEN_ELSEWHERE = {
    "neuroncore_timing": "NeuronCore timing is not read from a catalog (the op tables rest on the shipped "
                         "timing): give it with `kernel profile --timing FILE`, or as a sweep what-if's "
                         "timing_scale/timing_set",
    "neuroncore": "NeuronCore facts are the kernel layer's and not read from a catalog",
    "topologies": "a topology is not read from a catalog: give it with estimate's --topology FILE "
                  "(or --topology-set KEY=VALUE)",
}


def check_catalog_contents(directory: str | Path, given_by: str) -> None:
    """Every file of a user catalog ``directory`` is one the loaders read: a misspelt folder
    (``system/``), a file that is not TOML (``systems/trn2.json``), an entry at the top, or a kind no
    catalog overrides (``neuroncore_timing/``) is one error line, not silently unused. Hidden entries
    and files that are not data (a README) pass."""
    root = Path(directory)
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        where = f"catalog '{root}' (given by {given_by})"
        if entry.is_dir():
            if entry.name in _GIVEN_ELSEWHERE:
                raise ConfigError(f"{where}: folder '{entry.name}' is not read: "
                                  f"{_GIVEN_ELSEWHERE[entry.name]}")
            if entry.name not in CATALOG_FOLDERS:
                close = difflib.get_close_matches(entry.name, CATALOG_FOLDERS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"{where}: folder '{entry.name}' is not read{hint}; a catalog holds "
                                  f"{', '.join(f + '/' for f in CATALOG_FOLDERS)} and serving.toml")
            for item in sorted(entry.iterdir()):
                if item.is_file() and not item.name.startswith(".") and item.suffix != ".toml" \
                        and item.suffix in (".json", ".yaml", ".yml", ".tml", ".txt", ""):
                    raise ConfigError(f"{where}: '{entry.name}/{item.name}' is not read: only .toml files "
                                      "are; rename it or take it out")
        elif entry.suffix == ".toml" and entry.name != "serving.toml":
            raise ConfigError(f"{where}: '{entry.name}' is not read: catalog entries go in chips/ or "
                              "systems/, serving parameters in serving.toml")
        elif entry.suffix in (".json", ".yaml", ".yml", ".tml"):  # data in another format: not read either
            raise ConfigError(f"{where}: '{entry.name}' is not read: only .toml files are (catalog entries "
                              "in chips/ or systems/, serving parameters in serving.toml)")


def check_catalog_env() -> None:
    """:func:`check_catalog_contents` of the catalog ``$TRNSIM_CATALOG`` names, when it names a directory
    (a missing one is the loaders' one-line error)."""
    variable = os.environ.get(CATALOG_ENV)
    if variable and Path(variable).is_dir():
        check_catalog_contents(variable, f"${CATALOG_ENV}")
