"""``nki.isa`` names both front ends share (the enums whose values differ stay in each front end)."""

from __future__ import annotations

import enum
from typing import Any

from trnsim.nki import runtime
from trnsim.nki.language_impl import spec_now


class oob_mode(enum.IntEnum):
    """Out-of-bounds policy of dynamic accesses."""

    error = 0
    skip = 1


class nc_version(enum.IntEnum):
    """NeuronCore generations."""

    gen2 = 2
    gen3 = 3
    gen4 = 4


def get_nc_version() -> nc_version:
    """The target's NeuronCore generation."""
    return nc_version(spec_now().nc_version)


def sim_for(name: str) -> runtime.Simulation:
    """The active simulation, for instruction ``nisa.<name>``."""
    return runtime.current(f"nisa.{name}")


def engine_name(value: Any) -> Any:
    """An ``engine=`` argument as the core expects it: None for unknown, else the engine's name."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return None if value.name == "unknown" else value.name
    return value
