"""``nki.language`` functions shared by both front ends (the legacy ones also take ``mask=``).

Each convenience function issues the ISA instruction the compiler would (element-wise arithmetic
on VectorE, transcendentals on ScalarE, loads/stores as DMAs) and returns a fresh tile. Tile
arithmetic operators, ``t[...] = value`` and ``t += value`` are implemented here as well.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Iterator
from typing import Any

import ml_dtypes
import numpy as np

from trnsim.hardware.neuroncore import NeuronCoreSpec, load_neuroncore
from trnsim.nki import direct_alloc, runtime, tensor
from trnsim.nki import isa_impl as isa
from trnsim.nki.alu import ACTIVATIONS, COMPARISONS
from trnsim.nki.dtypes import DtypeError, as_dtype, dtype_name, is_float, promote, scalar_dtype
from trnsim.nki.guard import exact, not_simulated_value, unexpected_keywords
from trnsim.nki.indexing import IndexExpr
from trnsim.nki.runtime import Buffer, LoopFrame, Simulation
from trnsim.nki.tensor import ParDim, Tensor
from trnsim.nki.trace import Engine, Operand

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def to_buffer(sim: Simulation, instr: str, buffer: Any, default: Buffer = Buffer.SBUF) -> Buffer:
    """Normalise a ``buffer=`` argument (enum, name, or an ``ncc`` allocator)."""
    if buffer is None:
        return default
    if isinstance(buffer, Buffer):
        return buffer
    inner = getattr(buffer, "buffer", None)
    if isinstance(inner, Buffer):
        return inner
    try:
        return Buffer(str(getattr(buffer, "value", buffer)))
    except ValueError:
        sim.fail(
            instr,
            f"unknown buffer {buffer!r} (valid: sbuf, psum, hbm, shared_hbm, private_hbm)",
            "unsupported_memory",
        )


#: dtype arguments already normalised (``np.float32``, ``nl.bfloat16``, names...): kernels pass
#: the same few on every instruction
_new_object = object.__new__
_DTYPES: dict[Any, np.dtype[Any]] = {}


def to_dtype(sim: Simulation, instr: str, dtype: Any) -> np.dtype[Any]:
    """Normalise a dtype argument, failing with a KernelError."""
    try:
        known = _DTYPES.get(dtype)
    except TypeError:  # unhashable: as_dtype reports it
        known = None
    if known is not None:
        return known
    try:
        dt = as_dtype(dtype)
    except DtypeError as error:
        sim.fail(instr, str(error), "unsupported_dtype")
    with contextlib.suppress(TypeError):
        _DTYPES[dtype] = dt
    return dt


def new_tensor(
    sim: Simulation, instr: str, shape: Any, dtype: Any, buffer: Any = None, name: str = "", fill: Any = None
) -> Tensor:
    """Allocate a tensor (legacy block dims before ``nl.par_dim`` allowed)."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(shape)
    buf = to_buffer(sim, instr, buffer)
    paxis = 0
    for i, d in enumerate(shape):
        if isinstance(d, ParDim):
            paxis = i
    dt = to_dtype(sim, instr, dtype)
    alloc = sim.allocate(instr, tuple(int(d) for d in shape), dt, buf, name or "", fill, paxis)
    if direct_alloc.is_direct(buffer):
        if fill is not None:
            sim.fail(
                instr,
                "a tensor placed by direct allocation cannot be created with an initial value",
                "tensor_creation_on_scratchpad_with_init_value_not_supported",
            )
        direct_alloc.place(sim, instr, buffer, alloc.shape, paxis, dt.itemsize)
        sim.direct = True
        sim.tile_sizes.pop(alloc.alloc_id, None)  # fixed addresses: not spilled
    return Tensor.whole(alloc)


def refuse_in_allocated_kernel(sim: Simulation, instr: str, what: str, err_id: str) -> None:
    """Direct allocation forbids APIs that create hidden tensors (nki-semantics §4)."""
    if sim.direct:
        sim.fail(instr, f"{what} is not allowed in a kernel that uses direct allocation", err_id)


def new_tile(
    sim: Simulation,
    instr: str,
    shape: tuple[int, ...],
    dtype: Any,
    buffer: Buffer = Buffer.SBUF,
    overwritten: bool = False,
) -> Tensor:
    """A fresh result tile (partition dim first); ``overwritten``: its instruction writes it whole."""
    dt = dtype if isinstance(dtype, np.dtype) else to_dtype(sim, instr, dtype)
    alloc = sim.allocate_tile(instr, tuple(shape), dt, buffer, runtime.OVERWRITTEN if overwritten else None)
    alloc.implicit = True
    return Tensor.whole(alloc)


def to_sbuf(sim: Simulation, t: Any, instr: str, always: bool = False) -> Any:
    """The copy to SBUF the legacy compiler inserts for a PSUM operand of an SBUF-only reader.

    nki-semantics §2: a result placed in PSUM by default (``nl.transpose``, ``nc_transpose`` on
    TensorE, a matmul) and read by TensorE is copied to SBUF by the compiler; ``affine_select``
    (GpSimdE) copies any PSUM input (``always``). The copy is a VectorE ``tensor_copy`` in the
    trace (charged in timing). A PSUM tile the kernel placed itself stays an error, as does any
    PSUM operand under the current API (no implicit copies there).
    """
    if (
        not isinstance(t, Tensor)
        or t.alloc.buffer is not Buffer.PSUM
        or sim.frontend != "legacy"
        or not (always or t.alloc.implicit)
    ):
        return t
    tmp = new_tile(sim, instr, t.shape, t.dtype)
    isa.tensor_copy(sim, tmp, t, api="implicit_copy", instr=instr)
    return tmp


def fresh(sim: Simulation, result: Tensor, instr: Any) -> Tensor:
    """Mark ``result`` as the latest instruction's fresh output (assignment may retarget it)."""
    sim.last_result = (result, instr, sim.last_mask, None, None)  # (None, None: see _iadd)
    return result


def spec_now() -> NeuronCoreSpec:
    """The active target's spec (the default target outside kernels)."""
    sim = runtime.active()
    if sim is not None:
        return sim.spec
    from trnsim.nki.targets import default_target

    return load_neuroncore(default_target())


# ---------------------------------------------------------------------------------------------
# creation
# ---------------------------------------------------------------------------------------------


# Creation functions: the legacy signatures of nki-api.md §2.2 (``buffer``/``name`` keyword-only);
# the current front end (trnsim.nki.current.language) has its own, §3.4, calling these.


