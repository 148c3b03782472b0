"""Errors of the planner: each is one complete line for the person who asked."""

from __future__ import annotations

from trnsim.errors import ConfigError, TrnsimError


class PlanError(TrnsimError):
    """The planner could not answer the question as asked (no plan fits, nothing to compare)."""


class NoFeasiblePlanError(PlanError):
    """Every candidate parallel plan was infeasible; the message names the binding constraint.

    The input was valid, the answer is "none": the CLI exits with status 3, not 2.
    """

    exit_status = 3


class SweepSpecError(ConfigError):
    """A sweep specification file is malformed; the message names the key and what is valid."""
