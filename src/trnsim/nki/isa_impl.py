"""The shared execution core: every NKI instruction, written once, ``dst`` first.

Both front ends call these functions: the legacy one allocates a fresh result tile and passes it
as ``dst``; the current one passes the user's ``dst``. Each instruction validates its operands
against the target's rules (raising :class:`~trnsim.nki.errors.KernelError`), computes in fp32
and rounds to the destination dtype (value mode only), and records one trace
:class:`~trnsim.nki.trace.Instruction`.

Trace ``attrs`` keys set here (the chip model reads them):

* ``op`` — ALU operator or activation function name (``add``, ``exp``...); ``op1`` the second
  ALU operator of tensor_scalar / scalar_tensor_tensor; ``reduce_op`` a fused reduction.
* ``accumulate`` — nc_matmul adds into PSUM (True) or overwrites (False).
* ``transpose`` — nc_matmul/nc_transpose/DMA moves data transposed.
* ``perf_mode`` — nc_matmul performance mode (``none``, ``double_row``...).
* ``api`` — the ``nl.*`` convenience function that issued the instruction, when not ``nisa``.
* ``masked`` — the instruction had a ``mask=`` predicate.
* ``dge_mode`` / ``oob_mode`` — DMA descriptor generation and out-of-bounds policy.
* ``dynamic`` — a DMA with runtime (index tile) addresses.
* ``descriptors`` — a masked/OOB-guarded/index-array DMA's contiguous descriptor count (its
  operands then hold only the selected bytes; see :mod:`trnsim.nki.dma_access`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from trnsim.nki import runtime
from trnsim.nki.alu import ACTIVATIONS, BINARY, BITVEC, REDUCE, op_name
from trnsim.nki.dma_access import apply_selection, dma_selection
from trnsim.nki.dtypes import dtype_name, is_float, is_int
from trnsim.nki.indexing import MaskExpr
from trnsim.nki.runtime import Buffer, Simulation
from trnsim.nki.tensor import Tensor, fit_mask
from trnsim.nki.trace import Engine, Instruction, MemorySpace, Operand

ON_CHIP = (Buffer.SBUF, Buffer.PSUM)
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


# ---------------------------------------------------------------------------------------------
# operands
# ---------------------------------------------------------------------------------------------


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
    """A tile's values (fp32, or int64 for integer tiles), or a scalar / [P,1] operand."""
    if isinstance(x, Tensor):
        v = x.read()
        if is_int(x.dtype):
            return v.astype(np.int64)
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
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(np.float32).astype(dt)