@exact
def ndarray(shape: Any, dtype: Any, *, buffer: Any = None, name: str = "") -> Tensor:
    """An uninitialised tensor (NaN / sentinel filled)."""
    sim = runtime.current("nl.ndarray")
    return new_tensor(sim, "nl.ndarray", shape, dtype, buffer, name)


def _filled(api: str, shape: Any, value: Any, dtype: Any, buffer: Any, name: str) -> Tensor:
    sim = runtime.current(api)
    if direct_alloc.is_direct(buffer):
        sim.fail(
            api,
            "a tensor placed by direct allocation cannot be created with an initial value"
            " (nl.ndarray, then assign)",
            "tensor_creation_on_scratchpad_with_init_value_not_supported",
        )
    if not to_buffer(sim, api, buffer).on_chip:
        # nki-semantics §5: only on-chip tensors take a fill; an HBM one is created uninitialised
        sim.fail(
            api,
            "an HBM tensor cannot be created with an initial value (nl.ndarray in HBM, then store"
            " a filled SBUF tile)",
            "hbm_tensor_with_init_value_not_supported",
        )
    if sim.values:
        # the memset or store below writes every element (or the launch fails): the storage
        # skips the uninitialised-memory fill, one pass over fresh memory less; the PSUM
        # accumulation state is the one an uninitialised tensor starts with, as before
        t = new_tensor(sim, api, shape, dtype, buffer, name, runtime.OVERWRITTEN)
        if t.alloc.mm_state is not None:
            t.alloc.mm_state = 0
    else:
        t = new_tensor(sim, api, shape, dtype, buffer, name)
    if t.on_chip:
        tile = t if t.paxis == 0 else None
        if tile is not None:
            isa.memset(sim, t, value, api=api, instr=api)
        elif sim.values and t.alloc.storage is not None:
            runtime.writable_storage(t.alloc)[...] = isa.to_dtype(
                np.float32(value) if is_float(t.dtype) else value, t.dtype
            )
    return t


@exact
def zeros(shape: Any, dtype: Any, *, buffer: Any = None, name: str = "") -> Tensor:
    """A zero-filled tensor (memset on VectorE for on-chip tiles)."""
    return _filled("nl.zeros", shape, 0, dtype, buffer, name)


@exact
def ones(shape: Any, dtype: Any, *, buffer: Any = None, name: str = "") -> Tensor:
    """A tensor of ones."""
    return _filled("nl.ones", shape, 1, dtype, buffer, name)


@exact
def full(shape: Any, fill_value: Any, dtype: Any, *, buffer: Any = None, name: str = "") -> Tensor:
    """A tensor filled with ``fill_value``."""
    return _filled("nl.full", shape, fill_value, dtype, buffer, name)


@exact
def zeros_like(a: Tensor, dtype: Any = None, *, buffer: Any = None, name: str = "") -> Tensor:
    """Zeros shaped like ``a``."""
    return zeros(a.shape, dtype or a.dtype, buffer=buffer or a.buffer, name=name)


@exact
def empty_like(a: Tensor, dtype: Any = None, *, buffer: Any = None, name: str = "") -> Tensor:
    """An uninitialised tensor shaped like ``a``."""
    return ndarray(a.shape, dtype or a.dtype, buffer=buffer or a.buffer, name=name)


@exact
def rand(shape: Any, dtype: Any = np.float32) -> Tensor:
    """Uniform [0, 1) random values (statistical fidelity only)."""
    return new_rand(shape, dtype, None, "")


def new_rand(shape: Any, dtype: Any, buffer: Any, name: str) -> Tensor:
    """``nl.rand``'s tensor in ``buffer`` (the current API takes one; the legacy one is SBUF)."""
    sim = runtime.current("nl.rand")
    t = new_tensor(sim, "nl.rand", shape, dtype, buffer, name)
    vals = sim.rng.random(t.shape, dtype=np.float32) if sim.values else None
    isa.execute(sim, "nl.rand", Engine.GPSIMD, "rand", t, [], lambda v: vals, attrs={"api": "nl.rand"})
    return t


@exact
def random_seed(seed: Any, *, mask: Any = None) -> None:
    """Reseed the simulation's random generator (a ``mask`` is not simulated)."""
    sim = runtime.current("nl.random_seed")
    if mask is not None:
        raise not_simulated_value("nl.random_seed", "mask", mask)
    value = seed.read().ravel()[0] if isinstance(seed, Tensor) and sim.values else seed
    sim.rng = np.random.default_rng(int(value) if not isinstance(value, Tensor) else 0)


@exact
def shared_constant(constant: Any, dtype: Any = None) -> Tensor:
    """A constant array placed in HBM."""
    sim = runtime.current("nl.shared_constant")
    if isinstance(constant, str):
        constant = np.load(constant)
    arr = np.asarray(constant)
    dt = to_dtype(sim, "nl.shared_constant", dtype or arr.dtype)
    return new_tensor(sim, "nl.shared_constant", arr.shape, dt, Buffer.SHARED_HBM, "constant", arr)


@exact
def shared_identity_matrix(n: int, dtype: Any = np.uint8) -> Tensor:
    """An ``n x n`` identity matrix in HBM."""
    return shared_constant(np.eye(n), dtype)


# ---------------------------------------------------------------------------------------------
# loops and SPMD
# ---------------------------------------------------------------------------------------------


def _range(api: str, args: tuple[Any, ...]) -> range:
    """The loop's range: integer start/stop/step only (nki-api.md; ``nl.affine_range(2.5)`` ran
    2 iterations)."""
    names = ("stop",) if len(args) == 1 else ("start", "stop", "step")
    return range(*[runtime.integer_argument(api, f"{api} {n}", a) for n, a in zip(names, args, strict=False)])


# The loop ranges take ``(*args)`` (nki-api.md §1.5). A range is entered once per loop, thousands of
# times per launch, so each checks its keywords itself rather than through a guard wrapper (a frame
# per call; trnsim.nki.guard leaves ``*args, **kwargs`` functions unwrapped); ``__signature__`` says
# what they take.
_RANGE_SIGNATURE = inspect.Signature([inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL)])


