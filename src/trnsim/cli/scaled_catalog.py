"""Run the model with one chip's ``calibration_scale`` replaced, without touching any file.

The efficiency curves are data files (``$TRNSIM_CATALOG/efficiency/`` before the shipped ones).
To evaluate another scale this module applies an in-memory override of that one key to the file
in effect (:func:`trnsim.hardware.datafile.overlay`) for the duration of the block, and clears the
in-process time caches on the way in and out (the step cache keys on catalog objects, which the
override does not change).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trnsim.cluster.step import clear_cache
from trnsim.devicetime.timing import clear_memo
from trnsim.hardware.datafile import overlay

__all__ = ["scaled_efficiency"]


@contextmanager
def scaled_efficiency(chip_file: str, scale: float) -> Iterator[None]:
    """Within the block, the efficiency file ``chip_file`` (e.g. ``a100``) uses ``scale``."""
    with overlay({f"efficiency/{chip_file}": {"calibration_scale": scale}},
                 f"calibration_scale refit (scale {scale!r})"):
        clear_memo()
        clear_cache()
        try:
            yield
        finally:
            clear_memo()
            clear_cache()
