"""Front-end guards: what trnsim does not simulate ends in one KernelError line, never a traceback.

Issue 10 item 10: a kernel calling an NKI function trnsim lacks, or calling one with arguments
its signature here does not take, gets ``not simulated: <name>`` with the kernel's file:line.

* :func:`not_simulated` builds that error; it is also an ``AttributeError``, so ``hasattr(nisa,
  "x")`` / ``getattr(nl, "x", None)`` feature checks in kernels still see a missing name.
* :func:`guard_module` wraps every public function of a front-end module so that a ``TypeError``
  raised while *binding* the arguments (the call never entered the function) becomes that
  error, and gives the module a ``__getattr__`` for names it does not define. The wrapper costs
  one Python call per API call (measured with benchmarks/nki_sim_speed.py: within noise).
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable, Collection
from typing import Any

from trnsim.nki import runtime, templates
from trnsim.nki.errors import KernelError


class NotSimulatedError(KernelError, AttributeError):
    """An NKI feature or signature trnsim does not simulate (one line)."""


def not_simulated(name: str, detail: str = "") -> NotSimulatedError:
    """The one-line error for ``name`` (an API such as ``nisa.topk``), at the kernel's line."""
    sim = runtime.active()
    filename, line = runtime.user_location()
    rule = f"not simulated: {name}" + (f" ({detail})" if detail else "")
    return NotSimulatedError(
        rule,
        kernel=sim.kernel_name if sim is not None else "-",
        location=f"{os.path.basename(filename)}:{line}",
        err_id="not_simulated",
    )


def _bind_error(public: str) -> Callable[[TypeError], Exception]:
    return lambda error: not_simulated(public, f"this signature: {error}")


def _guard(fn: Callable[..., Any], public: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TypeError as error:
            tb = error.__traceback__
            if tb is not None and tb.tb_next is None:  # raised binding the arguments
                raise not_simulated(public, f"this signature: {error}") from None
            raise

    call.__trnsim_guarded__ = True  # type: ignore[attr-defined]
    return call


def guard_module(
    namespace: dict[str, Any], prefix: str, templated: Collection[str] = (), writes: Collection[str] = ()
) -> None:
    """Wrap the public functions in a front-end module's ``namespace``; add ``__getattr__``.

    The functions named in ``templated`` also keep timing-only instruction templates
    (:mod:`trnsim.nki.templates`; each makes one new tile with at most one instruction through the
    shared execution step), as do those in ``writes`` (one instruction writing a tensor argument).
    """
    for name, value in list(namespace.items()):
        if name.startswith("_") or not isinstance(value, types.FunctionType):
            continue
        if getattr(value, "__trnsim_guarded__", False) or value.__module__ == "typing":
            continue
        public = f"{prefix}.{name}"
        if name in templated or name in writes:
            namespace[name] = functools.wraps(value)(
                templates.templated(value, public, _bind_error(public), name in writes)
            )
        else:
            namespace[name] = _guard(value, public)

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise not_simulated(f"{prefix}.{name}")

    namespace.setdefault("__getattr__", __getattr__)