def affine_range(*args: Any, **kwargs: Any) -> Iterator[int]:
    """Independent iterations (run in order; loop-carried dependencies are detected)."""
    if kwargs:
        raise unexpected_keywords("nl.affine_range", affine_range, kwargs)
    r = range(args[0]) if len(args) == 1 and args[0].__class__ is int else _range("nl.affine_range", args)
    sim = runtime._ACTIVE.get()
    if sim is None:
        yield from r
        return
    # LoopFrame(start_alloc=sim.next_alloc) field by field (no __init__ frame: one per loop, and
    # blocked kernels run thousands of short loops)
    frame = _new_object(LoopFrame)
    frame.start_alloc = sim.next_alloc
    frame.iteration = 0
    frame.start = frame.mark = sim.writes_made
    loops = sim.loops
    if loops:
        parent = frame.parent = loops[-1]
        frame.parent_iteration = parent.iteration
    else:
        frame.parent = None
        frame.parent_iteration = 0
    frame.owned = None
    loops.append(frame)
    try:
        if r.start == 0 and r.step == 1:  # (the common case: the index is the iteration)
            for i in r:
                frame.iteration = i
                frame.mark = sim.writes_made  # (writes numbered below it: earlier iterations')
                yield i
        else:
            for k, i in enumerate(r):
                frame.iteration = k
                frame.mark = sim.writes_made
                yield i
    finally:
        sim.end_loop(frame)


def sequential_range(*args: Any, **kwargs: Any) -> Iterator[int]:
    """Iterations that may depend on each other."""
    if kwargs:
        raise unexpected_keywords("nl.sequential_range", sequential_range, kwargs)
    yield from _range("nl.sequential_range", args)


def static_range(*args: Any, **kwargs: Any) -> Iterator[int]:
    """Iterations unrolled at trace time."""
    if kwargs:
        raise unexpected_keywords("nl.static_range", static_range, kwargs)
    yield from _range("nl.static_range", args)


for _loop in (affine_range, sequential_range, static_range):
    _loop.__signature__ = _RANGE_SIGNATURE  # type: ignore[attr-defined]
    exact(_loop)


def program_id(axis: int = 0) -> int:
    """This SPMD instance's index along ``axis`` (0 without a grid, for axis 0 only)."""
    sim = runtime.current("nl.program_id")
    if axis.__class__ is not int:
        axis = runtime.integer_argument("nl.program_id", "axis", axis)
    if not sim.program_id:
        if axis != 0:  # axis 0 of a launch without a grid is its one instance (or core, LNC)
            sim.fail("nl.program_id", f"axis {axis} of a launch without a grid (valid: axis 0)",
                     "invalid_axis")
        return 0
    if not 0 <= axis < len(sim.program_id):
        sim.fail("nl.program_id", f"axis {axis} outside the {len(sim.grid)}-D launch grid"
                 f" (valid: 0..{len(sim.grid) - 1})", "invalid_axis")
    return sim.program_id[axis]


def num_programs(axes: Any = None) -> int:
    """Instances along ``axes`` (all instances when None)."""
    sim = runtime.current("nl.num_programs")
    grid = sim.grid or (1,)
    if axes is None:
        return int(np.prod(grid))
    if isinstance(axes, (tuple, list)):
        return int(np.prod([grid[a] for a in axes]))
    if not 0 <= axes < len(grid):
        sim.fail("nl.num_programs", f"axis {axes} outside the {len(sim.grid)}-D launch grid", "invalid_axis")
    return grid[axes]


def program_ndim() -> int:
    """Rank of the launch grid (0 without one)."""
    return len(runtime.current("nl.program_ndim").grid)


def par_dim(p: int) -> ParDim:
    """Mark the partition dimension in a legacy shape."""
    return ParDim(p)


# ---------------------------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------------------------


def load(src: Any, *, mask: Any = None, dtype: Any = None) -> Tensor:
    """HBM -> a new SBUF tile (a DMA)."""
    sim = runtime.current("nl.load")
    isa.check_tensor(
        sim, "nl.load", src, "src", (Buffer.HBM, Buffer.SHARED_HBM, Buffer.PRIVATE_HBM), tile=False
    )
    shape = src.shape if len(src.shape) >= 2 else (src.shape[0] if src.shape else 1, 1)
    # an unmasked load in bounds writes every element of the new tile (or fails)
    dst = new_tile(sim, "nl.load", shape, dtype or src.dtype, overwritten=mask is None and src.oob is None)
    instr = isa.dma_copy(sim, dst, src, mask=mask, opcode="load", instr="nl.load")
    return fresh(sim, dst, instr)


def store(dst: Any, value: Any, *, mask: Any = None) -> None:
    """A tile -> HBM (a DMA; a PSUM tile is copied to SBUF first)."""
    sim = runtime.current("nl.store")
    isa.check_tensor(
        sim, "nl.store", dst, "dst", (Buffer.HBM, Buffer.SHARED_HBM, Buffer.PRIVATE_HBM), tile=False
    )
    if not isinstance(value, Tensor):
        value = full(dst.shape if len(dst.shape) >= 2 else (dst.size, 1), value, dst.dtype)
    isa.check_tensor(sim, "nl.store", value, "value")
    if value.buffer is Buffer.PSUM:
        tmp = new_tile(sim, "nl.store", value.shape, value.dtype)
        isa.tensor_copy(sim, tmp, value, mask=mask, api="nl.store", instr="nl.store")
        value = tmp
    if value.size != dst.size:
        if value.size == 1 or _broadcastable(value.shape, dst.shape):
            value = value.broadcast_to(dst.shape) if value.ndim == dst.ndim else value
        if value.size != dst.size:
            sim.fail(
                "nl.store",
                f"value {value.shape} and dst {dst.shape} differ in size",
                "store_dst_shape_smaller_than_other_shape",
            )
    isa.dma_copy(sim, dst, value, mask=mask, opcode="store", instr="nl.store")


def atomic_rmw(dst: Any, value: Any, op: Any, *, mask: Any = None) -> None:
    """``dst op= value`` into HBM as one read-modify-write DMA (``np.add`` only); with an index
    tile in ``dst``, rows that repeat all add (the point of an atomic update)."""
    sim = runtime.current("nl.atomic_rmw")
    if isa.op_name(op) != "add":
        sim.fail("nl.atomic_rmw", f"op {op!r} is not supported (valid: np.add)", "unsupported_alu_op")
    isa.check_tensor(
        sim, "nl.atomic_rmw", dst, "dst", (Buffer.HBM, Buffer.SHARED_HBM, Buffer.PRIVATE_HBM), tile=False
    )
    if not isinstance(value, Tensor):
        value = full(dst.shape if len(dst.shape) >= 2 else (dst.size, 1), value, np.float32)
    isa.check_tensor(sim, "nl.atomic_rmw", value, "value")
    isa.dma_copy(
        sim,
        dst,
        value,
        mask=mask,
        opcode="atomic_rmw",
        instr="nl.atomic_rmw",
        accumulate=True,
        attrs={"op": "add"},
    )


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return len(a) == len(b) and all(x in (1, y) for x, y in zip(a, b, strict=True))