# ---------------------------------------------------------------------------------------------
# the execution step shared by all instructions
# ---------------------------------------------------------------------------------------------


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
    accumulate_where: np.ndarray | None = None,
) -> Instruction:
    """Check bounds and dependencies, compute (value mode), write ``dst``, record the trace.

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
        if not isinstance(s, Tensor):
            inputs.append(imm(name))
            continue
        if s.oob is not None and not oob_skip:
            s.check_bounds(instr, m)
        if loops:
            for it in s.index_tiles:
                sim.check_read(instr, it.region(), False)
            sim.check_read(instr, s.region(), carried and dst is not None and s.alloc is dst.alloc)
        if s.alloc.buffer is Buffer.PSUM:
            # another engine reading PSUM closes the matmul accumulation group there
            if sim.psum_groups:
                sim.psum_groups.pop(s.alloc.alloc_id, None)
            if s.alloc.mm_state is not None and opcode != "nc_matmul":
                close_groups(s)
        inputs.append(s.operand(name))
        for it in s.index_tiles:
            inputs.append(it.operand("index"))
    outs = [("dst", dst)] if dst is not None else []
    if extra_outputs:
        outs.extend(extra_outputs)
    for _, t in outs:
        if t.oob is not None and not oob_skip:
            t.check_bounds(instr, m)
    if compute is not None and sim.values:
        values = [load_f32(s, sim) if isinstance(s, Tensor) else s for _, s in srcs]
        result = compute(values)
        if dst is not None:
            write(dst, result, m, accumulate if accumulate_where is None else accumulate_where, oob_skip)
            if dst.alloc.mm_state is not None:
                mark_written(dst, m, 2 if opcode == "nc_matmul" else 1)
    if loops and not carried:
        for _, t in outs:
            sim.note_write(t.region(), False)
    outputs = tuple([t.operand(n) for n, t in outs])
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
    state = t.alloc.mm_state
    assert state is not None
    if t.flat is None:
        return as_strided(state[t.offset :], t.shape, t.strides, writeable=True)
    return state[t.flat]


def close_groups(t: Tensor) -> None:
    """A non-matmul read of ``t``: its open accumulation groups end (next matmul overwrites)."""
    if 0 in t.shape:
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
        t.alloc.mm_state[flat] = state  # type: ignore[index]


def matmul_group_open(t: Tensor) -> np.ndarray:
    """Per element of ``t``: True where an open matmul accumulation group has written it."""
    if 0 in t.shape:
        return np.zeros(t.shape, dtype=bool)
    return np.asarray(_state_view(t) == 2)


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
    result = np.asarray(result)
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
    if accumulate is True or (isinstance(accumulate, np.ndarray) and accumulate.any()):
        old = dst.read()
        total = (
            (old.astype(np.float32) + result.astype(np.float32))
            if is_float(dst.dtype)
            else old.astype(np.int64) + result
        )
        result = np.where(accumulate, total, result) if isinstance(accumulate, np.ndarray) else total
    if oob_skip and dst.oob is not None:
        keep = ~dst.oob if mask is None else (fit_mask(mask, dst.shape) & ~dst.oob)
        mask = keep
    dst.write(to_dtype(result, dst.dtype), mask)


# ---------------------------------------------------------------------------------------------
# TensorE
# ---------------------------------------------------------------------------------------------

_MATMUL_DTYPES = {"float8_e4m3", "float8_e5m2", "float8_e4m3fn", "bfloat16", "float16", "float32"}


def nc_matmul(
    sim: Simulation,
    dst: Tensor,
    stationary: Any,
    moving: Any,
    *,
    accumulate: bool | None = None,
    is_transpose: bool = False,
    perf_mode: str = "none",
    mask: Any = None,
    api: str = "",
    instr: str = "nisa.nc_matmul",
) -> Instruction:
    """``dst[M, N] (+)= stationary[K, M].T @ moving[K, N]`` in fp32 PSUM."""
    check_tensor(sim, instr, stationary, "stationary", (Buffer.SBUF,))
    check_tensor(sim, instr, moving, "moving", (Buffer.SBUF,))
    check_tensor(sim, instr, dst, "dst", (Buffer.PSUM,))
    spec = sim.spec
    s_name, m_name = stationary.alloc.dtype_name, moving.alloc.dtype_name
    for label, name in (("stationary", s_name), ("moving", m_name)):
        if name not in _MATMUL_DTYPES:
            sim.fail(
                instr,
                f"{label} dtype {name} is not accepted by TensorE (valid: "
                f"{', '.join(sorted(_MATMUL_DTYPES))})",
                "unsupported_dtype",
            )
    s_fp32 = s_name == "float32"
    if s_fp32 != (m_name == "float32") and not is_transpose:
        sim.fail(
            instr,
            f"fp32 matmul needs both operands fp32 (stationary {s_name}, moving {m_name})",
            "unsupported_dtype",
        )
    double_row = perf_mode not in ("none", "", None)
    if double_row:
        if stationary.ndim != 3 or moving.ndim != 3 or stationary.shape[1] != 2 or moving.shape[1] != 2:
            sim.fail(
                instr,
                "perf_mode double_row needs stationary [K,2,M] and moving [K,2,N]",
                "size_of_dimension_exceed_arch_limit",
            )
        k, m, n = stationary.shape[0], stationary.shape[2], moving.shape[2]
    else:
        k, m = stationary.shape[0], free_size(stationary)
        n = free_size(moving)
    if moving.shape[0] != k:
        sim.fail(
            instr,
            f"contraction (partition) sizes differ: stationary {k}, moving {moving.shape[0]}",
            "num_partition_mismatch",
        )
    if m > spec.gemm_stationary_fmax:
        sim.fail(
            instr,
            f"stationary free size {m} exceeds the limit (valid: 1..{spec.gemm_stationary_fmax})",
            "size_of_dimension_exceed_arch_limit",
        )
    limit = spec.gemm_moving_fmax
    if spec.nc_version >= 4:
        limit = spec.gemm_moving_fmax_wide_fp32 if s_fp32 else spec.gemm_moving_fmax_wide_16bit
    if n > limit:
        sim.fail(
            instr,
            f"moving free size {n} exceeds the limit (valid: 1..{limit})",
            "size_of_dimension_exceed_arch_limit",
        )
    if dst.shape[0] != m or free_size(dst) != n:
        sim.fail(
            instr,
            f"dst shape {dst.shape} does not match the product [{m}, {n}]",
            "store_dst_shape_smaller_than_other_shape",
        )
    if not is_transpose and (
        not is_float(dst.dtype) or (dst.alloc.dtype_name != "float32" and spec.nc_version < 4)
    ):
        sim.fail(instr, f"matmul writes fp32 PSUM (dst dtype {dtype_name(dst.dtype)})", "unsupported_dtype")
    where = None
    if accumulate is None:  # first write to a PSUM location overwrites, later ones accumulate
        region = dst.region()
        group = sim.psum_groups.setdefault(dst.alloc.alloc_id, [])
        accumulate = any(r.overlaps(region) for r in group)
        if not accumulate:
            group.append(region)
        if dst.alloc.mm_state is not None:  # value mode: exactly per element (nki-semantics §3)
            where = matmul_group_open(dst)
    elif accumulate and dst.alloc.mm_state is not None and (_state_view(dst) == 0).any():
        warnings.warn(
            f"{instr}: accumulate=True onto PSUM never written (undefined on hardware; adds to NaN)",
            stacklevel=2,
        )
    else:
        group = sim.psum_groups.setdefault(dst.alloc.alloc_id, [])
        region = dst.region()
        if region not in group:  # the same accumulator tile is written once per K step
            group.append(region)

    def compute(v: list[Any]) -> Any:
        s, mv = v
        if double_row:
            s = s.transpose(1, 0, 2).reshape(2 * k, m)
            mv = mv.transpose(1, 0, 2).reshape(2 * k, n)
        else:
            s = s.reshape(k, m)
            mv = mv.reshape(k, n)
        out = np.matmul(s.T.astype(np.float32), mv.astype(np.float32))
        return out.reshape(dst.shape)

    attrs = {
        "accumulate": bool(accumulate),
        "transpose": bool(is_transpose),
        "perf_mode": str(getattr(perf_mode, "name", perf_mode) or "none"),
    }
    return execute(
        sim,
        instr,
        Engine.TENSOR,
        "nc_matmul",
        dst,
        [("stationary", stationary), ("moving", moving)],
        compute,
        mask=mask,
        attrs=attrs,
        api=api,
        accumulate=bool(accumulate),
        accumulate_where=where,
    )


def nc_transpose(
    sim: Simulation,
    dst: Tensor,
    data: Any,
    *,
    engine: Any = None,
    mask: Any = None,
    api: str = "",
    instr: str = "nisa.nc_transpose",
) -> Instruction:
    """Swap partition and (flattened) free dimension, on TensorE (via PSUM) or VectorE (<= 32x32)."""
    check_tensor(sim, instr, data, "data")
    eng = engine_of(engine, Engine.TENSOR if dst.buffer is Buffer.PSUM else Engine.VECTOR)
    p, f = data.shape[0], free_size(data)
    if eng is Engine.TENSOR:
        check_tensor(sim, instr, data, "data", (Buffer.SBUF,))
        check_tensor(sim, instr, dst, "dst", (Buffer.PSUM,))
        if f > sim.spec.pmax:
            sim.fail(
                instr,
                f"TensorE transpose of a [{p}, {f}] tile: free size over {sim.spec.pmax}",
                "size_of_dimension_exceed_arch_limit",
            )
    else:
        check_tensor(sim, instr, dst, "dst")
        if p > 32 or f > 32:
            sim.fail(
                instr,
                f"VectorE transpose of a [{p}, {f}] tile (valid: at most 32x32)",
                "size_of_dimension_exceed_arch_limit",
            )
    if dst.shape[0] != f or free_size(dst) != p:
        sim.fail(
            instr,
            f"dst shape {dst.shape} does not match the transposed [{f}, {p}]",
            "store_dst_shape_smaller_than_other_shape",
        )
    attrs: dict[str, Any] = {"transpose": True}
    return execute(
        sim,
        instr,
        eng,
        "nc_transpose",
        dst,
        [("data", data)],
        lambda v: v[0].reshape(p, f).T.reshape(dst.shape),
        mask=mask,
        attrs=attrs,
        api=api,
    )


# ---------------------------------------------------------------------------------------------
# ScalarE / VectorE / GpSimdE
# ---------------------------------------------------------------------------------------------


def _scalar_operand(sim: Simulation, instr: str, x: Any, label: str, p: int) -> Any:
    """A constant, or a [P, 1] tile broadcast along the free dims."""
    if isinstance(x, Tensor):
        check_tensor(sim, instr, x, label)
        if x.shape[0] != p or free_size(x) != 1:
            sim.fail(
                instr,
                f"{label} must be a scalar or a [{p}, 1] tile, got {x.shape}",
                "activation_scale_scalar_or_vector",
            )
        return x
    if is_number(x):
        return x
    sim.fail(
        instr, f"{label} must be a number or a [P, 1] tile, got {type(x).__name__}", "unsupported_operand"
    )


def _bcast(v: Any, shape: tuple[int, ...]) -> Any:
    if isinstance(v, np.ndarray) and v.ndim and v.shape != shape:
        return v.reshape((v.shape[0],) + (1,) * (len(shape) - 1))
    return v


def _free_axes(ndim: int) -> tuple[int, ...]:
    return tuple(range(1, ndim))


def activation(
    sim: Simulation,
    dst: Tensor,
    op: Any,
    data: Any,
    *,
    bias: Any = None,
    scale: Any = 1.0,
    reduce_op: Any = None,
    reduce_res: Tensor | None = None,
    mask: Any = None,
    api: str = "",
    instr: str = "nisa.activation",
) -> Instruction:
    """``dst = op(data * scale + bias)`` on ScalarE, optionally reducing along the free axes."""
    name = named_op(sim, instr, op, ACTIVATIONS, "activation function", "unsupported_activation")
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, dst, "dst")
    same_partitions(sim, instr, ("data", data), ("dst", dst))
    p = data.shape[0]
    scale = _scalar_operand(sim, instr, scale, "scale", p)
    if bias is not None:
        bias = _scalar_operand(sim, instr, bias, "bias", p)
        if isinstance(bias, Tensor) and dtype_name(bias.dtype) not in ("float32", "float16", "bfloat16"):
            sim.fail(
                instr,
                f"bias dtype {dtype_name(bias.dtype)} (valid: float32, float16, bfloat16)",
                "activation_bias_invalid_type",
            )
    if isinstance(scale, Tensor) and dtype_name(scale.dtype) != "float32":
        sim.fail(
            instr,
            f"scale tile dtype {dtype_name(scale.dtype)} (valid: float32)",
            "activation_scale_invalid_type",
        )
    rname = op_name(reduce_op)
    if reduce_res is not None:
        check_tensor(sim, instr, reduce_res, "reduce_res")
        if rname not in REDUCE:
            sim.fail(instr, f"reduce_op {reduce_op!r} is not a reduction", "unsupported_reduce_op")
    fn = ACTIVATIONS[name]
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        x, s, b = v
        y = x.astype(np.float32) * _bcast(np.float32(s) if not isinstance(s, np.ndarray) else s, x.shape)
        if b is not None:
            y = y + _bcast(b, x.shape)
        out = fn(np.asarray(y, dtype=np.float32))
        if reduce_res is not None and sim.values:
            red = REDUCE[str(rname)](out, axis=_free_axes(out.ndim), keepdims=True)
            write(reduce_res, red.reshape(reduce_res.shape), None, False)
        return out.reshape(shape) if out.size == int(np.prod(shape)) else out

    attrs: dict[str, Any] = {"op": name}
    if rname:
        attrs["reduce_op"] = rname
    extra = [("reduce_res", reduce_res)] if reduce_res is not None else []
    return execute(
        sim,
        instr,
        Engine.SCALAR,
        "activation",
        dst,
        [("data", data), ("scale", scale), ("bias", bias)],
        compute,
        mask=mask,
        attrs=attrs,
        api=api,
        extra_outputs=extra,
    )


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


def _check_bitvec(sim: Simulation, instr: str, name: str, *tiles: Any) -> None:
    if name in BITVEC:
        for t in tiles:
            if isinstance(t, Tensor) and not is_int(t.dtype):
                sim.fail(
                    instr,
                    f"bitwise operator {name} on {dtype_name(t.dtype)} data (valid: integer dtypes)",
                    "unsupported_dtype",
                )


def tensor_tensor(
    sim: Simulation,
    dst: Tensor,
    data1: Any,
    data2: Any,
    op: Any,
    *,
    engine: Any = None,
    mask: Any = None,
    api: str = "",
    instr: str = "nisa.tensor_tensor",
    accumulate: bool = False,
) -> Instruction:
    """``dst = data1 op data2`` element-wise (VectorE; GpSimdE for power)."""
    name = _alu(sim, instr, op)
    check_tensor(sim, instr, data1, "data1")
    check_tensor(sim, instr, data2, "data2")
    check_tensor(sim, instr, dst, "dst")
    same_partitions(sim, instr, ("data1", data1), ("data2", data2), ("dst", dst))
    if data1.buffer is Buffer.PSUM and data2.buffer is Buffer.PSUM:
        sim.fail(instr, "data1 and data2 cannot both be in PSUM", "unsupported_memory")
    _check_bitvec(sim, instr, name, data1, data2)
    eng = engine_of(engine, Engine.GPSIMD if name == "power" else Engine.VECTOR)
    if eng is Engine.GPSIMD and Buffer.PSUM in (data1.buffer, data2.buffer, dst.buffer):
        sim.fail(instr, "GpSimdE cannot access PSUM", "unsupported_memory")
    shape = dst.shape
    attrs: dict[str, Any] = {"op": name}

    def compute(v: list[Any]) -> Any:
        a, b = v
        return _apply(
            name,
            np.broadcast_to(a, shape) if a.size == np.prod(shape) else a,
            b.reshape(shape) if b.size == np.prod(shape) else b,
        )

    return execute(
        sim,
        instr,
        eng,
        "tensor_tensor",
        dst,
        [("data1", data1), ("data2", data2)],
        compute,
        mask=mask,
        attrs=attrs,
        api=api,
        exempt=accumulate,
    )


def tensor_scalar(
    sim: Simulation,
    dst: Tensor,
    data: Any,
    op0: Any,
    operand0: Any,
    *,
    reverse0: bool = False,
    op1: Any = None,
    operand1: Any = None,
    reverse1: bool = False,
    engine: Any = None,
    mask: Any = None,
    api: str = "",
    instr: str = "nisa.tensor_scalar",
) -> Instruction:
    """``dst = (data op0 operand0) op1 operand1`` with constants or [P, 1] operands."""
    n0 = _alu(sim, instr, op0, "op0")
    n1 = _alu(sim, instr, op1, "op1") if op1 is not None else None
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, dst, "dst")
    same_partitions(sim, instr, ("data", data), ("dst", dst))
    p = data.shape[0]
    operand0 = _scalar_operand(sim, instr, operand0, "operand0", p)
    if n1 is not None:
        operand1 = _scalar_operand(sim, instr, operand1, "operand1", p)
    _check_bitvec(sim, instr, n0, data)
    eng = engine_of(engine, Engine.VECTOR)
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        x, s0, s1 = v
        s0 = _bcast(s0, x.shape)
        y = _apply(n0, s0, x) if reverse0 else _apply(n0, x, s0)
        if n1 is not None:
            s1 = _bcast(s1, x.shape)
            y = _apply(n1, s1, y) if reverse1 else _apply(n1, y, s1)
        return np.asarray(y).reshape(shape)

    attrs: dict[str, Any] = {"op": n0}
    if n1:
        attrs["op1"] = n1
    return execute(
        sim,
        instr,
        eng,
        "tensor_scalar",
        dst,
        [("data", data), ("operand0", operand0), ("operand1", operand1 if n1 else None)],
        compute,
        mask=mask,
        attrs=attrs,
        api=api,
    )


def scalar_tensor_tensor(
    sim: Simulation,
    dst: Tensor,
    data: Any,
    op0: Any,
    operand0: Any,
    op1: Any,
    operand1: Any,
    *,
    reverse0: bool = False,
    reverse1: bool = False,
    mask: Any = None,
    instr: str = "nisa.scalar_tensor_tensor",
) -> Instruction:
    """``dst = (data op0 operand0) op1 operand1`` with ``operand1`` a tile like ``data``."""
    n0 = _alu(sim, instr, op0, "op0")
    n1 = _alu(sim, instr, op1, "op1")
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, operand1, "operand1")
    check_tensor(sim, instr, dst, "dst")
    same_partitions(sim, instr, ("data", data), ("operand1", operand1), ("dst", dst))
    operand0 = _scalar_operand(sim, instr, operand0, "operand0", data.shape[0])
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        x, s0, t1 = v
        y = _apply(n0, _bcast(s0, x.shape), x) if reverse0 else _apply(n0, x, _bcast(s0, x.shape))
        t1 = t1.reshape(x.shape)
        y = _apply(n1, t1, y) if reverse1 else _apply(n1, y, t1)
        return np.asarray(y).reshape(shape)

    return execute(
        sim,
        instr,
        Engine.VECTOR,
        "scalar_tensor_tensor",
        dst,
        [("data", data), ("operand0", operand0), ("operand1", operand1)],
        compute,
        mask=mask,
        attrs={"op": n0, "op1": n1},
    )


def tensor_reduce(
    sim: Simulation,
    dst: Tensor,
    op: Any,
    data: Any,
    axis: Any,
    *,
    negate: bool = False,
    keepdims: bool = False,
    engine: Any = None,
    mask: Any = None,
    api: str = "",
    instr: str = "nisa.tensor_reduce",
) -> Instruction:
    """Reduce ``data`` along free axes (never the partition axis)."""
    name = named_op(sim, instr, op, REDUCE, "reduction operator", "unsupported_reduce_op")
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, dst, "dst")
    axes = normalize_axes(sim, instr, axis, data.ndim)
    shape = dst.shape
    selected = _input_mask(mask, data.shape, shape)
    kw: dict[str, Any] = {}
    if selected is not None:
        # the mask selects input elements (e.g. i_f < F over a wider tile): reduce only those
        data.check_bounds(instr, selected)
        mask = selected.any(axis=axes, keepdims=True).reshape(shape)
        kw["where"] = selected
        if name in ("max", "maximum", "min", "minimum"):
            big = np.inf if is_float(data.dtype) else np.iinfo(np.int64).max
            kw["initial"] = -big if name in ("max", "maximum") else big

    def compute(v: list[Any]) -> Any:
        x = v[0]
        with warnings.catch_warnings():  # fully masked rows: not written
            warnings.simplefilter("ignore", RuntimeWarning)
            y = REDUCE[str(name)](x, axis=axes, keepdims=True, **kw)
        if negate:
            y = -y
        return np.asarray(y).reshape(shape)

    attrs: dict[str, Any] = {"op": name, "reduce_axes": axes}
    return execute(
        sim,
        instr,
        engine_of(engine, Engine.VECTOR),
        "tensor_reduce",
        dst,
        [("data", data)],
        compute,
        mask=mask,
        attrs=attrs,
        api=api,
        oob_skip=selected is not None,
    )


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


def tensor_copy(
    sim: Simulation,
    dst: Tensor,
    src: Any,
    *,
    engine: Any = None,
    mask: Any = None,
    api: str = "",
    instr: str = "nisa.tensor_copy",
    opcode: str = "tensor_copy",
) -> Instruction:
    """Copy ``src`` to ``dst`` with a dtype conversion (exact when the dtypes match)."""
    check_tensor(sim, instr, src, "src")
    check_tensor(sim, instr, dst, "dst")
    same_partitions(sim, instr, ("src", src), ("dst", dst))
    if src.size != dst.size and src.size != 1:
        sim.fail(
            instr,
            f"src {src.shape} and dst {dst.shape} differ in size",
            "store_dst_shape_smaller_than_other_shape",
        )
    eng = engine_of(engine, Engine.VECTOR)
    if eng is Engine.GPSIMD and Buffer.PSUM in (src.buffer, dst.buffer):
        sim.fail(instr, "GpSimdE cannot access PSUM", "unsupported_memory")
    exact = src.dtype == dst.dtype
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        return (src.read() if exact else v[0]).reshape(shape) if src.size == dst.size else v[0]

    attrs: dict[str, Any] = {}
    return execute(sim, instr, eng, opcode, dst, [("src", src)], compute, mask=mask, attrs=attrs, api=api)


def memset(
    sim: Simulation,
    dst: Tensor,
    value: Any,
    *,
    engine: Any = None,
    mask: Any = None,
    api: str = "",
    instr: str = "nisa.memset",
) -> Instruction:
    """Fill ``dst`` with a constant."""
    check_tensor(sim, instr, dst, "dst")
    if not is_number(value):
        sim.fail(instr, f"memset value must be a number, got {type(value).__name__}", "unsupported_operand")
    attrs: dict[str, Any] = {"value": float(value)}
    return execute(
        sim,
        instr,
        engine_of(engine, Engine.VECTOR),
        "memset",
        dst,
        [],
        lambda v: value,
        mask=mask,
        attrs=attrs,
        api=api,
    )


def pattern_values(partitions: int, pattern: Any, offset: int, channel_multiplier: int) -> np.ndarray:
    """``offset + c * channel_multiplier + sum(i_k * step_k)`` over ``[[step, num], ...]`` per partition c."""
    nums = [int(n) for _, n in pattern]
    grid = np.zeros(nums, dtype=np.int64)
    for d, (step, n) in enumerate(pattern):
        shape = [1] * len(nums)
        shape[d] = int(n)
        grid = grid + int(step) * np.arange(int(n)).reshape(shape)
    channel = np.arange(partitions).reshape((partitions,) + (1,) * grid.ndim)
    return np.asarray(offset + channel_multiplier * channel + grid[None])


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    """Shape after reducing ``axes`` (size 1 with ``keepdims``; on-chip results stay 2-D)."""
    if keepdims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    kept = tuple(n for d, n in enumerate(shape) if d not in axes)
    return kept if len(kept) >= 2 else (*kept, 1)


def iota(
    sim: Simulation, dst: Tensor, values: np.ndarray | None, *, mask: Any = None, instr: str = "nisa.iota"
) -> Instruction:
    """Materialise integer index values (GpSimdE)."""
    check_tensor(sim, instr, dst, "dst", (Buffer.SBUF,))
    return execute(
        sim,
        instr,
        Engine.GPSIMD,
        "iota",
        dst,
        [],
        (lambda v: values.reshape(dst.shape) if values is not None and values.size == dst.size else values),
        mask=mask,
    )


def affine_select(
    sim: Simulation,
    dst: Tensor,
    pred: np.ndarray | None,
    on_true: Any,
    on_false_value: Any,
    *,
    mask: Any = None,
    instr: str = "nisa.affine_select",
) -> Instruction:
    """``dst = pred ? on_true : on_false_value`` for a compile-time affine predicate (GpSimdE)."""
    check_tensor(sim, instr, on_true, "on_true_tile")
    check_tensor(sim, instr, dst, "dst")
    if Buffer.PSUM in (on_true.buffer, dst.buffer):
        sim.fail(instr, "GpSimdE cannot access PSUM", "unsupported_memory")
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        x = v[0].reshape(shape)
        p = np.broadcast_to(pred, shape) if pred is not None else np.ones(shape, bool)
        return np.where(p, x, np.float32(on_false_value))

    return execute(
        sim,
        instr,
        Engine.GPSIMD,
        "affine_select",
        dst,
        [("on_true_tile", on_true)],
        compute,
        mask=mask,
        attrs={"op": "select"},
    )


# ---------------------------------------------------------------------------------------------
# DMA
# ---------------------------------------------------------------------------------------------


def dma_copy(
    sim: Simulation,
    dst: Tensor,
    src: Any,
    *,
    mask: Any = None,
    opcode: str = "dma_copy",
    instr: str = "nisa.dma_copy",
    oob_skip: bool = False,
    accumulate: bool = False,
    attrs: dict[str, Any] | None = None,
    transpose: bool = False,
) -> Instruction:
    """Move ``src`` to ``dst`` (HBM<->SBUF, SBUF<->SBUF), converting the dtype via fp32."""
    if not isinstance(src, Tensor) or not isinstance(dst, Tensor):
        sim.fail(instr, "DMA operands must be tensors", "unsupported_operand")
    if src.buffer is Buffer.PSUM and sim.frontend == "current":
        sim.fail(instr, "DMA cannot read PSUM (copy to SBUF first)", "unsupported_memory")
    if dst.buffer is Buffer.PSUM and sim.frontend == "current":
        sim.fail(instr, "DMA cannot write PSUM", "unsupported_memory")
    for label, t in (("src", src), ("dst", dst)):
        if t.on_chip and t.shape and t.shape[0] > sim.spec.pmax:
            sim.fail(
                instr,
                f"{label} {t.label} has {t.shape[0]} partitions (valid: 1..{sim.spec.pmax})",
                "num_partition_exceed_arch_limit",
            )
    if src.size != dst.size:
        sim.fail(
            instr,
            f"src {src.shape} and dst {dst.shape} differ in element count",
            "store_dst_shape_smaller_than_other_shape",
        )
    exact = src.dtype == dst.dtype
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        vals = src.read() if exact and not accumulate else v[0]
        if transpose:
            vals = np.asarray(vals).reshape(src.shape).T
        return np.asarray(vals).reshape(shape)

    a = dict(attrs or {})
    if transpose:
        a["transpose"] = True
    if src.dyn or dst.dyn or src.index_tiles or dst.index_tiles:
        a["dynamic"] = True
    selection = None
    if not transpose:  # only the selected elements move (nki-semantics.md §9)
        with contextlib.suppress(TypeError):
            selection = dma_selection(src, dst, mask_array(mask))
    instruction = execute(
        sim,
        instr,
        Engine.DMA,
        opcode,
        dst,
        [("src", src)],
        compute if sim.values else None,
        mask=mask,
        attrs=a,
        oob_skip=oob_skip,
        accumulate=accumulate,
    )
    if selection is not None:
        apply_selection(instruction, selection)
    return instruction
