"""Front-end guards: what trnsim does not simulate ends in one KernelError line, never a traceback.

Issue 10 item 10: a kernel calling an NKI function trnsim lacks, or calling one with arguments
its signature here does not take, gets ``not simulated: <name>`` with the kernel's file:line.

* :func:`not_simulated` builds that error; it is also an ``AttributeError``, so ``hasattr(nisa,
  "x")`` / ``getattr(nl, "x", None)`` feature checks in kernels still see a missing name.
* :func:`guard_module` wraps every public function of a front-end module so that a ``TypeError``
  raised while *binding* the arguments (the call never entered the function) becomes that
  error (functions taking only ``*args, **kwargs``, whose calls always bind, stay unwrapped), and
  gives the module a ``__getattr__`` for names it does not define. The wrapper costs
  one Python call per API call (measured with benchmarks/nki_sim_speed.py: within noise).
* :func:`exact` marks a function whose signature is the NKI API's (nki-api.md; no public front-end
  function takes ``**kwargs``): an argument it does not take is the kernel's mistake, refused in one
  line naming the valid ones (``invalid_argument``) rather than ``not simulated``. The loop ranges,
  entered thousands of times per launch, take ``**kwargs`` only to refuse them themselves
  (:func:`unexpected_keywords`) without a wrapper frame; ``__signature__`` shows ``(*args)``.
* :func:`not_simulated_value`: a documented argument trnsim takes but whose value it does not
  simulate (``nl.ndarray(address=...)``) is refused, never ignored.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import sysconfig
import types
from collections.abc import Callable, Collection
from typing import Any

from trnsim.nki import runtime, templates
from trnsim.nki.errors import KernelError
from trnsim.nki.tensor import Tensor


class NotSimulatedError(KernelError, AttributeError):
    """An NKI feature or signature trnsim does not simulate (one line)."""


def not_simulated(name: str, detail: str = "") -> NotSimulatedError:
    """The one-line error for ``name`` (an API such as ``nisa.topk``), at the kernel's line."""
    rule = f"not simulated: {name}" + (f" ({detail})" if detail else "")
    return runtime.error_at_user_line(rule, "not_simulated", cls=NotSimulatedError)  # type: ignore[return-value]


_MODULES = {"nl": "nki.language", "nisa": "nki.isa"}


def _unknown_name(prefix: str, name: str, match: str) -> NotSimulatedError:
    """``nl.lod``: not simulated, with the close match trnsim has (one line at the kernel's line).

    The message does not say the name is outside NKI: trnsim holds no list of every real NKI name, so a
    near miss may still be a real function it lacks."""
    rule = (f"not simulated: {prefix}.{name}, no {_MODULES.get(prefix, prefix)} name trnsim knows "
            f"(did you mean {prefix}.{match}?)")
    return runtime.error_at_user_line(rule, "unknown_name", cls=NotSimulatedError)  # type: ignore[return-value]


