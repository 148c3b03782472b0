"""Errors of the planner: each is one complete line for the person who asked."""

from __future__ import annotations

from trnsim.errors import ConfigError, TrnsimError


class PlanError(TrnsimError):
    """The planner could not answer the question as asked (no plan fits, nothing to compare)."""


class NoFeasiblePlanError(PlanError):
    """Every candidate parallel plan was infeasible; the message says why, by reason."""


class SweepSpecError(ConfigError):
    """A sweep specification file is malformed; the message names the key and what is valid."""
