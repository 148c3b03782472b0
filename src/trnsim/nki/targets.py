"""Which NeuronCore generation a kernel runs on.

Priority: an explicit ``target=`` / ``platform_target=``, else the target of an enclosing
:func:`using_target` (``trnsim kernel run/profile --target``), else ``NEURON_PLATFORM_TARGET_OVERRIDE``
(the SDK's variable: ``trn1|inf2|gen2``, ``trn2|gen3``, ``trn3|gen4``), else ``trn2``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

from trnsim.hardware.neuroncore import canonical_target

ENV_TARGET = "NEURON_PLATFORM_TARGET_OVERRIDE"
DEFAULT_TARGET = "trn2"


_OVERRIDE: contextvars.ContextVar[str | None] = contextvars.ContextVar("trnsim_nki_target", default=None)


def default_target() -> str:
    """The target when none is given explicitly."""
    return canonical_target(_OVERRIDE.get() or os.environ.get(ENV_TARGET) or DEFAULT_TARGET)


@contextlib.contextmanager
def using_target(target: str | None) -> Iterator[None]:
    """Launches inside the block default to ``target`` (None: no change)."""
    token = _OVERRIDE.set(target) if target else None
    try:
        yield
    finally:
        if token is not None:
            _OVERRIDE.reset(token)


def resolve_target(explicit: str | None) -> str:
    """An explicit target, or the default."""
    return canonical_target(explicit) if explicit else default_target()