def load_transpose2d(src: Any, *, mask: Any = None, dtype: Any = None) -> Tensor:
    """HBM [F, P] -> an SBUF tile [P, F] (a transposing DMA)."""
    sim = runtime.current("nl.load_transpose2d")
    isa.check_tensor(
        sim,
        "nl.load_transpose2d",
        src,
        "src",
        (Buffer.HBM, Buffer.SHARED_HBM, Buffer.PRIVATE_HBM),
        tile=False,
    )
    if src.ndim != 2:
        sim.fail("nl.load_transpose2d", f"src must be 2-D, got {src.shape}", "exceed_max_supported_dimension")
    dst = new_tile(sim, "nl.load_transpose2d", (src.shape[1], src.shape[0]), dtype or src.dtype)
    instr = isa.dma_copy(
        sim, dst, src, mask=mask, opcode="load_transpose2d", instr="nl.load_transpose2d", transpose=True
    )
    return fresh(sim, dst, instr)


def copy(src: Any, *, mask: Any = None, dtype: Any = None) -> Tensor:
    """A copy of a tile (VectorE), optionally converted."""
    sim = runtime.current("nl.copy")
    if not isinstance(src, Tensor):
        sim.fail("nl.copy", f"src must be a tile, got {type(src).__name__}", "unsupported_operand")
    if not src.on_chip:
        return load(src, mask=mask, dtype=dtype)
    dst = new_tile(sim, "nl.copy", src.shape, dtype or src.dtype)
    instr = isa.tensor_copy(sim, dst, src, mask=mask, api="nl.copy", instr="nl.copy")
    return fresh(sim, dst, instr)


copy._nki_op = "copy"  # type: ignore[attr-defined]  # nl.copy is also the identity activation


def static_cast(input_data: Any, dtype: Any) -> Any:
    """A converted copy: a new tile inside a kernel; on the host, a converted numpy array.

    Test harnesses call ``nl.static_cast(x, nl.bfloat16)`` outside any kernel to build inputs and
    references (nki-semantics §1): that is ml_dtypes ``astype`` (round to nearest even; fp8
    overflow as ml_dtypes defines it), returning an ndarray (or numpy scalar) of that dtype.
    """
    if not isinstance(input_data, Tensor):
        try:
            dt = as_dtype(dtype)
        except DtypeError as error:
            sim = runtime.active()
            if sim is not None:
                sim.fail("nl.static_cast", str(error), "unsupported_dtype")
            raise runtime.error_at_user_line(str(error), "unsupported_dtype",
                                             instruction="nl.static_cast") from None
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.asarray(input_data)
            return arr.astype(dt) if arr.ndim else dt.type(arr.astype(dt))
    return copy(input_data, dtype=dtype)


@exact
def broadcast_to(src: Any, *, shape: Any) -> Any:
    """A broadcast view of ``src`` (legacy signature; the current one is :func:`broadcast_as`)."""
    return broadcast_as(src, shape)


def broadcast_as(src: Any, shape: Any, dtype: Any = None) -> Any:
    """A broadcast view of ``src``; a ``dtype`` other than the source's makes a converted copy
    (nki-semantics §5; current ``nl.broadcast_to(x, shape, dtype=None)``)."""
    sim = runtime.current("nl.broadcast_to")
    if shape is None:
        sim.fail("nl.broadcast_to", "nl.broadcast_to needs a shape", "invalid_shape")
    view = src.broadcast_to(shape)
    if dtype is not None and to_dtype(sim, "nl.broadcast_to", dtype) != src.dtype:
        return copy(view, dtype=dtype)
    return view


def expand_dims(data: Any, axis: int) -> Any:
    """Insert a size-1 dimension."""
    return data.expand_dims(axis)


@exact
def device_print(prefix: Any, x: Any, *, mask: Any = None) -> None:
    """Print a tensor's values from inside the kernel (value mode only; a ``mask`` is not simulated)."""
    sim = runtime.current("nl.device_print")
    if mask is not None:
        raise not_simulated_value("nl.device_print", "mask", mask)
    if sim.values:
        shown = x.read() if isinstance(x, Tensor) else x
        print(prefix, shown)  # the kernel asked for this output


# ---------------------------------------------------------------------------------------------
# element-wise
# ---------------------------------------------------------------------------------------------

_SCALARE_UNARY = {name for name in ACTIVATIONS if name not in ("copy", "identity", "bypass")}


def unary(name: str, x: Any, dtype: Any = None, mask: Any = None) -> Any:
    """An element-wise function of one tile (ScalarE activation)."""
    api = f"nl.{name}"
    sim = runtime.current(api)
    if not isinstance(x, Tensor):
        with np.errstate(all="ignore"):
            return float(ACTIVATIONS[name](np.asarray(x, dtype=np.float32)))
    isa.check_tensor(sim, api, x, "x")
    dt = dtype or (x.dtype if is_float(x.dtype) else np.float32)
    dst = new_tile(sim, api, x.shape, dt)
    instr = isa.activation(sim, dst, name, x, mask=mask, api=api, instr=api)
    return fresh(sim, dst, instr)


def _result_dtype(sim: Simulation, api: str, name: str, a: Any, b: Any, dtype: Any) -> np.dtype[Any]:
    if dtype is not None:
        return to_dtype(sim, api, dtype)
    if name in COMPARISONS:
        return np.dtype(np.bool_)
    da = a.dtype if isinstance(a, Tensor) else scalar_dtype(a)
    db = b.dtype if isinstance(b, Tensor) else scalar_dtype(b)
    return promote(da, db)


