"""Run the model with one chip's ``calibration_scale`` replaced, without touching any file.

The scale lives in a data file: a GPU's or TPU's efficiency curves (``efficiency/<chip>``), a
Trainium chip's ``trainium_scale/<chip>`` (``$TRNSIM_CATALOG/<kind>/`` before the shipped ones).
To evaluate another scale this module applies an in-memory override of that one key to the file
in effect (:func:`trnsim.hardware.datafile.overlay`) for the duration of the block; the overlay
clears the in-process time caches on the way in and out (they register with
:func:`trnsim.hardware.datafile.on_data_change`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trnsim.hardware.datafile import overlay

__all__ = ["scaled_calibration"]


@contextmanager
def scaled_calibration(scale_file: str, scale: float) -> Iterator[None]:
    """Within the block, the data file ``scale_file`` (``efficiency/a100``, ``trainium_scale/trn1``)
    uses ``scale``."""
    with overlay({scale_file: {"calibration_scale": scale}}, f"calibration_scale refit (scale {scale!r})"):
        yield
