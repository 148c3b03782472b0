"""Run the model with one chip's ``calibration_scale`` replaced, without touching any file.

The efficiency curves are data files (``$TRNSIM_CATALOG/efficiency/`` before the shipped ones).
To evaluate another scale this module applies an in-memory override of that one key to the file
in effect (:func:`trnsim.hardware.datafile.overlay`) for the duration of the block; the overlay
clears the in-process time caches on the way in and out (they register with
:func:`trnsim.hardware.datafile.on_data_change`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trnsim.hardware.datafile import overlay

__all__ = ["scaled_efficiency"]


@contextmanager
def scaled_efficiency(chip_file: str, scale: float) -> Iterator[None]:
    """Within the block, the efficiency file ``chip_file`` (e.g. ``a100``) uses ``scale``."""
    with overlay({f"efficiency/{chip_file}": {"calibration_scale": scale}},
                 f"calibration_scale refit (scale {scale!r})"):
        yield