def binary(name: str, a: Any, b: Any, dtype: Any = None, mask: Any = None) -> Any:
    """An element-wise function of two operands (VectorE tensor_tensor / tensor_scalar)."""
    api = f"nl.{name}"
    sim = runtime.current(api)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        with np.errstate(all="ignore"):
            return isa._apply(
                name,
                np.float32(a) if isinstance(a, float) else a,
                np.float32(b) if isinstance(b, float) else b,
            ).item()
    dt = _result_dtype(sim, api, name, a, b, dtype)
    for label, t in (("x", a), ("y", b)):
        if isinstance(t, Tensor):
            isa.check_tensor(sim, api, t, label)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.shape[0] != b.shape[0]:
            # nl.* broadcast NumPy-style, along the partition dim too (nki-semantics §5): a
            # [1, F] or [1, 1] tile is read with partition stride 0
            if a.ndim == b.ndim and 1 in (a.shape[0], b.shape[0]):
                if a.shape[0] == 1:
                    a = a.broadcast_to((b.shape[0], *a.shape[1:]))
                else:
                    b = b.broadcast_to((a.shape[0], *b.shape[1:]))
            else:
                sim.fail(
                    api,
                    f"partition counts differ: x {a.shape}, y {b.shape} (valid: equal, or 1 to broadcast)",
                    "num_partition_mismatch",
                )
        if a.shape != b.shape and isa.free_size(b) == 1 and isa.free_size(a) > 1:
            return _tensor_scalar(sim, api, name, a, b, dt, mask, False)
        if a.shape != b.shape and isa.free_size(a) == 1 and isa.free_size(b) > 1:
            return _tensor_scalar(sim, api, name, b, a, dt, mask, True)
        shape = None
        if a.ndim == b.ndim:
            try:
                shape = tuple(np.broadcast_shapes(a.shape, b.shape))
            except ValueError:
                shape = None
        if shape is None:
            sim.fail(api, f"shapes {a.shape} and {b.shape} do not broadcast", "shape_mismatch")
        a2 = a if a.shape == shape else a.broadcast_to(shape)
        b2 = b if b.shape == shape else b.broadcast_to(shape)
        dst = new_tile(sim, api, shape, dt)
        instr = isa.tensor_tensor(sim, dst, a2, b2, name, mask=mask, api=api, instr=api)
        return fresh(sim, dst, instr)
    if isinstance(a, Tensor):
        return _tensor_scalar(sim, api, name, a, b, dt, mask, False)
    return _tensor_scalar(sim, api, name, b, a, dt, mask, True)


def _tensor_scalar(
    sim: Simulation, api: str, name: str, t: Tensor, s: Any, dt: Any, mask: Any, reverse: bool
) -> Tensor:
    dst = new_tile(sim, api, t.shape, dt)
    instr = isa.tensor_scalar(sim, dst, t, name, s, reverse0=reverse, mask=mask, api=api, instr=api)
    return fresh(sim, dst, instr)


def where(condition: Any, x: Any, y: Any, *, dtype: Any = None, mask: Any = None) -> Tensor:
    """``condition ? x : y`` element-wise (VectorE select)."""
    sim = runtime.current("nl.where")
    isa.check_tensor(sim, "nl.where", condition, "condition")
    ref = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else condition
    dt = dtype or (ref.dtype if isinstance(ref, Tensor) and ref is not condition else np.float32)
    for label, t in (("x", x), ("y", y)):
        if isinstance(t, Tensor) and t.shape != condition.shape and t.size != 1:
            sim.fail(
                "nl.where", f"{label} {t.shape} does not match condition {condition.shape}", "shape_mismatch"
            )
    dst = new_tile(sim, "nl.where", condition.shape, dt)
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        c, a, b = v
        return np.where(np.asarray(c).reshape(shape) != 0, a, b)

    instr = isa.execute(
        sim,
        "nl.where",
        Engine.VECTOR,
        "select",
        dst,
        [("condition", condition), ("x", x), ("y", y)],
        compute,
        mask=mask,
        attrs={"op": "select", "api": "nl.where"},
    )
    return fresh(sim, dst, instr)


#: ``nl`` reduction function -> the tensor_reduce operator it issues
REDUCTION_OPS = {
    "sum": "add",
    "max": "maximum",
    "min": "minimum",
    "prod": "multiply",
    "mean": "mean",
    "var": "var",
    "all": "logical_and",
}


def reduce(
    name: str, x: Any, axis: Any, dtype: Any = None, mask: Any = None, keepdims: bool = False, **_: Any
) -> Tensor:
    """A reduction along free axes (VectorE tensor_reduce)."""
    api = f"nl.{name}"
    sim = runtime.current(api)
    isa.check_tensor(sim, api, x, "x")
    axes = isa.normalize_axes(sim, api, axis, x.ndim)
    shape = isa.reduced_shape(x.shape, axes, keepdims)
    op = REDUCTION_OPS[name]
    dt = dtype or (np.float32 if name in ("mean", "var") and not is_float(x.dtype) else x.dtype)
    dst = new_tile(sim, api, shape, dt)
    instr = isa.tensor_reduce(sim, dst, op, x, axes, mask=mask, api=api, instr=api)
    return fresh(sim, dst, instr)


@exact
def matmul(x: Any, y: Any, *, transpose_x: bool = False, mask: Any = None) -> Tensor:
    """``x @ y`` (``x.T @ y`` with ``transpose_x``) into a new fp32 PSUM tile."""
    sim = runtime.current("nl.matmul")
    x = to_sbuf(sim, x, "nl.matmul")
    y = to_sbuf(sim, y, "nl.matmul")
    isa.check_tensor(sim, "nl.matmul", x, "x")
    isa.check_tensor(sim, "nl.matmul", y, "y")
    stationary = x
    if not transpose_x:
        refuse_in_allocated_kernel(
            sim,
            "nl.matmul",
            "nl.matmul without transpose_x=True (a hidden TensorE transpose)",
            "transpose_on_tensor_engine_not_allowed_in_allocated_kernel",
        )
        # the compiler inserts a TensorE transpose of x (through PSUM, then back to SBUF)
        t_psum = new_tile(sim, "nl.matmul", (x.shape[1], x.shape[0]), np.float32, Buffer.PSUM)
        isa.nc_transpose(sim, t_psum, x, engine="tensor", api="nl.matmul", instr="nl.matmul")
        stationary = new_tile(sim, "nl.matmul", t_psum.shape, x.dtype)
        isa.tensor_copy(sim, stationary, t_psum, api="nl.matmul", instr="nl.matmul")
        ids = getattr(x, "index_ids", None)
        if mask is not None and ids is not None and len(ids) == 2:
            stationary.index_ids = (ids[1], ids[0])  # x's index variables, transposed with it
    dst = new_tile(sim, "nl.matmul", (isa.free_size(stationary), isa.free_size(y)), np.float32, Buffer.PSUM)
    instr = isa.nc_matmul(
        sim, dst, stationary, y, accumulate=False, mask=mask, api="nl.matmul", instr="nl.matmul"
    )
    return fresh(sim, dst, instr)


