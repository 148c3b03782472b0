"""Kernel objects and launches: ``@nki.jit``, ``kernel[grid](...)``, value and timing-only runs.

:func:`launch` is the one entry point: it creates a :class:`~trnsim.nki.runtime.Simulation`,
wraps numpy arguments (or :class:`TensorSpec` placeholders) as HBM tensors, runs every SPMD
instance in row-major order, and returns the kernel's outputs as numpy arrays plus the trace.
Python errors raised by trnsim itself while running a kernel become one-line KernelErrors.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import linecache
import math
import os
import sys
import sysconfig
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from trnsim.errors import TrnsimError
from trnsim.hardware.neuroncore import load_neuroncore
from trnsim.nki import collector, runtime, templates
from trnsim.nki.blas_threads import one_blas_thread
from trnsim.nki.budget import TimeLimitInterrupt, Watchdog, current_limits
from trnsim.nki.dtypes import DtypeError, as_dtype
from trnsim.nki.errors import KernelError
from trnsim.nki.grid import Grid, make_grid, nc
from trnsim.nki.guard import missing_tensor_attribute
from trnsim.nki.heap import keep_heap
from trnsim.nki.perf import BenchmarkResult, LatencyResult, estimate_latency_ns
from trnsim.nki.runtime import Allocation, Buffer, Mode, Simulation
from trnsim.nki.spill import UseLog, plan_spills
from trnsim.nki.spmd import run_ranks
from trnsim.nki.targets import resolve_target
from trnsim.nki.tensor import Tensor
from trnsim.nki.trace import KernelTrace, MemorySpace, timing_only_requested


@dataclass(frozen=True)
class TensorSpec:
    """A placeholder kernel argument: shape and dtype only (timing-only runs)."""

    shape: tuple[int, ...]
    dtype: Any = np.float32

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))


#: a launch without a grid (a Grid is immutable)
_NO_GRID = Grid(())
#: a launch that does not limit BLAS's threads (a nullcontext may be entered again and again)
_NO_BLAS: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


def launch(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    grid: Grid | None = None,
    mode: Mode = Mode.VALUES,
    target: str | None = None,
    frontend: str = "legacy",
    name: str | None = None,
) -> tuple[Any, KernelTrace]:
    """Run ``func`` as a kernel; returns (outputs as numpy, trace)."""
    kernel_name = str(name or getattr(func, "__name__", "kernel"))
    known = _check_call(func, args, kwargs, kernel_name)
    zeros_out = False
    if mode is Mode.VALUES and timing_only_requested():
        mode, zeros_out = Mode.TIMING, True
    spec = load_neuroncore(resolve_target(target))
    grid = grid or _NO_GRID
    sizes = grid.sizes
    trace = KernelTrace(kernel=kernel_name, target=spec.name, num_cores=grid.num_cores, grid=sizes)
    sim = Simulation(
        mode=mode, spec=spec, trace=trace, kernel_name=kernel_name, frontend=frontend, grid=sizes
    )
    # the templates the latest launch like this one learned (given back when this one succeeds)
    kept_key, sim.templates = templates.kept_templates(spec, mode, frontend, sim.grid)
    budget = current_limits()
    sim.max_instructions = budget.max_instructions
    sim.time_limit_s = budget.time_limit_s
    sim.deadline = time.monotonic() + budget.time_limit_s
    token = runtime.activate(sim)
    watchdog = sim.watchdog = Watchdog(budget.time_limit_s)
    # the trace holds ~5 tracked objects per instruction; the cyclic collector would rescan them
    # all again and again (quadratic in trace length). Tiles are freed by reference counting.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    succeeded = False
    blas: contextlib.AbstractContextManager[None] = _NO_BLAS
    keep_heap()  # tile storage, a trace's lists and dicts: no page faults at every launch
    if mode is Mode.VALUES:
        blas = one_blas_thread()
    with blas:
        try:
            params = _param_names(known, len(args))
            hbm_args, copy_back = _wrap_args(sim, args, params)
            hbm_kwargs = {k: _wrap_one(sim, v, k)[0] for k, v in kwargs.items()}
            result: Any = None
            points = list(grid.points()) if grid.dims else [((), 0)]
            if len(points) > 1:
                # ranks that may meet at collectives (one at a time; serial without collectives)
                result = run_ranks(sim, points, lambda: func(*hbm_args, **hbm_kwargs))
            else:
                sim.program_id, sim.core = points[0]
                with watchdog.armed():  # the deadline interrupts only the kernel's body
                    result = func(*hbm_args, **hbm_kwargs)
            templates.settle_outputs(sim)  # (before anything reads the trace)
            outputs = _unwrap(sim, result, zeros_out)
            spec = sim.spec
            plan_spills(
                trace,
                sim.tile_sizes,
                {
                    MemorySpace.SBUF: spec.sbuf_usable_bytes_per_partition,
                    MemorySpace.PSUM: spec.psum_bytes_per_partition,
                },
                sim.next_alloc,
                UseLog(sim.writes_of, sim.reads, sim.reread),
            )
            for arr, alloc in copy_back:
                if alloc.storage is not None:
                    arr[...] = alloc.storage.reshape(arr.shape)
            templates.keep_templates(kept_key, spec, sim.templates)
            succeeded = True
            return outputs, trace
        except TrnsimError:
            raise
        except TimeLimitInterrupt as interrupt:
            raise _time_limit_error(sim, interrupt) from None
        except AttributeError as error:
            missing = missing_tensor_attribute(error, sys._getframe())
            if missing is not None:
                raise missing from None
            _reraise_internal(sim, error)
            raise
        except Exception as error:
            _reraise_internal(sim, error)
            raise
        finally:
            templates.settle_outputs(sim)  # (a failed launch's trace too)
            watchdog.stop()
            runtime.deactivate(token)
            if gc_was_enabled:
                collector.resume(promote=succeeded and mode is Mode.TIMING)


def _time_limit_error(sim: Simulation, interrupt: BaseException) -> KernelError:
    """The watchdog stopped the kernel (e.g. in a plain Python loop): name the limit and the line."""
    # the innermost frame of the kernel's own code (not trnsim, numpy, the stdlib or generated code)
    skip = (runtime._NKI_DIR, "<", *(sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")))
    frames = [f for f in traceback.extract_tb(interrupt.__traceback__) if not f.filename.startswith(skip)]
    where = f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"
    return KernelError(
        f"wall-time budget of {sim.time_limit_s:g} s exceeded (a kernel that never ends? raise it with"
        " --time-limit or TRNSIM_TIME_LIMIT_S)",
        kernel=sim.kernel_name,
        location=where,
        err_id="time_limit_exceeded",
    )


def _reraise_internal(sim: Simulation, error: Exception) -> None:
    """Turn an exception raised inside trnsim.nki (a kernel's mistake) into a KernelError."""
    frames = traceback.extract_tb(error.__traceback__)[1:]  # [0] is launch itself
    libraries = tuple(sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib"))

    def kind(filename: str) -> str:
        if filename.startswith(runtime._NKI_DIR):
            return "nki"
        return "library" if filename.startswith(libraries) else "user"

    kinds = [kind(f.filename) for f in frames]
    last_user = max((i for i, k in enumerate(kinds) if k == "user"), default=-1)
    last_nki = max((i for i, k in enumerate(kinds) if k == "nki"), default=-1)
    if last_nki < last_user:
        return  # the kernel's own Python error: let it through unchanged, as the SDK would
    user = [f for f, k in zip(frames, kinds, strict=True) if k == "user"]
    where = f"{os.path.basename(user[-1].filename)}:{user[-1].lineno}" if user else "?"
    raise KernelError(
        f"{type(error).__name__}: {error}".replace("\n", " "),
        kernel=sim.kernel_name,
        location=where,
        err_id="invalid_kernel",
    ) from None


@dataclass(frozen=True)
class _Signature:
    """What a launch needs of a kernel function's signature, worked out once per function."""

    #: the function's attributes the signature was computed from (a change recomputes it)
    basis: tuple[Any, ...]
    signature: inspect.Signature | None
    names: list[str]
    #: positional arguments that bind without ``Signature.bind`` when no keyword is given:
    #: (fewest, most), or None where only ``bind`` can tell (keyword-only or variadic parameters)
    positional: tuple[int, int] | None


_SIGNATURES: weakref.WeakKeyDictionary[Any, _Signature] = weakref.WeakKeyDictionary()


def _signature_of(func: Callable[..., Any]) -> _Signature:
    """``func``'s signature, memoised per function while its code and defaults stay the same."""
    code = getattr(func, "__code__", None)
    defaults = getattr(func, "__defaults__", None)
    kwdefaults = getattr(func, "__kwdefaults__", None)
    declared = getattr(func, "__signature__", None)
    wrapped = getattr(func, "__wrapped__", None)
    try:
        known = _SIGNATURES.get(func)
    except TypeError:  # not weakly referenceable (or unhashable): work it out each time
        known = None
    if known is not None:
        was = known.basis
        if (was[0] is code and was[1] is defaults and was[2] is kwdefaults and was[3] is declared
                and was[4] is wrapped):
            return known
    basis = (code, defaults, kwdefaults, declared, wrapped)
    try:
        signature: inspect.Signature | None = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None
    params = list(signature.parameters.values()) if signature is not None else []
    plain = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    fewest = sum(1 for p in params if p.default is p.empty)
    # defaults after the required parameters only (as Python requires of a def)
    positional = (fewest, len(params)) if signature is not None and plain else None
    made = _Signature(basis, signature, [p.name for p in params], positional)
    with contextlib.suppress(TypeError):
        _SIGNATURES[func] = made
    return made


def _check_call(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> _Signature:
    """Arguments the kernel's signature does not take: one line at its ``def`` (was a TypeError
    located at "?", as it is raised calling the kernel, before any of its lines). Returns the
    signature (:func:`_param_names` reads its names: one look-up per launch)."""
    known = _signature_of(func)
    signature = known.signature
    if signature is None:
        return known
    fits = known.positional
    if fits is not None and not kwargs and fits[0] <= len(args) <= fits[1]:
        return known  # what bind would accept
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        code = getattr(func, "__code__", None)
        where = "?"
        if code is not None:
            line = code.co_firstlineno  # the first decorator's line: find the def below it
            for number in range(line, line + 50):
                text = linecache.getline(code.co_filename, number).lstrip()
                if text.startswith(("def ", "async def ")):
                    line = number
                    break
            where = f"{os.path.basename(code.co_filename)}:{line}"
        bare = signature.replace(  # names (and defaults) only: annotations may be strings
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        raise KernelError(
            f"{name}{bare} cannot be called with these arguments: {error}",
            kernel=name,
            location=where,
            err_id="invalid_arguments",
        ) from None
    return known


def _param_names(known: _Signature, n: int) -> list[str]:
    names = known.names
    return [names[i] if i < len(names) else f"arg{i}" for i in range(n)]


def _wrap_args(sim: Simulation, args: tuple[Any, ...], names: list[str]) -> tuple[list[Any], list[Any]]:
    wrapped, copy_back = [], []
    for value, name in zip(args, names, strict=True):
        w, back = _wrap_one(sim, value, name)
        wrapped.append(w)
        if back is not None:
            copy_back.append(back)
    return wrapped, copy_back


def _wrap_one(sim: Simulation, value: Any, name: str) -> tuple[Any, Any]:
    """numpy array -> HBM tensor sharing its memory; TensorSpec -> storage-less HBM tensor."""
    spec_like = _as_spec(value)
    if spec_like is not None:
        if sim.values:
            raise KernelError(
                f"argument '{name}' is a shape/dtype placeholder; value runs need numpy arrays"
                " (use trace_kernel for timing-only runs)",
                kernel=sim.kernel_name,
                err_id="placeholder_argument",
            )
        shape, dtype = spec_like
        dt = _arg_dtype(sim, dtype, name)
        alloc = Allocation(sim.next_alloc, Buffer.SHARED_HBM, dt, shape, 1, math.prod(shape), name, None)
        sim.next_alloc += 1
        return Tensor.whole(alloc), None
    if not isinstance(value, np.ndarray):
        value = _array_like(value)
    if isinstance(value, np.ndarray):
        dt = _arg_dtype(sim, value.dtype, name)
        back = None
        if value.dtype != dt or not value.flags.c_contiguous or not value.flags.writeable:
            storage = np.ascontiguousarray(value).astype(dt).reshape(-1)
            if value.flags.writeable and value.dtype == dt:
                back = value
        else:
            storage = value.reshape(-1)
        alloc = Allocation(
            sim.next_alloc,
            Buffer.SHARED_HBM,
            dt,
            tuple(value.shape),
            1,
            value.size,
            name,
            storage if sim.values else None,
        )
        sim.next_alloc += 1
        return Tensor.whole(alloc), (back, alloc) if back is not None else None
    return value, None


def _array_like(value: Any) -> Any:
    """A numpy view of an array-like argument (a torch CPU tensor: ``.numpy()`` or ``__array__``).

    Harnesses written for torch pass tensors; sharing memory keeps the SDK simulator's in-place
    update of inputs the kernel writes. Anything else (scalars, None, configs) passes unchanged.
    """
    if isinstance(value, (str, bytes, int, float, bool, np.generic)) or value is None:
        return value
    to_numpy = getattr(value, "numpy", None)
    if callable(to_numpy):
        try:
            arr = to_numpy()
        except Exception:  # e.g. torch bfloat16 has no numpy dtype: fall back to __array__
            arr = None
        if isinstance(arr, np.ndarray):
            return arr
    if hasattr(value, "__array__") and not isinstance(value, Tensor):
        return np.asarray(value)
    return value


def _as_spec(value: Any) -> tuple[tuple[int, ...], Any] | None:
    if isinstance(value, TensorSpec):
        return value.shape, value.dtype
    shape = getattr(value, "_nki_placeholder_shape", None)
    if shape is not None:
        return tuple(shape), getattr(value, "_nki_placeholder_dtype", np.float32)
    return None


def _arg_dtype(sim: Simulation, dtype: Any, name: str) -> np.dtype[Any]:
    try:
        return as_dtype(dtype)
    except DtypeError as error:
        raise KernelError(
            f"argument '{name}': {error}", kernel=sim.kernel_name, err_id="unsupported_dtype"
        ) from None


def _unwrap(sim: Simulation, result: Any, zeros: bool = False) -> Any:
    if isinstance(result, Tensor):
        if not sim.values:
            return np.zeros(result.shape, result.dtype) if zeros else None
        if result.on_chip:
            raise KernelError(
                f"kernel returned on-chip tensor {result.label} ({result.buffer.value});"
                " outputs must be HBM tensors (nl.shared_hbm)",
                kernel=sim.kernel_name,
                err_id="unsupported_memory",
            )
        a = result.alloc
        if result.offset == 0 and result.shape == a.shape and result.flat is None:
            assert a.storage is not None
            return a.storage.reshape(a.shape).copy()
        return np.array(result.read())
    if isinstance(result, tuple):
        return tuple(_unwrap(sim, r, zeros) for r in result)
    if isinstance(result, list):
        return [_unwrap(sim, r, zeros) for r in result]
    if isinstance(result, dict):
        return {k: _unwrap(sim, v, zeros) for k, v in result.items()}
    return result


# ---------------------------------------------------------------------------------------------
# kernel objects
# ---------------------------------------------------------------------------------------------


class Kernel:
    """A function decorated with ``nki.jit`` (or ``baremetal``/``benchmark``/``profile``).

    Called inside another kernel it is inlined (a sub-kernel); called from Python it runs a
    simulation. ``kernel[grid]`` returns a launcher for an SPMD grid.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        frontend: str = "legacy",
        mode: str = "auto",
        options: dict[str, Any] | None = None,
    ) -> None:
        self.func = func
        self.frontend = frontend
        self.mode = mode
        self.options = dict(options or {})
        self.benchmark_result: BenchmarkResult | None = None
        functools.update_wrapper(self, func)

    @property
    def name(self) -> str:
        return getattr(self.func, "__name__", "kernel")

    @property
    def target(self) -> str | None:
        t = self.options.get("platform_target") or self.options.get("target")
        return str(t) if t else None

    def __getitem__(self, grid: Any) -> GridLauncher:
        if self.frontend == "current" and isinstance(grid, (int, np.integer)):
            grid = nc(int(grid))  # NKI 0.2+: kernel[n] launches on n logical cores (LNC)
        return GridLauncher(self, make_grid(grid, self.name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.run(None, args, kwargs)

    def run(self, grid: Grid | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Inline (inside a kernel) or launch."""
        sim = runtime.active()
        if sim is not None:
            if grid is not None and grid.dims:
                sim.fail(
                    f"{self.name}[grid]",
                    "a sub-kernel cannot be launched with an SPMD grid",
                    "nested_kernel_with_spmd_grid",
                )
            sim.depth += 1
            try:
                return self.func(*args, **kwargs)
            finally:
                sim.depth -= 1
        if self.mode in ("benchmark", "profile"):
            return self._benchmark(grid, args, kwargs)
        outputs, _ = launch(
            self.func,
            args,
            kwargs,
            grid=grid,
            mode=Mode.VALUES,
            target=self.target,
            frontend=self.frontend,
            name=self.name,
        )
        return outputs

    def _benchmark(self, grid: Grid | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        _, trace = launch(
            self.func,
            args,
            kwargs,
            grid=grid,
            mode=Mode.TIMING,
            target=self.target,
            frontend=self.frontend,
            name=self.name,
        )
        latency_ns = estimate_latency_ns(trace)
        self.benchmark_result = BenchmarkResult(LatencyResult(latency_ns / 1000.0), trace)
        return None


class GridLauncher:
    """``kernel[grid]``: call it to launch every SPMD instance."""

    def __init__(self, kernel: Kernel, grid: Grid) -> None:
        self.kernel = kernel
        self.grid = grid

    @property
    def benchmark_result(self) -> BenchmarkResult | None:
        return self.kernel.benchmark_result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.kernel.run(self.grid, args, kwargs)


def as_launch(kernel: Any, grid: Any = None) -> tuple[Callable[..., Any], Grid | None, Kernel | None]:
    """Split a Kernel, a GridLauncher or a plain function into (function, grid, kernel)."""
    g = make_grid(grid) if grid is not None else None
    if isinstance(kernel, GridLauncher):
        return kernel.kernel.func, g or kernel.grid, kernel.kernel
    if isinstance(kernel, Kernel):
        return kernel.func, g, kernel
    if callable(kernel):
        return kernel, g, None
    raise TrnsimError(f"{kernel!r} is not a kernel (a function or an nki.jit kernel)")


def decorate(mode: str, func: Callable[..., Any] | None, options: dict[str, Any], frontend: str) -> Any:
    """``jit``/``benchmark``/``profile``/``baremetal`` as decorator or wrapper, for either front end.

    Wrapping an already decorated kernel (``benchmark(jit(f))``) keeps its function, front end and
    options instead of nesting kernels.
    """

    def make(f: Callable[..., Any]) -> Kernel:
        if isinstance(f, Kernel):
            return Kernel(f.func, frontend=f.frontend, mode=mode, options={**f.options, **options})
        return Kernel(f, frontend=frontend, mode=mode, options=options)

    return make if func is None else make(func)


def run_values(
    kernel: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    frontend: str,
    target: str | None = None,
    grid: Any = None,
) -> Any:
    """Run a kernel, ``kernel[grid]`` or plain function on numpy arrays; return its outputs."""
    func, g, k = as_launch(kernel, grid)
    outputs, _ = launch(
        func,
        args,
        kwargs,
        grid=g,
        mode=Mode.VALUES,
        target=target or (k.target if k is not None else None),
        frontend=k.frontend if k is not None else frontend,
        name=getattr(func, "__name__", None),
    )
    return outputs
