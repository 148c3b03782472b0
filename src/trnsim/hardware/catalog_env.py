"""The user catalog directory every data file is looked up in, ``$TRNSIM_CATALOG``, and setting it for
the span of one command or API call.

Standard library only, so that the CLI can set it from an option's callback at start-up without
importing the data layer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["CATALOG_ENV", "catalog_env"]

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
