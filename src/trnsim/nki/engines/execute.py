"""The execution step every instruction shares: operand checks, fp32 compute and rounding,
writes (with PSUM accumulation-group state), dependency tracking and the trace record.

Trace ``attrs`` keys set by the instructions (the chip model reads them):

* ``op`` — ALU operator or activation function name (``add``, ``exp``...); ``op1`` the second
  ALU operator of tensor_scalar / scalar_tensor_tensor; ``reduce_op`` a fused reduction.
* ``accumulate`` — nc_matmul adds into PSUM (True) or overwrites (False).
* ``transpose`` — nc_matmul/nc_transpose/DMA moves data transposed.
* ``perf_mode`` — nc_matmul performance mode (``none``, ``double_row``...).
* ``api`` — the ``nl.*`` convenience function that issued the instruction, when not ``nisa``
  (``implicit_copy``: a copy the compiler inserts, nki-semantics §2).
* ``masked`` — the instruction had a ``mask=`` predicate.
* ``dge_mode`` / ``oob_mode`` — DMA descriptor generation and out-of-bounds policy.
* ``dynamic`` — a DMA with runtime (index tile) addresses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from trnsim.nki import runtime
from trnsim.nki.alu import BINARY, BITVEC, op_name
from trnsim.nki.dtypes import is_float, is_int
from trnsim.nki.engines.bf16_matmul import BF16, narrow_bf16, narrow_bf16_into, widen_bf16
from trnsim.nki.indexing import MaskExpr
from trnsim.nki.runtime import Allocation, Buffer, Simulation, writable_storage
from trnsim.nki.tensor import Tensor, fit_mask, physical_strides, strided
from trnsim.nki.trace import Engine, Instruction, MemorySpace, Operand

ON_CHIP = (Buffer.SBUF, Buffer.PSUM)
_PSUM = Buffer.PSUM


_ENGINES = {
    "tensor": Engine.TENSOR,
    "vector": Engine.VECTOR,
    "scalar": Engine.SCALAR,
    "gpsimd": Engine.GPSIMD,
    "sync": Engine.DMA,
    "dma": Engine.DMA,
}


def engine_of(value: Any, default: Engine) -> Engine:
    """Map an ``nisa.engine`` value (enum member, name or None) to a trace engine."""
    if value is None:
        return default
    name = getattr(value, "name", value)
    return _ENGINES.get(str(name).lower(), default)


_IMMEDIATES: dict[str, Operand] = {}


def imm(name: str) -> Operand:
    """A trace operand for a compile-time constant (immutable, so shared)."""
    op = _IMMEDIATES.get(name)
    if op is None:
        op = _IMMEDIATES[name] = Operand(name, MemorySpace.IMMEDIATE, (), "float32", 0, None, 0, 0)
    return op


def check_tensor(
    sim: Simulation, instr: str, t: Any, label: str, buffers: Sequence[Buffer] = ON_CHIP, tile: bool = True
) -> Tensor:
    """Fail unless ``t`` is a tensor in one of ``buffers`` with a valid partition dimension."""
    if t.__class__ is Tensor:  # the hot path: a valid tile, checked without properties
        a = t.alloc
        if a.buffer in buffers and (not tile or not a.on_chip or (
                (t.paxis == 0 or t.flat is not None) and len(t.shape) >= 2 and t.shape[0] <= sim.spec.pmax)):
            return t
    if not isinstance(t, Tensor):
        sim.fail(instr, f"{label} must be a tensor, got {type(t).__name__}", "unsupported_operand")
    if t.buffer not in buffers:
        allowed = "/".join(b.value for b in buffers)
        sim.fail(instr, f"{label} {t.label} is in {t.buffer.value} (valid: {allowed})", "unsupported_memory")
    if t.on_chip and tile:
        if not t.is_tile:
            sim.fail(
                instr,
                f"{label} {t.label} {t.shape}: the partition dimension must come first"
                " (index the block dimensions)",
                "leading_dimension_of_tensor_must_be_partition",
            )
        if t.shape and t.shape[0] > sim.spec.pmax:
            sim.fail(
                instr,
                f"{label} {t.label} has {t.shape[0]} partitions (valid: 1..{sim.spec.pmax})",
                "num_partition_exceed_arch_limit",
            )
        if len(t.shape) < 2:
            sim.fail(
                instr,
                f"{label} {t.label} must be at least 2-D (partition, free), got {t.shape}",
                "leading_dimension_of_tensor_must_be_partition",
            )
    return t


def same_partitions(sim: Simulation, instr: str, *pairs: tuple[str, Any]) -> None:
    """Fail when tile operands differ in partition count."""
    tiles = [(n, t) for n, t in pairs if isinstance(t, Tensor)]
    if not tiles:
        return
    p0 = tiles[0][1].shape[0]
    for n, t in tiles[1:]:
        if t.shape[0] != p0:
            sim.fail(
                instr,
                f"partition counts differ: {tiles[0][0]} has {p0}, {n} has {t.shape[0]}",
                "num_partition_mismatch",
            )


def free_size(t: Tensor) -> int:
    """Elements per partition of a tile."""
    n = 1
    for d in t.shape[1:]:
        n *= d
    return n


def mask_array(mask: Any) -> np.ndarray | None:
    """Evaluate a legacy mask (None, MaskExpr, bool array)."""
    if mask is None:
        return None
    if isinstance(mask, MaskExpr):
        return mask.values()
    if isinstance(mask, (bool, np.bool_)):
        return np.asarray(mask)
    if isinstance(mask, np.ndarray):
        return mask.astype(bool)
    raise TypeError("mask")


def is_number(x: Any) -> bool:
    """A Python or numpy number, including ml_dtypes scalars (a ``bfloat16`` fill value)."""
    if isinstance(x, (int, float, np.number, np.bool_)):
        return True
    return (
        isinstance(x, np.generic) and x.dtype.kind == "V" and x.dtype.names is None and x.dtype.itemsize > 0
    )


def load_f32(x: Any, sim: Simulation) -> Any:
    """A tile's values (fp32, or int64 for integer tiles), or a scalar / [P,1] operand.

    An fp32 tile's values are its storage's view as read (no copy): a strided view is read-only,
    so a computation cannot change the tile through it (the other reads make fresh arrays)."""
    if isinstance(x, Tensor):
        v = x.read()
        if v.dtype is _F32 or v.dtype == _F32:
            return v
        if is_int(x.dtype):
            return v.astype(np.int64)
        if v.dtype.names:  # packed x4 dtypes: the raw storage words (engines/mx.py unpacks)
            return v.view(np.uint32 if v.dtype.itemsize == 4 else np.uint16)
        if v.dtype == BF16:
            return widen_bf16(v)  # ml_dtypes' widening, bit for bit, without its cast loop
        return v.astype(np.float32)
    return x


def to_dtype(values: Any, dt: np.dtype[Any]) -> np.ndarray:
    """Round fp32 (or integer) results to the destination dtype: RNE for floats, saturating ints."""
    arr = np.asarray(values)
    if dt == np.dtype(np.bool_):
        return arr != 0
    if dt.kind in "iu":
        if arr.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                arr = np.rint(arr)
            info = np.iinfo(dt)
            arr = np.nan_to_num(arr, nan=0.0)
            return np.clip(arr, info.min, info.max).astype(dt)
        if arr.dtype.kind in "iub":
            info = np.iinfo(dt)
            return np.clip(arr.astype(np.int64), info.min, info.max).astype(dt)
        return arr.astype(dt)
    if dt.names:
        return arr.astype(np.uint32).view(dt) if dt.itemsize == 4 else arr.astype(np.uint16).view(dt)
    if arr.dtype == dt and dt.kind in "fV":
        # already rounded (a same-dtype copy): the fp32 round trip would only canonicalise NaN
        # payloads, which a copy on the device keeps bit for bit
        return arr
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float32)
    if arr.dtype == _F32 and dt == BF16 and arr.size >= _NARROW_MIN:
        return narrow_bf16(arr)  # astype's bits, without its per-element cast loop
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(np.float32, copy=False).astype(dt, copy=False)


#: elements from which narrow_bf16's few whole-array passes beat ml_dtypes' cast loop
_NARROW_MIN = 2048


_F32 = np.dtype(np.float32)

#: What a ``compute`` returns when it has stored its result into the destination itself.
WRITTEN: Any = object()

#: Opcodes that write PSUM as TensorE multiplies (they open and extend accumulation groups).
MATMUL_OPCODES = frozenset({"nc_matmul", "nc_matmul_mx"})


def execute(
    sim: Simulation,
    instr: str,
    engine: Engine,
    opcode: str,
    dst: Tensor | None,
    srcs: Sequence[tuple[str, Any]],
    compute: Callable[[list[Any]], Any] | None,
    *,
    mask: Any = None,
    attrs: dict[str, Any] | None = None,
    accumulate: bool = False,
    extra_outputs: Sequence[tuple[str, Tensor]] = (),
    oob_skip: bool = False,
    exempt: bool = False,
    api: str = "",
    accumulate_where: bool | np.ndarray | None = None,
    load_inputs: bool = True,
) -> Instruction:
    """Check bounds and dependencies, compute (value mode), write ``dst``, record the trace.

    ``compute`` gets the sources' values in fp32 (int64 for integer tiles); with
    ``load_inputs=False`` it gets the sources themselves and reads what it needs (a same-dtype
    copy needs no conversion).

    ``accumulate_where`` (value mode) adds to ``dst`` only where it is True and overwrites
    elsewhere: a matmul that opens an accumulation group on part of a PSUM tile.

    ``api`` names the front-end call (e.g. ``nl.exp``) when it differs from the instruction; it
    is recorded in the trace's ``attrs``.
    """
    if api:
        attrs = {**(attrs or {}), "api": api}
    m = None
    if mask is not None:
        try:
            m = mask_array(mask)
        except TypeError:
            sim.fail(
                instr,
                f"mask must be a predicate of nl.arange/mgrid expressions, got {type(mask).__name__}",
                "unsupported_expression_in_mask",
            )
    sim.last_mask = m
    loops = sim.loops
    carried = accumulate or exempt
    inputs: list[Operand] = []
    for name, s in srcs:
        if s is None:
            continue
        if s.__class__ is not Tensor and not isinstance(s, Tensor):
            inputs.append(imm(name))
            continue
        if s.oob is not None and not oob_skip:
            s.check_bounds(instr, m)
        if loops:
            if s.index_tiles:
                for it in s.index_tiles:
                    sim.check_read(instr, it.region(), False)
            sim.check_read(instr, s.region(), carried and dst is not None and s.alloc is dst.alloc)
        if s.alloc.buffer is _PSUM:
            # another engine reading PSUM closes the matmul accumulation group there
            if sim.psum_groups:
                sim.psum_groups.pop(s.alloc.alloc_id, None)
            if s.alloc.mm_state is not None and opcode not in MATMUL_OPCODES:
                close_groups(s)
        inputs.append(s.operand(name))
        if s.index_tiles:
            for it in s.index_tiles:
                inputs.append(it.operand("index"))
    outs = [("dst", dst)] if dst is not None else []
    if extra_outputs:
        outs.extend(extra_outputs)
    for _, t in outs:
        if t.oob is not None and not oob_skip:
            t.check_bounds(instr, m)
    if compute is not None and sim.values:
        values = [load_f32(s, sim) if isinstance(s, Tensor) else s for _, s in srcs] if load_inputs else [
            s for _, s in srcs]
        result = compute(values)
        if dst is not None and result is WRITTEN:  # compute stored into dst itself
            if dst.alloc.mm_state is not None:
                mark_written(dst, m, 2 if opcode in MATMUL_OPCODES else 1)
        elif dst is not None:
            write(dst, result, m, accumulate if accumulate_where is None else accumulate_where, oob_skip)
            if dst.alloc.mm_state is not None:
                mark_written(dst, m, 2 if opcode in MATMUL_OPCODES else 1)
    if loops and not carried:
        for _, t in outs:
            # (a masked, index-array or runtime-indexed write may cover only part of its region)
            sim.note_write(t.region(), False, m is None and t.flat is None and not t.dyn)
    outputs = (dst.operand("dst"),) if dst is not None and not extra_outputs else tuple(
        [t.operand(n) for n, t in outs])
    a = attrs if attrs is not None else {}
    if mask is not None:
        a["masked"] = True
    return sim.record(engine, opcode, tuple(inputs), outputs, a)


def _operand(name: str, s: Any) -> Operand:
    if isinstance(s, Tensor):
        return s.operand(name)
    return imm(name)


def _state_view(t: Tensor) -> np.ndarray:
    """The PSUM accumulation state of the elements ``t`` views (a writable view or a copy)."""
    state = _states(t.alloc)
    if t.flat is None:
        return strided(state, t.offset, t.shape, t.strides, True)
    return state[t.flat]


def _states(alloc: Allocation) -> np.ndarray:
    """The allocation's per-element accumulation states (an int, one state for every element,
    becomes an array)."""
    state = alloc.mm_state
    assert state is not None
    if state.__class__ is int:
        assert alloc.storage is not None
        state = alloc.mm_state = np.full(alloc.storage.size, state, dtype=np.int8)
    return state  # type: ignore[return-value]


def _whole(t: Tensor) -> bool:
    """``t`` views every element of its allocation once (a uniform state may be replaced whole)."""
    a = t.alloc
    if t.offset or t.flat is not None or t.oob is not None or t.dyn or t.shape != a.shape:
        return False
    if len(a.shape) == 2 and a.partition_axis == 0:
        return t.strides == (a.shape[1], 1)
    return t.strides == physical_strides(a.shape, a.partition_axis, a.free_elems)


def close_groups(t: Tensor) -> None:
    """A non-matmul read of ``t``: its open accumulation groups end (next matmul overwrites)."""
    if 0 in t.shape:
        return
    state = t.alloc.mm_state
    if state.__class__ is int:
        if state != 2:  # no element in an open group
            return
        if _whole(t):
            t.alloc.mm_state = 1
            return
    view = _state_view(t)
    if t.flat is None:
        view[view == 2] = 1
    else:
        t.alloc.mm_state[t.flat[view == 2]] = 1  # type: ignore[index]


def mark_written(t: Tensor, mask: np.ndarray | None, state: int) -> None:
    """Record who last wrote the elements of ``t`` (2: a matmul, 1: another engine)."""
    if 0 in t.shape:
        return
    current = t.alloc.mm_state
    if current.__class__ is int and (current == state or (mask is None and _whole(t))):
        t.alloc.mm_state = state  # every element has this state now
        return
    keep = None if mask is None else fit_mask(mask, t.shape)
    if t.oob is not None:
        keep = ~t.oob if keep is None else keep & ~t.oob
    if t.flat is None:
        view = _state_view(t)
        if keep is None:
            view[...] = state
        else:
            view[keep] = state
    else:
        flat = t.flat if keep is None else t.flat[keep]
        _states(t.alloc)[flat] = state


def matmul_group_open(t: Tensor) -> bool | np.ndarray:
    """Per element of ``t``: True where an open matmul accumulation group has written it (one
    bool when every element of the allocation has the same state)."""
    if 0 in t.shape:
        return np.zeros(t.shape, dtype=bool)
    state = t.alloc.mm_state
    if state.__class__ is int:
        return state == 2
    return np.asarray(_state_view(t) == 2)


def retarget_write(dst: Tensor, src: Tensor, mask: np.ndarray | None, accumulate: bool, matmul: bool) -> None:
    """Value mode, ``dst (+)= src`` where the instruction that made ``src`` is retargeted to write
    ``dst`` (trnsim.nki.language_impl._retarget): store its values as that instruction would have.

    A whole fp32 PSUM tile taking a whole fp32 matmul product, with one accumulation state for
    all its elements (``acc += nc_matmul(...)``), adds or copies the storage directly: the fp32
    adds and the stored bits of :func:`write`'s path, without its per-call checks.
    """
    state = dst.alloc.mm_state
    if (
        matmul
        and mask is None
        and state.__class__ is int
        and dst.alloc.dtype is _F32
        and src.alloc.dtype is _F32
        and src.shape == dst.shape
        and src.strides == dst.strides  # the same element at each storage index
        and _whole(dst)
        and _whole(src)
    ):
        out = writable_storage(dst.alloc)
        values = src.alloc.storage
        assert values is not None
        if accumulate and state == 2:  # an open group: every element adds
            np.add(out, values, out=out)
        else:  # the first matmul of a group overwrites
            np.copyto(out, values)
        dst.alloc.mm_state = 2
        return
    where: bool | np.ndarray = accumulate
    if accumulate and state is not None:
        where = matmul_group_open(dst)
    write(dst, src.read().astype(np.float32, copy=False) if is_float(src.dtype) else src.read(), mask, where)
    if dst.alloc.mm_state is not None:
        mark_written(dst, mask, 2 if matmul else 1)


def write(
    dst: Tensor,
    result: Any,
    mask: np.ndarray | None,
    accumulate: bool | np.ndarray,
    oob_skip: bool = False,
) -> None:
    """Store ``result`` into ``dst`` (adding to it in fp32 when accumulating).

    ``accumulate`` may be a boolean array: add where True, overwrite elsewhere.
    """
    if (
        accumulate is False
        and mask is None
        and result.__class__ is np.ndarray
        and dst.flat is None
        and dst.oob is None
        and result.shape == dst.shape
    ):
        # a result over a whole strided view, unmasked: two cases stored directly
        if (
            result.dtype == dst.dtype
            and dst.dtype.kind in "fV"
            and dst.dtype.names is None
            and 0 not in dst.shape
        ):
            # a same-dtype float: to_dtype would return it as is and Tensor.write store it
            isz = dst.alloc.itemsize
            view = strided(writable_storage(dst.alloc), dst.offset, dst.shape,
                           tuple([s * isz for s in dst.strides]), True)
            view[...] = result
            return
        if result.dtype == _F32 and dst.dtype == BF16 and result.size >= _NARROW_MIN:
            # fp32 rounded to bfloat16 (PSUM to SBUF): narrowed straight into the destination,
            # the bits to_dtype + Tensor.write would store
            view = strided(writable_storage(dst.alloc), dst.offset, dst.shape,
                           tuple([s * 2 for s in dst.strides]), True)
            narrow_bf16_into(runtime.current().scratch, result, view.view(np.uint16))
            return
    result = np.asarray(result)
    if result.ndim == 0 and accumulate is False and 0 not in dst.shape:
        # a constant (memset, nl.zeros): rounded to the destination dtype once, then stored
        # everywhere (to_dtype works element by element: the bits the broadcast array's would get)
        if mask is None and dst.flat is None and dst.oob is None:
            # over a whole strided view: Tensor.write's store, the rounded constant kept per
            # (value bits, dtypes), all-zero bits filled as bytes where the view is contiguous
            const, zero = _constant(result, dst.dtype)
            isz = dst.alloc.itemsize
            view = strided(writable_storage(dst.alloc), dst.offset, dst.shape,
                           tuple([s * isz for s in dst.strides]), True)
            if zero and view.flags.c_contiguous and view.dtype == const.dtype:
                view.view(np.uint8).fill(0)
            else:
                view[...] = const
            return
        if oob_skip and dst.oob is not None:
            mask = ~dst.oob if mask is None else (fit_mask(mask, dst.shape) & ~dst.oob)
        dst.write(to_dtype(result, dst.dtype), mask)
        return
    if result.shape != dst.shape:
        try:
            result = np.broadcast_to(result, dst.shape)
        except ValueError:
            runtime.current().fail(
                "write",
                f"result shape {result.shape} does not fit destination {dst.shape}",
                "store_dst_shape_smaller_than_other_shape",
            )
    if isinstance(accumulate, np.ndarray) and accumulate.all():
        accumulate = True
    elif not isinstance(accumulate, np.ndarray):
        accumulate = bool(accumulate)
    if accumulate is True and dst.flat is not None and is_float(dst.dtype):
        _scatter_add(dst, result, mask, oob_skip)
        return
    if (accumulate is True and mask is None and dst.oob is None and dst.flat is None
            and result.dtype == _F32 and dst.dtype == _F32 and 0 not in dst.shape):
        # fp32 accumulation (PSUM, an fp32 accumulator tile): add in place, without the read
        # copy, the fp32 sum array and the store of the general path below (same fp32 adds)
        view = strided(writable_storage(dst.alloc), dst.offset, dst.shape,
                       tuple([st * 4 for st in dst.strides]), True)
        if view.flags.c_contiguous:  # no element twice (a broadcast view) in the destination
            np.add(view, result, out=view)
            return
    if accumulate is True or (isinstance(accumulate, np.ndarray) and accumulate.any()):
        old = dst.read()
        total = (
            (old.astype(np.float32, copy=False) + result.astype(np.float32, copy=False))
            if is_float(dst.dtype)
            else old.astype(np.int64) + result
        )
        result = np.where(accumulate, total, result) if isinstance(accumulate, np.ndarray) else total
    if oob_skip and dst.oob is not None:
        keep = ~dst.oob if mask is None else (fit_mask(mask, dst.shape) & ~dst.oob)
        mask = keep
    dst.write(to_dtype(result, dst.dtype), mask)


#: a constant's value rounded to a destination dtype, and whether its bits are all zero, by (its
#: dtype, its bytes, the destination dtype): memsets store a few constants over and over
_CONSTANTS: dict[tuple[Any, ...], tuple[np.ndarray, bool]] = {}
_MAX_CONSTANTS = 1 << 10


def _constant(value: np.ndarray, dt: np.dtype[Any]) -> tuple[np.ndarray, bool]:
    """``to_dtype(value, dt)`` of a 0-d ``value`` (read-only, shared) and whether its bits are zero."""
    key = (value.dtype, value.tobytes(), dt)
    kept = _CONSTANTS.get(key)
    if kept is None:
        if len(_CONSTANTS) >= _MAX_CONSTANTS:
            _CONSTANTS.clear()
        const = np.array(to_dtype(value, dt))  # (a copy of its own: made read-only below)
        const.flags.writeable = False
        kept = _CONSTANTS[key] = (const, not any(const.tobytes()))
    return kept


def _scatter_add(dst: Tensor, result: np.ndarray, mask: np.ndarray | None, oob_skip: bool) -> None:
    """Accumulate into an index-array (scatter) view: elements that land on the same address all
    add, in element order (each DMA descriptor is its own read-modify-write)."""
    keep = np.ones(dst.shape, dtype=bool) if mask is None else fit_mask(mask, dst.shape).copy()
    if dst.oob is not None:  # out-of-bounds elements were refused before, unless skipped
        keep &= ~dst.oob
    storage = writable_storage(dst.alloc)
    assert dst.flat is not None
    idx = dst.flat[keep]
    addrs, where = np.unique(idx, return_inverse=True)
    acc = storage[addrs].astype(np.float32)
    np.add.at(acc, where, result[keep].astype(np.float32, copy=False))
    storage[addrs] = to_dtype(acc, dst.dtype)


def named_op(sim: Simulation, instr: str, op: Any, table: dict[str, Any], what: str, err_id: str) -> str:
    """The canonical name of ``op`` if ``table`` has it; otherwise one KernelError listing the valid ones."""
    name = op_name(op)
    if name not in table:
        sim.fail(instr, f"{what} {op!r} is not supported (valid: {', '.join(sorted(table))})", err_id)
    return str(name)


def _alu(sim: Simulation, instr: str, op: Any, label: str = "op") -> str:
    return named_op(sim, instr, op, BINARY, f"{label}: ALU operator", "unsupported_alu_op")


def _apply(name: str, a: Any, b: Any) -> Any:
    with np.errstate(all="ignore"):
        if name in BITVEC:
            return BINARY[name](np.asarray(a).astype(np.int64), np.asarray(b).astype(np.int64))
        if (
            isinstance(a, np.ndarray)
            and a.dtype.kind == "i"
            and isinstance(b, (np.ndarray, int, np.integer))
            and np.asarray(b).dtype.kind == "i"
            and name
            in (
                "add",
                "subtract",
                "multiply",
                "maximum",
                "minimum",
                "equal",
                "not_equal",
                "greater",
                "greater_equal",
                "less",
                "less_equal",
                "mod",
            )
        ):
            return BINARY[name](a, b)
        return BINARY[name](
            np.asarray(a, dtype=np.float32) if not isinstance(a, float) else np.float32(a),
            np.asarray(b, dtype=np.float32) if not isinstance(b, float) else np.float32(b),
        )


def normalize_axes(sim: Simulation, instr: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """Free axes to reduce; the partition axis (0) is not allowed."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = tuple(sorted(int(a) % ndim for a in axes))
    if 0 in out or not out:
        sim.fail(
            instr,
            f"reduction axis {axis} includes the partition axis 0 (valid: 1..{ndim - 1})",
            "unsupported_reduce_axis",
        )
    return out


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    """Shape after reducing ``axes`` (size 1 with ``keepdims``; on-chip results stay 2-D)."""
    if keepdims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    kept = tuple(n for d, n in enumerate(shape) if d not in axes)
    return kept if len(kept) >= 2 else (*kept, 1)


def _input_mask(mask: Any, data_shape: tuple[int, ...], dst_shape: tuple[int, ...]) -> np.ndarray | None:
    """A reduction's mask broadcast to its input, when it varies along a reduced axis (else None)."""
    try:
        m = mask_array(mask)
    except TypeError:
        return None  # reported by execute
    if m is None or m.ndim != len(data_shape):
        return None
    try:
        fit_mask(m, dst_shape)
        return None  # an output mask (e.g. on partitions only)
    except ValueError:
        return fit_mask(m, data_shape)


class VirtualRegister:
    """An engine sequencer register (32-bit integer) of the current API."""

    __slots__ = ("known", "value")

    def __init__(self, value: int = 0, known: bool = True) -> None:
        self.value = int(value)
        #: False in timing-only mode after a register_load (the value lives in device memory)
        self.known = known

    def __index__(self) -> int:
        return self.value

    def __int__(self) -> int:
        raise TypeError("a register has no value at trace time (use it in .ap(scalar_offset=) or loops)")

    def __bool__(self) -> bool:
        raise TypeError("a register cannot drive Python control flow (use nl.while_loop)")

    def __repr__(self) -> str:
        return "VirtualRegister()"