def missing_tensor_attribute(error: AttributeError, frame: types.FrameType | None) -> KernelError | None:
    """The one-line error for ``error`` when it was raised reading a name a
    :class:`~trnsim.nki.tensor.Tensor` lacks; None for any other error.

    A public name (an NKI tensor method trnsim does not have) is ``not simulated: tensor.<name>``,
    located as :func:`not_simulated` locates it where it is raised: the innermost frame of the
    traceback outside ``trnsim.nki``, else the first one above ``frame`` (the launch that caught
    it). A private name is the internal error ``AttributeError: <name>`` at the kernel's innermost
    line (what the launch makes of an error raised inside trnsim.nki).
    """
    name = getattr(error, "name", None)
    if not isinstance(getattr(error, "obj", None), Tensor) or not isinstance(name, str):
        return None
    private = name.startswith("_")
    libraries = tuple(sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")) if private else ()
    filename, line = "?", 0
    tb = error.__traceback__
    while tb is not None:
        code_file = tb.tb_frame.f_code.co_filename
        if not code_file.startswith(runtime._NKI_DIR) and not (libraries and code_file.startswith(libraries)):
            filename, line = code_file, tb.tb_lineno
        tb = tb.tb_next
    while filename == "?" and frame is not None and not private:
        if not frame.f_code.co_filename.startswith(runtime._NKI_DIR):
            filename, line = frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    sim = runtime.active()
    kernel = sim.kernel_name if sim is not None else "-"
    location = f"{os.path.basename(filename)}:{line}"
    if private:
        where = location if filename != "?" else "?"
        return KernelError(f"AttributeError: {name}", kernel=kernel, location=where, err_id="invalid_kernel")
    return NotSimulatedError(
        f"not simulated: tensor.{name}", kernel=kernel, location=location, err_id="not_simulated"
    )


def _bind_error(public: str, fn: Callable[..., Any] | None = None) -> Callable[[TypeError], Exception]:
    """What a TypeError binding ``fn``'s arguments becomes (one line at the kernel's line).

    A function marked ``__nki_exact__`` takes exactly the NKI API's arguments (nki-api.md): a call
    with others is the kernel's mistake, refused as the toolchain does, naming the argument and the
    valid ones; for the others it may be a real argument trnsim lacks (``not simulated``).
    """

    def make(error: TypeError) -> Exception:
        if fn is None or not getattr(fn, "__nki_exact__", False):
            return not_simulated(public, f"this signature: {error}")
        text = str(error)
        for short in (getattr(fn, "__qualname__", ""), getattr(fn, "__name__", "")):
            if short and text.startswith(f"{short}()"):
                text = public + text[len(short):]
                break
        return runtime.error_at_user_line(f"{text} (its arguments: {argument_names(fn)})", "invalid_argument")

    return make


def argument_names(fn: Callable[..., Any]) -> str:
    """``fn``'s argument names as the one-line errors list them (``*args`` for a loop range)."""
    return ", ".join(
        f"*{p.name}" if p.kind is p.VAR_POSITIONAL else p.name
        for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD
    ) or "none"


def exact(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``fn`` as taking exactly the NKI API's arguments (nki-api.md): a call with any other is
    the kernel's mistake, refused in one line naming the valid ones (see :func:`_bind_error`)."""
    fn.__nki_exact__ = True  # type: ignore[attr-defined]
    return fn


def unexpected_keywords(public: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> KernelError:
    """The one-line error for keywords ``fn`` (NKI ``public``) does not take, for a function that
    checks its ``**kwargs`` itself instead of a guard wrapper (a loop range: no frame per call)."""
    rule = (f"{public}() got an unexpected keyword argument '{next(iter(kwargs))}' "
            f"(its arguments: {argument_names(fn)})")
    return runtime.error_at_user_line(rule, "invalid_argument")


def not_simulated_value(public: str, argument: str, value: Any) -> NotSimulatedError:
    """``not simulated: nl.x (argument y)``: an NKI argument trnsim takes but whose value ``value``
    it does not simulate (refused rather than ignored)."""
    return not_simulated(public, f"argument {argument}={value!r}")


def _guard(fn: Callable[..., Any], public: str) -> Callable[..., Any]:
    bind_error = _bind_error(public, fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TypeError as error:
            tb = error.__traceback__
            if tb is not None and tb.tb_next is None:  # raised binding the arguments
                raise bind_error(error) from None
            raise

    call.__trnsim_guarded__ = True  # type: ignore[attr-defined]
    return call


def _binds_anything(fn: types.FunctionType) -> bool:
    """True when every call binds ``fn``'s arguments: it takes ``*args, **kwargs`` and nothing else
    (``nl.affine_range``: one call per loop, thousands per launch)."""
    code = fn.__code__
    flags = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
    return code.co_flags & flags == flags and code.co_argcount == 0 and code.co_kwonlyargcount == 0


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
                templates.templated(value, public, _bind_error(public, value), name in writes)
            )
        elif not _binds_anything(value):  # (its wrapper would only cost a frame per call: loop ranges)
            namespace[name] = _guard(value, public)

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        # a near miss of a name trnsim has (nl.lod) is most likely a typo: name the close match
        known = [n for n in namespace if not n.startswith("_")]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            raise _unknown_name(prefix, name, close[0])
        raise not_simulated(f"{prefix}.{name}")

    namespace.setdefault("__getattr__", __getattr__)
