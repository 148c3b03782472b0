"""The end-to-end calibration scale of Trainium device times, from data files.

Trainium op times are simulations of the project's NKI kernels on the NeuronCore model (op tables,
exact shapes, and the add kernel's throughput for streaming ops without a kernel): what those
kernels reach, not what the Neuron compiler's code for a whole training step reaches. As the GPU
efficiency curves carry one ``calibration_scale`` (a factor on the achieved fraction of peak,
fitted end to end on the published runs), a Trainium chip carries one too, in
``devicetime/data/trainium_scale/<chip>.toml`` (a chip without its own file uses ``trn1``'s),
overridable by ``$TRNSIM_CATALOG/trainium_scale/<chip>.toml`` or an in-memory overlay: every
simulated-kernel time of the chip is divided by it (:mod:`trnsim.devicetime.timing`). Roofline
fallbacks, collectives and ``trnsim kernel``'s single-kernel predictions do not use it.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import ChipFamily, ChipSpec
from trnsim.hardware.datafile import CATALOG_ENV, DataKind, overlay_token

__all__ = ["TRAINIUM_SCALE", "TrainiumScale", "clear_loaded_trainium_scale", "load_trainium_scale"]

#: The scale files: a user file replaces the shipped one of the same name whole.
TRAINIUM_SCALE = DataKind("trainium_scale", Path(__file__).parent / "data" / "trainium_scale",
                          merge=False, new_keys_from_depth=0)
#: The file a Trainium chip without its own uses (the one fitted on measured runs).
_FAMILY_DEFAULT = "trn1"


class TrainiumScale(BaseModel):
    """One Trainium chip's calibration scale (a data file)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chip: str
    source: str
    date: str
    confidence: str
    #: The factor on the throughput of every simulated kernel: times are divided by it.
    calibration_scale: float = Field(gt=0.0)
    calibration_note: str = ""


#: Files by (chip name, $TRNSIM_CATALOG, in-memory overrides): found once, not per op timed;
#: :func:`clear_loaded_trainium_scale` (``devicetime.timing.clear_memo``) forgets them.
_LOADED: dict[tuple[str, str | None, int], TrainiumScale] = {}


def clear_loaded_trainium_scale() -> None:
    """Forget the files found (after editing one in this process)."""
    _LOADED.clear()


def load_trainium_scale(chip: ChipSpec) -> TrainiumScale:
    """The scale of Trainium chip ``chip`` (its own file, a user file first; else trn1's)."""
    if chip.family is not ChipFamily.TRAINIUM:
        raise ConfigError(f"chip '{chip.name}' is not a Trainium chip: its calibration_scale is in "
                          f"efficiency/{chip.name}.toml")
    key = (chip.name, os.environ.get(CATALOG_ENV), overlay_token())
    scale = _LOADED.get(key)
    if scale is None:
        name = chip.name if TRAINIUM_SCALE.exists(chip.name) else _FAMILY_DEFAULT
        scale = _LOADED[key] = TRAINIUM_SCALE.load_model(name, TrainiumScale)
    return scale
