"""trnsim: a simulator of AWS Trainium.

Three levels, one package:

* ``trnsim.nki``: NKI kernels (legacy ``neuronxcc.nki`` and current ``nki``) run on the CPU with
  the chip's numerics, recording an instruction trace.
* ``trnsim.core``: an event-driven NeuronCore model that turns a trace into a predicted latency.
* ``trnsim.workload`` / ``trnsim.cluster`` / ``trnsim.plan``: a transformer's training step on one
  device, across a cluster, and the search for the best plan with its time, cost and energy.

For notebooks: ``trnsim.estimate``, ``trnsim.plan``, ``trnsim.compare``, ``trnsim.serve``,
``trnsim.serve_compare`` and ``trnsim.load_model``
(see :mod:`trnsim.api` and ``docs/api.md``). They load on first use, so ``import trnsim`` and the
CLI start fast.
"""

from __future__ import annotations

import sys as _sys
import types as _types

__version__ = "0.1.0"

#: Names served lazily from :mod:`trnsim.api`.
_API = ("CompareResult", "EstimateResult", "PlanResult", "ServingCompareResult", "ServingResult", "compare",
        "estimate", "load_model", "plan", "serve", "serve_compare")

__all__ = [
    "CompareResult", "EstimateResult", "PlanResult", "ServingCompareResult", "ServingResult", "__version__",
    "compare", "estimate", "load_model", "plan", "serve", "serve_compare",
]

# Not ``from typing import TYPE_CHECKING``: importing typing would cost ``import trnsim`` ~15 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from trnsim.api import (
        CompareResult,
        EstimateResult,
        PlanResult,
        ServingCompareResult,
        ServingResult,
        compare,
        estimate,
        load_model,
        plan,
        serve,
        serve_compare,
    )


#: Subpackages that share their name with an API function.
_CALLABLE_PACKAGES = ("plan", "serve")


class _CallablePackage(_types.ModuleType):
    """The ``trnsim.plan`` or ``trnsim.serve`` package, callable as the API's ``trnsim.plan(...)`` or
    ``trnsim.serve(...)``.

    Importing the package (any use of the planner or the serving model does) sets the attribute
    ``trnsim.plan`` / ``trnsim.serve`` to it, over the API function served by ``__getattr__``: without
    this, the second ``trnsim.plan(...)`` of a notebook failed with "'module' object is not callable".
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from trnsim import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(_types.ModuleType):
    """``trnsim`` itself: the planner and serving packages it is given as attributes become callable."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE_PACKAGES and type(value) is _types.ModuleType:
            value.__class__ = _CallablePackage
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _API:
        from trnsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'trnsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
