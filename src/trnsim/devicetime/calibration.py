"""Which end-to-end calibration a chip's device times rest on: its data file and what it says.

A Trainium chip's simulated kernel times are divided by its ``trainium_scale`` file's
``calibration_scale``; a GPU's or TPU's efficiency curves are multiplied by their file's. One
dispatch for the outputs (``estimate``, the API) and for ``validate``'s refits of the scale.
"""

from __future__ import annotations

from typing import Any

from trnsim.devicetime.efficiency import EFFICIENCY, EfficiencyCurves, load_efficiency
from trnsim.devicetime.trainium_scale import TRAINIUM_SCALE, TrainiumScale, load_trainium_scale
from trnsim.hardware.catalog import ChipFamily, ChipSpec

__all__ = ["calibration_file", "device_calibration"]


def calibration_file(chip: ChipSpec) -> tuple[str, TrainiumScale | EfficiencyCurves]:
    """The data file holding ``chip``'s ``calibration_scale`` (user files and overrides included):
    its kind's folder (``trainium_scale``, ``efficiency``) and its contents (their ``chip`` key
    names the file, e.g. a chip without its own file uses ``trn1``'s or ``h100``'s)."""
    if chip.family is ChipFamily.TRAINIUM:
        return TRAINIUM_SCALE.folder, load_trainium_scale(chip)
    return EFFICIENCY.folder, load_efficiency(chip)


def device_calibration(chip: ChipSpec) -> dict[str, Any]:
    """``{"scale", "applied_as", "source"}`` of ``chip``: the source is the head of the file's
    ``calibration_note`` (up to the first parenthesis or semicolon): "fitted end to end on ...",
    "ASSUMPTION: the ... fit" or "not fitted: ..."."""
    kind, data = calibration_file(chip)
    applied = "kernel times ÷" if kind == TRAINIUM_SCALE.folder else "efficiency curves ×"
    source = data.calibration_note.split(" (")[0].split(";")[0]
    return {"scale": data.calibration_scale, "applied_as": applied, "source": source}
