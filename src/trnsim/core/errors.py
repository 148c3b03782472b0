"""Errors of the NeuronCore performance model."""

from __future__ import annotations

from trnsim.errors import TrnsimError

__all__ = ["TimingModelError", "wrong_argument"]


class TimingModelError(TrnsimError):
    """A trace the timing model cannot place on the target (wrong core, missing kernel layer...)."""


def wrong_argument(function: str, name: str, valid: str, got: object) -> TimingModelError:
    """The one-line error of a public function given the wrong kind of ``name`` (was an
    AttributeError from deep inside the model, or the value taken and ignored)."""
    shown = repr(got) if got is None or isinstance(got, int | float | str) else type(got).__name__
    return TimingModelError(f"{function}: {name} must be {valid}, got {shown[:60]}")
