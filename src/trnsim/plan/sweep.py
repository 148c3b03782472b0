"""Sweep specifications: models × systems × chip counts × what-if hardware, as points.

A spec is a TOML file::

    tokens = 1e12
    seq_len = 4096
    global_batch = 1024
    models = ["llama3-8b"]
    systems = ["trn2", "trn1"]
    chips = [64, 256]

    [[whatif]]
    name = "baseline"

    [[whatif]]
    name = "hbm-x2"
    scale = { "chip.hbm_bandwidth_bytes_per_s" = 2.0 }

    [[whatif]]
    name = "tensor-x2"
    knobs = { tensor = 2.0 }   # or simply name = "tensor_x2"

Each point has a key (a hash of everything that defines it), so that a results database holds each
point once and a restarted sweep skips what is already there. What-if hardware is a set of catalog
overrides: ``scale`` multiplies a catalog value, ``set`` replaces it; paths are those of the
catalog's override mechanism. ``knobs`` scale one piece of hardware everywhere it appears
(catalog, NeuronCore timing data, topology; see :mod:`trnsim.plan.whatif`), and ``timing_scale``
/ ``timing_set`` change NeuronCore timing values (``dma.queue_bandwidth_bytes_per_s``) directly.
A what-if named ``<knob>_x<factor>`` (``hbm_bw_x2``) with nothing else means that knob.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from trnsim.plan.errors import SweepSpecError
from trnsim.plan.problem import Objective
from trnsim.workload.options import Precision


class Knob(StrEnum):
    """One piece of hardware a what-if scales everywhere the models see it."""

    #: HBM bandwidth, with the DMA engines that feed the cores from it.
    HBM_BW = "hbm_bw"
    #: TensorE (matrix unit) throughput: its clock and the chip's peak FLOP/s.
    TENSOR = "tensor"
    #: VectorE throughput (its clock): Trainium NeuronCore timing only.
    VECTOR = "vector"
    #: Scale-up links: NeuronLink (Trainium), NVLink (GPU), ICI (TPU).
    SCALE_UP_BW = "scale_up_bw"
    #: Scale-out network: EFA, InfiniBand, data-centre network.
    SCALE_OUT_BW = "scale_out_bw"


_SHORTHAND = re.compile(r"^(?P<knob>[a-z_]+?)_x(?P<factor>\d+(?:\.\d+)?)$")


class WhatIf(BaseModel):
    """A named hardware variation: catalog values scaled or replaced, knobs, timing overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    scale: dict[str, float] = Field(default_factory=dict)
    set: dict[str, float | int | str] = Field(default_factory=dict)
    knobs: dict[Knob, PositiveFloat] = Field(default_factory=dict)
    timing_scale: dict[str, PositiveFloat] = Field(default_factory=dict)
    timing_set: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _knob_from_name(cls, data: Any) -> Any:
        """``name = "hbm_bw_x2"`` alone means ``knobs = { hbm_bw = 2.0 }``."""
        if isinstance(data, dict) and set(data) == {"name"} and isinstance(data["name"], str):
            match = _SHORTHAND.match(data["name"])
            knobs = [k.value for k in Knob]
            if match and match["knob"] in knobs:
                return {"name": data["name"], "knobs": {match["knob"]: float(match["factor"])}}
            if match:  # a misspelt knob would silently make a second baseline
                raise ValueError(f"what-if '{data['name']}' reads as <knob>_x<factor>, but '{match['knob']}' "
                                 f"is no knob; valid: {', '.join(knobs)}; or give knobs/scale/set")
        return data

    @property
    def is_baseline(self) -> bool:
        """Whether this variation changes nothing."""
        return not (self.scale or self.set or self.knobs or self.timing_scale or self.timing_set)


class SweepSpec(BaseModel):
    """The whole design space of a sweep and the job every point trains."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: float = Field(gt=0)
    seq_len: PositiveInt = 4096
    global_batch: PositiveInt = 1024
    precision: Precision = Precision.BF16
    objective: Objective = Objective.TIME
    models: list[str] = Field(min_length=1)
    systems: list[str] = Field(min_length=1)
    chips: list[PositiveInt] = Field(min_length=1)
    whatif: list[WhatIf] = Field(default_factory=lambda: [WhatIf(name="baseline")])

    def points(self) -> list[SweepPoint]:
        """Every point of the design space, in a stable order."""
        job = {
            "tokens": self.tokens, "seq_len": self.seq_len, "global_batch": self.global_batch,
            "precision": self.precision.value, "objective": self.objective.value,
        }
        return [
            SweepPoint(model=m, system=s, chips=c, whatif=w, job=job)
            for m, s, c, w in itertools.product(self.models, self.systems, self.chips, self.whatif)
        ]


class SweepPoint(BaseModel):
    """One evaluation of a sweep: the best plan of a model on a system at a chip count."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    system: str
    chips: PositiveInt
    whatif: WhatIf
    job: dict[str, Any]

    @property
    def key(self) -> str:
        """A stable identity: equal points share it, any difference changes it."""
        data = self.model_dump(mode="json")
        # Fields added after the first sweeps were stored are left out while empty, so that the
        # points stored before them keep their keys.
        for later in ("knobs", "timing_scale", "timing_set"):
            if not data["whatif"][later]:
                del data["whatif"][later]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def load_sweep_spec(path: Path) -> SweepSpec:
    """Read and validate a sweep spec; every problem becomes one :class:`SweepSpecError` line."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SweepSpecError(f"sweep spec {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:  # a directory, no permission, a binary file
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise SweepSpecError(f"sweep spec {path} cannot be read: {reason}; give a TOML file") from None
    except tomllib.TOMLDecodeError as error:
        raise SweepSpecError(f"sweep spec {path} is not valid TOML: {error}") from None
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()
        )
        raise SweepSpecError(f"sweep spec {path}: {problems}") from None
    names = [w.name for w in spec.whatif]
    if len(set(names)) != len(names):
        raise SweepSpecError(f"sweep spec {path}: what-if names must be unique, got {names}")
    return spec
