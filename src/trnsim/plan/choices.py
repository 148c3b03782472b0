"""The closed choices a person picks on the command line (objective, search-space profile, launch format).

They live apart from :mod:`trnsim.plan.problem`, :mod:`trnsim.plan.space` and
:mod:`trnsim.plan.launch` so that the CLI can declare its options without importing pydantic and
the planner at start-up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trnsim.plan.space import SearchSpace


class Objective(StrEnum):
    """What the planner minimises."""

    TIME = "time"
    COST = "cost"


class SpaceProfile(StrEnum):
    """Named search spaces a person can pick on the command line."""

    FULL = "full"
    QUICK = "quick"

    def space(self) -> SearchSpace:
        """The search space of this profile."""
        from trnsim.plan.space import SearchSpace, quick_space

        return quick_space() if self is SpaceProfile.QUICK else SearchSpace()


class LaunchFormat(StrEnum):
    """Launch settings ``trnsim plan --launch`` prints."""

    NXDT = "nxdt"  # NeuronX Distributed Training YAML (Trainium)
    MEGATRON = "megatron"  # Megatron-LM flags (GPUs)
