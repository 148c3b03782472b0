"""Errors of the NeuronCore performance model."""

from __future__ import annotations

from trnsim.errors import TrnsimError

__all__ = ["TimingModelError"]


class TimingModelError(TrnsimError):
    """A trace the timing model cannot place on the target (wrong core, missing kernel layer...)."""
