"""``neuronxcc.nki.language.constants``: helpers public kernels import from it."""

from __future__ import annotations

from typing import Any

import numpy as np


def sizeinbytes(dtype: Any) -> int:
    """Bytes per element of ``dtype``."""
    return int(np.dtype(dtype).itemsize)
