"""Which NeuronCore generation a kernel runs on.

Priority: an explicit ``target=`` / ``platform_target=``, else ``NEURON_PLATFORM_TARGET_OVERRIDE``
(the SDK's variable: ``trn1|inf2|gen2``, ``trn2|gen3``, ``trn3|gen4``), else ``trn2``.
"""

from __future__ import annotations

import os

from trnsim.hardware.neuroncore import canonical_target

ENV_TARGET = "NEURON_PLATFORM_TARGET_OVERRIDE"
DEFAULT_TARGET = "trn2"


def default_target() -> str:
    """The target when none is given explicitly."""
    return canonical_target(os.environ.get(ENV_TARGET) or DEFAULT_TARGET)


def resolve_target(explicit: str | None) -> str:
    """An explicit target, or the default."""
    return canonical_target(explicit) if explicit else default_target()
