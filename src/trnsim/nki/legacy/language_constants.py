"""``neuronxcc.nki.language.constants``: helpers public kernels import from it."""

from __future__ import annotations

from typing import Any

import numpy as np


def sizeinbytes(dtype: Any) -> int:
    """Bytes per element of ``dtype``."""
    return int(np.dtype(dtype).itemsize)


def __getattr__(name: str) -> Any:
    # sbuf_min_align: the active target's (an assumed value, see hardware/data/neuroncore/*.toml)
    if name in ("sbuf_min_align", "psum_min_align"):
        from trnsim.nki.language_impl import spec_now

        return int(getattr(spec_now(), f"{name}_bytes"))
    from trnsim.nki.errors import KernelError
    from trnsim.nki.runtime import user_location

    if name.startswith("__"):
        raise AttributeError(name)
    filename, line = user_location()
    raise KernelError(
        f"not simulated: nki.language.constants.{name} (its value is not in trnsim's hardware data)",
        kernel="-",
        location=f"{filename.rsplit('/', 1)[-1]}:{line}",
        err_id="not_simulated",
    )
