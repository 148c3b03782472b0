"""Which end-to-end calibration a chip's device times rest on, for outputs (``estimate``, the API).

A Trainium chip's simulated kernel times are divided by its ``trainium_scale`` file's
``calibration_scale``; a GPU's or TPU's efficiency curves are multiplied by their file's. The
source shown is the head of the file's ``calibration_note`` (up to the first parenthesis or
semicolon): "fitted end to end on ...", "ASSUMPTION: the ... fit" or "not fitted: ...".
"""

from __future__ import annotations

from typing import Any

from trnsim.hardware.catalog import ChipFamily, ChipSpec

__all__ = ["device_calibration"]


def device_calibration(chip: ChipSpec) -> dict[str, Any]:
    """``{"scale", "applied_as", "source"}`` of ``chip`` (user files and overrides included)."""
    if chip.family is ChipFamily.TRAINIUM:
        from trnsim.devicetime.trainium_scale import load_trainium_scale

        trainium = load_trainium_scale(chip)
        scale, note, applied = trainium.calibration_scale, trainium.calibration_note, "kernel times ÷"
    else:
        from trnsim.devicetime.efficiency import load_efficiency

        curves = load_efficiency(chip)
        scale, note, applied = curves.calibration_scale, curves.calibration_note, "efficiency curves ×"
    return {"scale": scale, "applied_as": applied, "source": note.split(" (")[0].split(";")[0]}