@exact
def transpose(x: Any, *, dtype: Any = None, mask: Any = None) -> Tensor:
    """A 2-D transpose on TensorE into PSUM."""
    sim = runtime.current("nl.transpose")
    isa.check_tensor(sim, "nl.transpose", x, "x")
    if x.buffer is Buffer.SBUF:
        refuse_in_allocated_kernel(
            sim,
            "nl.transpose",
            "a TensorE transpose",
            "transpose_on_tensor_engine_not_allowed_in_allocated_kernel",
        )
    dst = new_tile(sim, "nl.transpose", (isa.free_size(x), x.shape[0]), dtype or x.dtype, Buffer.PSUM)
    engine = "tensor" if x.buffer is Buffer.SBUF else "vector"
    instr = isa.nc_transpose(sim, dst, x, engine=engine, mask=mask, api="nl.transpose", instr="nl.transpose")
    return fresh(sim, dst, instr)


def _fp32_compute(api: str, compute_dtype: Any) -> None:
    """Refuse a ``compute_dtype`` trnsim does not compute in (it computes these in fp32)."""
    if compute_dtype is not None and np.dtype(as_dtype(compute_dtype)) != np.float32:
        raise not_simulated_value(api, "compute_dtype", compute_dtype)


def softmax(
    x: Any, axis: Any = -1, *, dtype: Any = None, compute_dtype: Any = None, mask: Any = None
) -> Tensor:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (max, subtract, exp+sum, divide), computed
    in fp32 (a ``compute_dtype`` other than fp32 is not simulated)."""
    _fp32_compute("nl.softmax", compute_dtype)
    refuse_in_allocated_kernel(
        runtime.current("nl.softmax"),
        "nl.softmax",
        "nl.softmax (hidden intermediate tensors)",
        "unsupported_api_in_allocated_kernel",
    )
    m = reduce("max", x, axis, np.float32, mask, keepdims=True)
    shifted = binary("subtract", x, m, np.float32, mask)
    e = unary("exp", shifted, np.float32, mask)
    s = reduce("sum", e, axis, np.float32, mask, keepdims=True)
    return binary("divide", e, s, dtype or x.dtype, mask)


@exact
def rms_norm(
    x: Any,
    w: Any,
    axis: Any,
    n: Any,
    epsilon: float = 1e-6,
    *,
    dtype: Any = None,
    compute_dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """``x / sqrt(mean(x^2) + eps) * w``, computed in fp32 (another ``compute_dtype`` is not simulated)."""
    _fp32_compute("nl.rms_norm", compute_dtype)
    sq = unary("square", x, np.float32, mask)
    ms = reduce("sum", sq, axis, np.float32, mask, keepdims=True)
    ms = binary("multiply", ms, 1.0 / float(n), np.float32, mask)
    ms = binary("add", ms, float(epsilon), np.float32, mask)
    r = unary("rsqrt", ms, np.float32, mask)
    y = binary("multiply", x, r, np.float32, mask)
    return binary("multiply", y, w, dtype or x.dtype, mask)


@exact
def gather_flattened(data: Any, indices: Any, *, mask: Any = None, dtype: Any = None) -> Tensor:
    """``out[p, j...] = data[p].flatten()[indices[p, j...]]`` (legacy signature)."""
    return gather_along(data, indices, 0, dtype, mask)


def gather_along(data: Any, indices: Any, axis: int, dtype: Any, mask: Any) -> Tensor:
    """``out[p, j...] = data[p].flatten()[indices[p, j...]]``: a new tile shaped like ``indices``."""
    sim = runtime.current("nl.gather_flattened")
    if axis != 0:
        from trnsim.nki.guard import not_simulated

        raise not_simulated(f"nl.gather_flattened with axis={axis}")
    isa.check_tensor(sim, "nl.gather_flattened", data, "data")
    isa.check_tensor(sim, "nl.gather_flattened", indices, "indices")
    dst = new_tile(sim, "nl.gather_flattened", indices.shape, dtype or data.dtype)
    instr = isa.gather_flattened(sim, dst, data, indices, mask=mask, instr="nl.gather_flattened")
    return fresh(sim, dst, instr)


def dropout(x: Any, rate: Any, *, dtype: Any = None, mask: Any = None) -> Tensor:
    """Zero elements with probability ``rate`` (statistical fidelity only)."""
    sim = runtime.current("nl.dropout")
    isa.check_tensor(sim, "nl.dropout", x, "x")
    dst = new_tile(sim, "nl.dropout", x.shape, dtype or x.dtype)
    instr = isa.dropout(sim, dst, x, rate, mask=mask, api="nl.dropout", instr="nl.dropout")
    return fresh(sim, dst, instr)


# ---------------------------------------------------------------------------------------------
# assignment and in-place operators on tensors
# ---------------------------------------------------------------------------------------------


def _same_view(a: Tensor, b: Tensor) -> bool:
    return (
        (a.alloc is b.alloc or a.alloc.alloc_id == b.alloc.alloc_id)
        and a.flat is None
        and b.flat is None
        and a.offset == b.offset
        and a.shape == b.shape
        and a.strides == b.strides
    )


def assign(target: Tensor, value: Any) -> None:
    """``target[...] = value``: retarget a fresh result, or copy / memset."""
    sim = runtime._ACTIVE.get() or runtime.current("assignment")
    if value.__class__ is Tensor or isinstance(value, Tensor):
        if (target.alloc is value.alloc or target.alloc.alloc_id == value.alloc.alloc_id) and _same_view(
            target, value
        ):
            return
        if not target.alloc.on_chip:
            sim.fail(
                "assignment",
                f"cannot assign to HBM tensor {target.label} (use nl.store)",
                "unsupported_memory",
            )
        if not value.alloc.on_chip:
            sim.fail(
                "assignment",
                f"cannot assign HBM tensor {value.label} to a tile (use nl.load)",
                "unsupported_memory",
            )
        if value.shape != target.shape and value.size > target.size:
            sim.fail(
                "assignment",
                f"value {value.shape} is larger than the destination {target.shape}",
                "store_dst_shape_smaller_than_other_shape",
            )
        if _retarget(sim, target, value, False):
            return
        src = value
        if value.size != target.size:
            if value.ndim == target.ndim:
                src = value.broadcast_to(target.shape)
            else:
                src = value.reshape(target.shape) if value.size == target.size else value
        isa.tensor_copy(sim, target, src, api="assignment", instr="assignment")
        return
    if isinstance(value, IndexExpr):
        isa.iota(sim, target, value.values() if sim.values else None, instr="assignment")
        return
    if not target.on_chip:
        sim.fail(
            "assignment", f"cannot assign to HBM tensor {target.label} (use nl.store)", "unsupported_memory"
        )
    isa.memset(sim, target, value, api="assignment", instr="assignment")


_PSUM = Buffer.PSUM
_GPSIMD, _DMA = Engine.GPSIMD, Engine.DMA
_new_tuple = tuple.__new__


def _retarget(sim: Simulation, target: Tensor, value: Tensor, accumulate: bool) -> bool:
    """Let the instruction that produced ``value`` write ``target`` directly (no extra copy)."""
    last = sim.last_result
    if last is None or last[0] is not value:
        return False
    if (value.shape != target.shape and value.size != target.size) or not (
        target.paxis == 0 or (target.flat is not None and target.alloc.on_chip)  # target.is_tile
    ):
        return False
    instr = last[1]
    matmul = instr.opcode == "nc_matmul"
    to_psum = target.alloc.buffer is _PSUM
    if matmul:
        if not to_psum:
            return False
    elif accumulate:
        return False
    if to_psum and (instr.engine is _GPSIMD or instr.engine is _DMA):
        return False  # GpSimdE cannot write PSUM: the compiler copies (VectorE) instead; nor DMA
    outputs = instr.outputs
    name = outputs[0][0]
    # what this tensor was last retargeted as, kept on it as a plain tuple (operand name, operand,
    # its region, the region's allocation id, whether its box is non-empty: no named tuple's items
    # read again; and ``(operand,)``, the outputs of every instruction retargeted onto it alike: one
    # tuple, not one per instruction; a replayed tile that reuses its objects forgets it, its
    # allocation id changes)
    kept = target._out
    if kept is not None and kept[0] == name and tensor.CACHE_OPERANDS:
        _, out, region, alloc_id, nonempty, outs = kept
    # target.operand(name) when its cache holds this view's operand, inline (renamed as it renames)
    elif (latest := (
        target.alloc.operands.get(target.offset) if target.flat is None and not target.dyn else None
    )) is not None and (
        tensor.CACHE_OPERANDS
        and latest[0] == target.strides
        and latest[1] == target.paxis
        and latest[2][2] == target.shape
    ):
        out = latest[2]
        if out[0] != name:
            out = _new_tuple(Operand, (name, *out[1:]))
            target.alloc.operands[target.offset] = (latest[0], latest[1], out)
        box = out[5]
        assert box is not None  # (a view's operand has its region)
        if target._region is None:
            target._region = box
        region = box
        alloc_id, p0, p1, b0, b1 = region
        # region.overlaps(region): a non-empty box overlaps itself
        nonempty = p0 < p1 and b0 < b1
        outs = (out,)
        target._out = (name, out, region, alloc_id, nonempty, outs)
    else:
        out = target.operand(name)
        box = out[5]  # target.region() (a tensor's operand has one)
        assert box is not None
        region = box
        alloc_id, p0, p1, b0, b1 = region
        nonempty = p0 < p1 and b0 < b1
        outs = (out,)
    if matmul:
        # legacy ``acc += nc_matmul(...)``: the first matmul of an accumulation group overwrites,
        # later ones add (nki-semantics §3), so a fresh nl.ndarray in PSUM starts from zero
        opened = _group_open(sim.psum_groups, alloc_id, region, nonempty)  # (updates the group)
        attr_accumulate = accumulate and opened
    if sim.values:
        isa.retarget_write(target, value, last[2], accumulate, matmul)
    if not accumulate and sim.loops:
        sim.check_read("assignment", region, False)
        sim.note_write(region, False, last[2] is None and target.flat is None and not target.dyn)
    instr.outputs = outs if len(outputs) == 1 else (out, *outputs[1:])
    sim.writes_of[instr.seq] = alloc_id  # (what spill planning reads of it, see Simulation)
    if len(outputs) != 1:
        sim.reread.append(instr.seq)
    if matmul:
        accumulated = last[4]
        if accumulated is None:  # (the checked path's instruction: a dict of its own)
            instr.attrs["accumulate"] = attr_accumulate
        else:  # (a replay's: its template's dict, shared, never written; see templates._accumulated)
            instr.attrs = accumulated[attr_accumulate]
    sim.last_result = None
    return True


def _group_open(groups: dict[int, list[Any]], alloc_id: int, region: Any, nonempty: bool) -> bool:
    """Whether ``acc += nc_matmul(...)`` onto ``region`` adds to an open accumulation group of its
    PSUM allocation (``groups``: the regions written per allocation, updated here); False: the
    matmul overwrites (the first of its group, nki-semantics §3)."""
    group = groups.get(alloc_id)
    if group is None:  # a new group: nothing open to overlap
        groups[alloc_id] = [region]
        return False
    if region in group:  # the same accumulator tile again (each K step)
        return nonempty or _overlaps_any(group, region)
    opened = _overlaps_any(group, region)
    group.append(region)
    return opened


def _overlaps_any(group: list[Any], region: Any) -> bool:
    """``any(r.overlaps(region) for r in group)`` (the regions of one allocation)."""
    _, p0, p1, b0, b1 = region
    for r in group:  # noqa: SIM110 (a loop: no generator per call)
        if r[1] < p1 and p0 < r[2] and r[3] < b1 and b0 < r[4]:
            return True
    return False


def _iadd(target: Tensor, other: Any) -> Tensor:
    """``target += other`` (``Tensor.__iadd__``): :func:`inplace` with its hot case first, a fresh
    result (``acc += nc_matmul(...)``) retargeted onto an on-chip tile."""
    sim = runtime._ACTIVE.get()
    if sim is not None and other.__class__ is Tensor:
        last = sim.last_result
        if last is not None and last[0] is other and target.alloc.on_chip:
            # _retarget(sim, target, other, True) of a replayed matmul (either mode; ``last[3]``, its
            # one output's name: a matmul on an engine that writes PSUM, see templates._ticket) onto
            # the PSUM tile it was last retargeted onto under that operand name (``acc +=
            # nc_matmul(...)`` in a K loop: its operand kept on it, see _retarget), inline: one frame
            # and most checks less (a checked matmul takes _retarget)
            kept = target._out
            if (
                kept is not None
                and kept[0] == last[3]
                and target.paxis == 0
                and other.shape == target.shape
                and target.alloc.buffer is _PSUM
                and tensor.CACHE_OPERANDS
            ):
                _, _, region, alloc_id, nonempty, outs = kept
                instr = last[1]
                if sim.values:  # (the group's state is the tile's mm_state, not psum_groups)
                    isa.retarget_write(target, other, last[2], True, True)
                instr.outputs = outs  # (one tuple for all instructions retargeted onto it)
                sim.writes_of[instr.seq] = alloc_id  # (spill planning's note, see Simulation)
                # (the template's dict with that flag: a replay's is shared, never written)
                instr.attrs = last[4][_group_open(sim.psum_groups, alloc_id, region, nonempty)]
                sim.last_result = None
                return target
            if _retarget(sim, target, other, True):
                return target
    inplace(target, "add", other)
    return target


def inplace(target: Tensor, op: str, other: Any) -> None:
    """``target op= other`` (``+=`` onto PSUM accumulates a matmul in place)."""
    sim = runtime._ACTIVE.get() or runtime.current("augmented assignment")
    if not target.alloc.on_chip:
        sim.fail(
            f"{op} assignment", f"cannot update HBM tensor {target.label} in place", "unsupported_memory"
        )
    if op == "add" and isinstance(other, Tensor) and _retarget(sim, target, other, True):
        return
    acc = op in ("add", "subtract")
    if isinstance(other, Tensor):
        isa.check_tensor(sim, f"{op}=", other, "value")
        src = (
            other
            if other.shape == target.shape or other.ndim != target.ndim
            else other.broadcast_to(target.shape)
        )
        if isa.free_size(other) == 1 and isa.free_size(target) > 1:
            isa.tensor_scalar(sim, target, target, op, other, api=f"augassign:{op}", instr=f"{op}=")
            return
        isa.tensor_tensor(sim, target, target, src, op, api=f"augassign:{op}", instr=f"{op}=", accumulate=acc)
    else:
        isa.tensor_scalar(sim, target, target, op, other, api=f"augassign:{op}", instr=f"{op}=")


def ap(
    t: Tensor,
    pattern: Any,
    offset: Any,
    scalar_offset: Any,
    vector_offset: Any,
    indirect_dim: int,
    dtype: Any,
) -> Tensor:
    """``t.ap([[step, num], ...], offset)``: an explicit access pattern over the storage."""
    sim = runtime.current(".ap")
    base = t
    if dtype is not None:
        base = t.view(dtype)
    shape = tuple(int(n) for _, n in pattern)
    strides = tuple(int(s) for s, _ in pattern)
    off = base.offset if offset is None else int(offset)
    a = base.alloc
    if a.on_chip:  # [[partition step, partitions], free pairs...]: rows must be whole partitions
        if not shape or (shape[0] > 1 and strides[0] != a.free_elems):
            sim.fail(
                ".ap",
                f"the first pattern pair of an on-chip tensor is the partition dim: its step must be"
                f" {a.free_elems} (the free elements per partition), got {pattern[0] if pattern else None}",
                "invalid_access_pattern",
            )
        if shape[0] > sim.spec.pmax or len(shape) > 5:
            sim.fail(
                ".ap",
                f"pattern {pattern}: at most {sim.spec.pmax} partitions and 4 free dimensions",
                "invalid_access_pattern",
            )
    if scalar_offset is not None and not isinstance(scalar_offset, Tensor):
        # a register: its value is known at trace time (unless loaded from memory in timing mode)
        if not getattr(scalar_offset, "known", True):
            return Tensor(a, shape, off, strides, 0 if a.on_chip else -1, None, None, True)
        off += int(getattr(scalar_offset, "value", scalar_offset)) * math.prod(a.shape[indirect_dim + 1 :])
        scalar_offset = None
    total = a.partitions * a.free_elems
    lo = hi = off
    for d, (n, s) in enumerate(zip(shape, strides, strict=True)):
        if d == 0 and vector_offset is not None:
            continue  # the rows come from vector_offset (bounds checked per row, oob_mode)
        if n > 1:
            lo += min(0, s * (n - 1))
            hi += max(0, s * (n - 1))
    if lo < 0 or hi >= total:
        sim.fail(
            ".ap",
            f"access pattern {pattern} offset {off} leaves tensor '{a.name}' {a.shape}",
            "tensor_access_out_of_bound",
        )
    if scalar_offset is not None or vector_offset is not None:
        dyn = scalar_offset if scalar_offset is not None else vector_offset
        inner = (
            int(np.prod(a.shape[indirect_dim + 1 :]))
            if scalar_offset is not None
            else int(np.prod(a.shape[1:]))
        )
        if sim.values and isinstance(dyn, Tensor):
            vals = dyn.read().astype(np.int64).reshape(-1)
            grid = off + sum(
                np.arange(n).reshape([-1 if i == d else 1 for i in range(len(shape))]) * s
                for d, (n, s) in enumerate(zip(shape, strides, strict=True))
            )
            flat = np.broadcast_to(np.asarray(grid, dtype=np.int64), shape).copy()
            if scalar_offset is not None:
                flat = flat + int(vals[0]) * inner
            else:
                flat = (
                    flat
                    - np.arange(shape[0]).reshape((-1,) + (1,) * (len(shape) - 1)) * strides[0]
                    + vals[: shape[0]].reshape((-1,) + (1,) * (len(shape) - 1)) * inner
                )
            oob = (flat < 0) | (flat >= total)
            flat = np.where(oob, 0, flat)
            return Tensor(
                a,
                shape,
                0,
                (1,) * len(shape),
                0 if a.buffer.on_chip else -1,
                flat,
                oob if oob.any() else None,
                False,
                (dyn,) if isinstance(dyn, Tensor) else (),
            )
        return Tensor(
            a,
            shape,
            off,
            strides,
            0 if a.buffer.on_chip else -1,
            None,
            None,
            True,
            (dyn,) if isinstance(dyn, Tensor) else (),
        )
    return Tensor(a, shape, off, strides, 0 if a.buffer.on_chip else -1)


tensor.install_operations(
    tensor.TileOperations(
        binary=binary,
        assign=assign,
        inplace=inplace,
        copy=lambda a, dtype: copy(a, dtype=dtype),
        ap=ap,
    )
)

# ``t += x`` straight to _iadd (no TileOperations indirection: the hot ``acc += nc_matmul(...)``)
Tensor.__iadd__ = _iadd

__all__ = ["dtype_name", "ml_dtypes"]


# these take exactly the NKI API's arguments (nki-api.md): any other is refused (trnsim.nki.guard)
for _exact in (load, store, atomic_rmw, load_transpose2d, copy):
    setattr(_exact, "__nki_exact__", True)  # noqa: B010  (a function attribute mypy does not know)
