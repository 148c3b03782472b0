"""``neuronxcc.nki.isa`` (``nisa``): legacy instructions, each returning a new tile.

The shared core (:mod:`trnsim.nki.isa_impl`) does the work; this module allocates the result
tile (SBUF, or PSUM for TensorE) and marks it fresh so ``t[...] = nisa.x(...)`` and
``acc += nisa.nc_matmul(...)`` write straight into the destination as the compiler would.
"""

from __future__ import annotations

import enum
import types
from typing import Any

import numpy as np

from trnsim.nki import isa_extra as _extra
from trnsim.nki import isa_impl as _isa
from trnsim.nki import language_impl as _impl
from trnsim.nki import runtime as _runtime
from trnsim.nki.dtypes import dtype_name, promote
from trnsim.nki.engines import dma as _dma
from trnsim.nki.guard import exact as _exact
from trnsim.nki.guard import guard_module as _guard_module
from trnsim.nki.indexing import IndexExpr, MaskExpr
from trnsim.nki.isa_common import engine_name as _eng
from trnsim.nki.isa_common import get_nc_version as get_nc_version
from trnsim.nki.isa_common import nc_version as nc_version
from trnsim.nki.isa_common import oob_mode as oob_mode
from trnsim.nki.isa_common import sim_for as _sim
from trnsim.nki.runtime import Buffer
from trnsim.nki.tensor import Tensor
from trnsim.nki.trace import Engine


class engine(enum.IntEnum):
    """Compute engines."""

    unknown = 0
    tensor = 1
    scalar = 2
    gpsimd = 3
    vector = 5
    sync = 6


tensor_engine = engine.tensor
vector_engine = engine.vector
scalar_engine = engine.scalar
gpsimd_engine = engine.gpsimd
unknown_engine = engine.unknown
dma_engine = engine.sync


class reduce_cmd(enum.IntEnum):
    """Accumulation register commands."""

    idle = 0
    reset = 1
    reduce = 2
    reset_reduce = 3


class dge_mode(enum.IntEnum):
    """DMA descriptor generation."""

    none = 0
    swdge = 1
    hwdge = 2
    unknown = 3


constants = types.SimpleNamespace(
    engine=engine, reduce_cmd=reduce_cmd, dge_mode=dge_mode, oob_mode=oob_mode, nc_version=nc_version
)


def _out_dtype(dtype: Any, *tiles: Any) -> Any:
    if dtype is not None:
        return dtype
    dts = [t.dtype for t in tiles if isinstance(t, Tensor)]
    out = dts[0]
    for d in dts[1:]:
        out = promote(out, d)
    return out


@_exact
def nc_matmul(
    stationary: Any,
    moving: Any,
    *,
    is_stationary_onezero: bool = False,
    is_moving_onezero: bool = False,
    is_transpose: bool = False,
    tile_position: Any = (),
    tile_size: Any = (),
    perf_mode: Any = None,
    mask: Any = None,
) -> Tensor:
    """``stationary[K, M].T @ moving[K, N]`` into a new fp32 PSUM tile [M, N]."""
    sim = _sim("nc_matmul")
    stationary = _impl.to_sbuf(sim, stationary, "nisa.nc_matmul")
    moving = _impl.to_sbuf(sim, moving, "nisa.nc_matmul")
    key = None
    if _runtime.CACHE_TEMPLATES and stationary.__class__ is Tensor and moving.__class__ is Tensor:
        # the checks below depend only on these: a loop's later iterations reuse the sizes
        key = (
            "nisa.nc_matmul", stationary.alloc.buffer, moving.alloc.buffer, stationary.shape, moving.shape,
            stationary.paxis, moving.paxis, stationary.flat is None, moving.flat is None, perf_mode,
        )
        sizes = sim.templates.get(key)
        if sizes is not None:
            return _matmul_into(sim, stationary, moving, sizes, is_transpose, perf_mode, mask)
    _isa.check_tensor(sim, "nisa.nc_matmul", stationary, "stationary", (Buffer.SBUF,))
    _isa.check_tensor(sim, "nisa.nc_matmul", moving, "moving", (Buffer.SBUF,))
    double = perf_mode not in (None, "none", "")
    m = stationary.shape[-1] if double else _isa.free_size(stationary)
    n = moving.shape[-1] if double else _isa.free_size(moving)
    if m > sim.spec.gemm_stationary_fmax or m > sim.spec.pmax:
        sim.fail(
            "nisa.nc_matmul",
            f"stationary free size {m} exceeds the limit (valid: 1..{sim.spec.gemm_stationary_fmax})",
            "size_of_dimension_exceed_arch_limit",
        )
    limit = sim.spec.gemm_moving_fmax
    if n > limit and sim.spec.nc_version < 4:
        sim.fail(
            "nisa.nc_matmul",
            f"moving free size {n} exceeds the limit (valid: 1..{limit})",
            "size_of_dimension_exceed_arch_limit",
        )
    if key is not None:
        sim.templates[key] = (m, n)
    return _matmul_into(sim, stationary, moving, (m, n), is_transpose, perf_mode, mask)


def _matmul_into(
    sim: Any, stationary: Tensor, moving: Tensor, sizes: tuple[int, int], is_transpose: bool, perf_mode: Any,
    mask: Any,
) -> Tensor:
    """The checked ``nc_matmul``: a fresh PSUM tile [M, N] and the TensorE instruction."""
    dt = stationary.dtype if is_transpose else np.float32
    # an unmasked matmul writes its whole fresh tile (value mode skips the uninitialised fill)
    dst = _impl.new_tile(sim, "nisa.nc_matmul", sizes, dt, Buffer.PSUM, overwritten=mask is None)
    instr = _isa.nc_matmul(
        sim,
        dst,
        stationary,
        moving,
        accumulate=False,
        is_transpose=is_transpose,
        perf_mode=perf_mode or "none",
        mask=mask,
    )
    return _impl.fresh(sim, dst, instr)


@_exact
def nc_transpose(data: Any, *, mask: Any = None, dtype: Any = None, engine: Any = None) -> Tensor:
    """Transpose partition and free dimension (TensorE via PSUM, or VectorE for <= 32x32)."""
    sim = _sim("nc_transpose")
    _isa.check_tensor(sim, "nisa.nc_transpose", data, "data")
    e = _eng(engine)
    on_tensor = e == "tensor" or (e is None and (data.shape[0] > 32 or _isa.free_size(data) > 32))
    if on_tensor:
        _impl.refuse_in_allocated_kernel(
            sim,
            "nisa.nc_transpose",
            "a TensorE transpose",
            "transpose_on_tensor_engine_not_allowed_in_allocated_kernel",
        )
        data = _impl.to_sbuf(sim, data, "nisa.nc_transpose")
    buf = Buffer.PSUM if on_tensor else Buffer.SBUF
    dst = _impl.new_tile(
        sim, "nisa.nc_transpose", (_isa.free_size(data), data.shape[0]), dtype or data.dtype, buf
    )
    instr = _isa.nc_transpose(sim, dst, data, engine="tensor" if on_tensor else "vector", mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def activation(
    op: Any,
    data: Any,
    *,
    bias: Any = None,
    scale: Any = 1.0,
    reduce_op: Any = None,
    reduce_res: Any = None,
    reduce_cmd: Any = None,
    mask: Any = None,
    dtype: Any = None,
    buffer: Any = None,
) -> Tensor:
    """``op(data * scale + bias)`` on ScalarE, into a new tile in ``buffer`` (SBUF or PSUM; the
    undocumented keyword nki-api.md §2.4 lists; default SBUF)."""
    sim = _sim("activation")
    _isa.check_tensor(sim, "nisa.activation", data, "data")
    if bias is None and sim.direct:
        sim.fail(
            "nisa.activation",
            "an activation in a kernel that uses direct allocation needs an explicit bias tile",
            "bias_tensor_must_be_specified_in_allocation",
        )
    buf = Buffer.SBUF if buffer is None else _impl.to_buffer(sim, "nisa.activation", buffer)
    if buf is not Buffer.SBUF and buf is not Buffer.PSUM:
        sim.fail("nisa.activation", f"buffer {buf.value} (valid: sbuf, psum)", "unsupported_memory")
    dst = _impl.new_tile(sim, "nisa.activation", data.shape, dtype or data.dtype, buf)
    instr = _isa.activation(
        sim, dst, op, data, bias=bias, scale=scale, reduce_op=reduce_op, reduce_res=reduce_res, mask=mask
    )
    return _impl.fresh(sim, dst, instr)


@_exact
def activation_reduce(
    op: Any,
    data: Any,
    *,
    reduce_op: Any,
    reduce_res: Any,
    bias: Any = None,
    scale: Any = 1.0,
    mask: Any = None,
    dtype: Any = None,
) -> Tensor:
    """Activation plus a reduction of its output along the free axes into ``reduce_res``."""
    sim = _sim("activation_reduce")
    _isa.check_tensor(sim, "nisa.activation_reduce", data, "data")
    dst = _impl.new_tile(sim, "nisa.activation_reduce", data.shape, dtype or data.dtype)
    instr = _isa.activation(
        sim,
        dst,
        op,
        data,
        bias=bias,
        scale=scale,
        reduce_op=reduce_op,
        reduce_res=reduce_res,
        mask=mask,
        instr="nisa.activation_reduce",
    )
    return _impl.fresh(sim, dst, instr)


@_exact
def tensor_tensor(
    data1: Any, data2: Any, op: Any, *, dtype: Any = None, mask: Any = None, engine: Any = None
) -> Tensor:
    """``data1 op data2`` element-wise."""
    sim = _sim("tensor_tensor")
    _isa.check_tensor(sim, "nisa.tensor_tensor", data1, "data1")
    _isa.check_tensor(sim, "nisa.tensor_tensor", data2, "data2")
    dst = _impl.new_tile(sim, "nisa.tensor_tensor", data1.shape, _out_dtype(dtype, data1, data2))
    instr = _isa.tensor_tensor(sim, dst, data1, data2, op, engine=_eng(engine), mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def tensor_scalar(
    data: Any,
    op0: Any,
    operand0: Any,
    reverse0: bool = False,
    op1: Any = None,
    operand1: Any = None,
    reverse1: bool = False,
    *,
    dtype: Any = None,
    mask: Any = None,
    engine: Any = None,
) -> Tensor:
    """``(data op0 operand0) op1 operand1`` with scalar or [P, 1] operands."""
    sim = _sim("tensor_scalar")
    _isa.check_tensor(sim, "nisa.tensor_scalar", data, "data")
    dst = _impl.new_tile(sim, "nisa.tensor_scalar", data.shape, dtype or data.dtype)
    instr = _isa.tensor_scalar(
        sim,
        dst,
        data,
        op0,
        operand0,
        reverse0=reverse0,
        op1=op1,
        operand1=operand1,
        reverse1=reverse1,
        engine=_eng(engine),
        mask=mask,
    )
    return _impl.fresh(sim, dst, instr)


@_exact
def scalar_tensor_tensor(
    *,
    data: Any,
    op0: Any,
    operand0: Any,
    op1: Any,
    operand1: Any,
    reverse0: bool = False,
    reverse1: bool = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """``(data op0 operand0) op1 operand1`` with ``operand1`` a tile."""
    sim = _sim("scalar_tensor_tensor")
    _isa.check_tensor(sim, "nisa.scalar_tensor_tensor", data, "data")
    dst = _impl.new_tile(sim, "nisa.scalar_tensor_tensor", data.shape, _out_dtype(dtype, data, operand1))
    instr = _isa.scalar_tensor_tensor(
        sim, dst, data, op0, operand0, op1, operand1, reverse0=reverse0, reverse1=reverse1, mask=mask
    )
    return _impl.fresh(sim, dst, instr)


@_exact
def tensor_reduce(
    op: Any,
    data: Any,
    axis: Any,
    *,
    mask: Any = None,
    dtype: Any = None,
    negate: bool = False,
    keepdims: bool = False,
) -> Tensor:
    """Reduce along free axes."""
    sim = _sim("tensor_reduce")
    _isa.check_tensor(sim, "nisa.tensor_reduce", data, "data")
    axes = _isa.normalize_axes(sim, "nisa.tensor_reduce", axis, data.ndim)
    shape = _isa.reduced_shape(data.shape, axes, keepdims)
    dst = _impl.new_tile(sim, "nisa.tensor_reduce", shape, dtype or data.dtype)
    instr = _isa.tensor_reduce(sim, dst, op, data, axes, negate=negate, mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def tensor_copy(src: Any, *, mask: Any = None, dtype: Any = None, engine: Any = None) -> Tensor:
    """Copy a tile (exact when dtypes match)."""
    sim = _sim("tensor_copy")
    _isa.check_tensor(sim, "nisa.tensor_copy", src, "src")
    dst = _impl.new_tile(sim, "nisa.tensor_copy", src.shape, dtype or src.dtype)
    instr = _isa.tensor_copy(sim, dst, src, engine=_eng(engine), mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def memset(shape: Any, value: Any, dtype: Any, *, mask: Any = None, engine: Any = None) -> Tensor:
    """A new tile filled with ``value``."""
    sim = _sim("memset")
    dst = _impl.new_tile(sim, "nisa.memset", tuple(shape), dtype)
    instr = _isa.memset(sim, dst, value, engine=_eng(engine), mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def iota(expr: Any, dtype: Any, *, mask: Any = None) -> Tensor:
    """Materialise an affine index expression as a tile (GpSimdE)."""
    sim = _sim("iota")
    if not isinstance(expr, IndexExpr):
        sim.fail(
            "nisa.iota",
            f"iota needs an nl.arange/mgrid expression, got {type(expr).__name__}",
            "unsupported_operand",
        )
    shape = expr.shape if expr.ndim >= 2 else (expr.shape[0], 1)
    dst = _impl.new_tile(sim, "nisa.iota", shape, dtype)
    instr = _isa.iota(sim, dst, expr.values().reshape(shape) if sim.values else None, mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def affine_select(
    pred: Any, on_true_tile: Any, on_false_value: Any, *, mask: Any = None, dtype: Any = None
) -> Tensor:
    """``pred ? on_true_tile : on_false_value`` for an affine predicate."""
    sim = _sim("affine_select")
    _isa.check_tensor(sim, "nisa.affine_select", on_true_tile, "on_true_tile")
    on_true_tile = _impl.to_sbuf(sim, on_true_tile, "nisa.affine_select", always=True)
    if isinstance(pred, IndexExpr):
        p = (pred.values() > 0) if sim.values else None
    elif isinstance(pred, MaskExpr):
        p = pred.values() if sim.values else None
    else:
        sim.fail(
            "nisa.affine_select",
            "pred must be an affine expression of nl.arange/mgrid",
            "unsupported_expression_in_mask",
        )
    dst = _impl.new_tile(sim, "nisa.affine_select", on_true_tile.shape, dtype or on_true_tile.dtype)
    instr = _isa.affine_select(sim, dst, p, on_true_tile, on_false_value, mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def reciprocal(data: Any, *, dtype: Any = None, mask: Any = None) -> Tensor:
    """``1 / data`` on VectorE."""
    sim = _sim("reciprocal")
    _isa.check_tensor(sim, "nisa.reciprocal", data, "data")
    dst = _impl.new_tile(sim, "nisa.reciprocal", data.shape, dtype or data.dtype)
    instr = _isa.execute(
        sim,
        "nisa.reciprocal",
        Engine.VECTOR,
        "reciprocal",
        dst,
        [("data", data)],
        lambda v: np.float32(1.0) / v[0].astype(np.float32),
        mask=mask,
        attrs={"op": "reciprocal"},
    )
    return _impl.fresh(sim, dst, instr)


@_exact
def dropout(data: Any, prob: Any, *, mask: Any = None, dtype: Any = None) -> Tensor:
    """Zero each element with probability ``prob`` (a number or a [P, 1] tile): a new tile."""
    sim = _sim("dropout")
    _isa.check_tensor(sim, "nisa.dropout", data, "data")
    dst = _impl.new_tile(sim, "nisa.dropout", data.shape, dtype or data.dtype)
    instr = _isa.dropout(sim, dst, data, prob, mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def tensor_partition_reduce(op: Any, data: Any, *, mask: Any = None, dtype: Any = None) -> Tensor:
    """``op`` across the partitions of ``data`` (GpSimdE): a new [1, F...] tile."""
    sim = _sim("tensor_partition_reduce")
    _isa.check_tensor(sim, "nisa.tensor_partition_reduce", data, "data")
    shape = (1, *data.shape[1:])
    dst = _impl.new_tile(sim, "nisa.tensor_partition_reduce", shape, dtype or data.dtype)
    instr = _isa.tensor_partition_reduce(sim, dst, op, data, mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def sequence_bounds(*, segment_ids: Any, dtype: Any = None) -> Tensor:
    """Per position of ``segment_ids [1, N]``: its segment's (start, end): a new (1, 2, N) tile."""
    sim = _sim("sequence_bounds")
    _isa.check_tensor(sim, "nisa.sequence_bounds", segment_ids, "segment_ids")
    dst = _impl.new_tile(sim, "nisa.sequence_bounds", (1, 2, segment_ids.size), dtype or segment_ids.dtype)
    instr = _isa.sequence_bounds(sim, dst, segment_ids)
    return _impl.fresh(sim, dst, instr)


@_exact
def tensor_scalar_reduce(
    *,
    data: Any,
    op0: Any,
    operand0: Any,
    reduce_op: Any,
    reduce_res: Any,
    reverse0: bool = False,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """``data op0 operand0`` plus a free-axis reduction into ``reduce_res`` [P, 1]."""
    sim = _sim("tensor_scalar_reduce")
    _isa.check_tensor(sim, "nisa.tensor_scalar_reduce", data, "data")
    dst = _impl.new_tile(sim, "nisa.tensor_scalar_reduce", data.shape, dtype or data.dtype)
    instr = _isa.tensor_scalar(
        sim, dst, data, op0, operand0, reverse0=reverse0, mask=mask, instr="nisa.tensor_scalar_reduce"
    )
    rname = _isa.op_name(reduce_op)
    if rname not in _isa.REDUCE:
        sim.fail(
            "nisa.tensor_scalar_reduce",
            f"reduce_op {reduce_op!r} is not a reduction",
            "unsupported_reduce_op",
        )
    _isa.check_tensor(sim, "nisa.tensor_scalar_reduce", reduce_res, "reduce_res")
    if sim.values:
        vals = dst.read().astype(np.float32)
        red = _isa.REDUCE[str(rname)](vals, axis=tuple(range(1, vals.ndim)), keepdims=True)
        _isa.write(reduce_res, red.reshape(reduce_res.shape), None, False)
    instr.opcode = "tensor_scalar_reduce"
    instr.attrs["reduce_op"] = rname
    instr.outputs = (*instr.outputs, reduce_res.operand("reduce_res"))
    sim.reread.append(instr.seq)  # (spill planning reads the operands it now has)
    return _impl.fresh(sim, dst, instr)


@_exact
def tensor_tensor_scan(
    data0: Any,
    data1: Any,
    initial: Any,
    op0: Any,
    op1: Any,
    reverse0: bool = False,
    reverse1: bool = False,
    *,
    dtype: Any = None,
    mask: Any = None,
) -> Tensor:
    """Per partition ``r_i = op1(op0(data0[i], r_{i-1}), data1[i])`` along the free axis."""
    sim = _sim("tensor_tensor_scan")
    _isa.check_tensor(sim, "nisa.tensor_tensor_scan", data0, "data0")
    _isa.check_tensor(sim, "nisa.tensor_tensor_scan", data1, "data1")
    n0 = _isa._alu(sim, "nisa.tensor_tensor_scan", op0, "op0")
    n1 = _isa._alu(sim, "nisa.tensor_tensor_scan", op1, "op1")
    dst = _impl.new_tile(sim, "nisa.tensor_tensor_scan", data0.shape, _out_dtype(dtype, data0, data1))
    p, f = data0.shape[0], _isa.free_size(data0)

    def compute(v: list[Any]) -> Any:
        d0, d1, init = v
        d0, d1 = d0.reshape(p, f), d1.reshape(p, f)
        r = np.broadcast_to(np.asarray(init, dtype=np.float32).reshape(-1, 1), (p, 1))[:, 0].copy()
        out = np.empty((p, f), np.float32)
        for i in range(f):
            a = _isa._apply(n0, r, d0[:, i]) if reverse0 else _isa._apply(n0, d0[:, i], r)
            r = _isa._apply(n1, d1[:, i], a) if reverse1 else _isa._apply(n1, a, d1[:, i])
            out[:, i] = r
        return out.reshape(dst.shape)

    instr = _isa.execute(
        sim,
        "nisa.tensor_tensor_scan",
        Engine.VECTOR,
        "tensor_tensor_scan",
        dst,
        [("data0", data0), ("data1", data1), ("initial", initial)],
        compute,
        mask=mask,
        attrs={"op": n0, "op1": n1},
    )
    return _impl.fresh(sim, dst, instr)


@_exact
def tensor_copy_predicated(
    *,
    src: Any,
    dst: Any,
    predicate: Any,
    reverse_pred: bool = False,
    mask: Any = None,
    dtype: Any = None,
) -> None:
    """In place ``dst = where(predicate, src, dst)``."""
    sim = _sim("tensor_copy_predicated")
    _isa.check_tensor(sim, "nisa.tensor_copy_predicated", dst, "dst")
    _isa.check_tensor(sim, "nisa.tensor_copy_predicated", predicate, "predicate")
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        s, pred, old = v
        keep = np.asarray(pred).reshape(shape) != 0
        if reverse_pred:
            keep = ~keep
        return np.where(keep, np.broadcast_to(s, shape) if np.ndim(s) else s, old)

    _isa.execute(
        sim,
        "nisa.tensor_copy_predicated",
        Engine.VECTOR,
        "tensor_copy_predicated",
        dst,
        [("src", src), ("predicate", predicate), ("dst", dst)],
        compute,
        mask=mask,
    )


@_exact
def dma_copy(
    *,
    dst: Any,
    src: Any,
    mask: Any = None,
    dst_rmw_op: Any = None,
    oob_mode: Any = None,
    dge_mode: Any = None,
) -> None:
    """Copy between HBM and SBUF (or SBUF and SBUF); ``dst_rmw_op=np.add`` accumulates."""
    sim = _sim("dma_copy")
    skip = oob_mode is not None and int(oob_mode) == 1
    accumulate = dst_rmw_op is not None
    if accumulate and _isa.op_name(dst_rmw_op) != "add":
        sim.fail("nisa.dma_copy", f"dst_rmw_op {dst_rmw_op!r} (valid: np.add)", "unsupported_alu_op")
    attrs = {
        "dge_mode": getattr(dge_mode, "name", "unknown") if dge_mode is not None else "unknown",
        "oob_mode": "skip" if skip else "error",
    }
    _isa.dma_copy(sim, dst, src, mask=mask, oob_skip=skip, accumulate=accumulate, attrs=attrs)


@_exact
def dma_transpose(
    src: Any, *, axes: Any = None, mask: Any = None, dtype: Any = None, dge_mode: Any = None
) -> Tensor:
    """A transposing DMA into a new SBUF tile: ``src`` permuted by ``axes`` ((1, 0), (2, 1, 0) or
    (3, 1, 2, 0); default reversed).

    nki-api.md §2.4 documents ``**kwargs`` here with one keyword, ``dge_mode``: that one is taken
    (recorded in the trace as for ``dma_copy``) and any other is refused, not dropped."""
    sim = _sim("dma_transpose")
    order = _dma.transpose_axes(sim, "nisa.dma_transpose", src, axes)
    shape = tuple(src.shape[a] for a in order)
    dst = _impl.new_tile(sim, "nisa.dma_transpose", shape, dtype or src.dtype)
    instr = _isa.dma_copy(
        sim,
        dst,
        src,
        mask=mask,
        opcode="dma_transpose",
        instr="nisa.dma_transpose",
        transpose=True,
        axes=order,
        attrs=None if dge_mode is None else {"dge_mode": getattr(dge_mode, "name", str(dge_mode))},
    )
    return _impl.fresh(sim, dst, instr)


# Private SDK helpers (observed in kernels only, nki-api.md §2.4 "Private [O]"): no documented
# signature to hold them to, so they keep taking (and ignoring) other keywords.
def _tiled_offloaded_memcpy(*, dst: Any, src: Any, **_: Any) -> None:
    """Private SDK helper: a DMA copy."""
    dma_copy(dst=dst, src=src)


def _tiled_offloaded_fma(a: Any, b: Any, *, dst: Any, scales: Any = (1.0, 1.0), **_: Any) -> None:
    """Private SDK helper: ``dst = scales[0]*a + scales[1]*b`` (a DMA compute)."""
    sim = _sim("_tiled_offloaded_fma")
    s0, s1 = float(scales[0]), float(scales[1])
    _isa.execute(
        sim,
        "nisa._tiled_offloaded_fma",
        Engine.DMA,
        "dma_compute",
        dst,
        [("a", a), ("b", b)],
        lambda v: np.float32(s0) * v[0].reshape(dst.shape) + np.float32(s1) * v[1].reshape(dst.shape),
        attrs={"op": "add"},
    )


@_exact
def bn_stats(data: Any, *, mask: Any = None, dtype: Any = None) -> Tensor:
    """Per partition (count, mean, var*count) of even- then odd-index elements: a new [P, 6] tile."""
    sim = _sim("bn_stats")
    _isa.check_tensor(sim, "nisa.bn_stats", data, "data")
    dst = _impl.new_tile(sim, "nisa.bn_stats", (data.shape[0], 6), dtype or np.float32)
    return _impl.fresh(sim, dst, _extra.bn_stats(sim, dst, data, mask=mask))


@_exact
def bn_aggr(data: Any, *, mask: Any = None, dtype: Any = None) -> Tensor:
    """(mean, var) per partition from bn_stats triples: a new [P, 2] tile."""
    sim = _sim("bn_aggr")
    _isa.check_tensor(sim, "nisa.bn_aggr", data, "data")
    dst = _impl.new_tile(sim, "nisa.bn_aggr", (data.shape[0], 2), dtype or np.float32)
    return _impl.fresh(sim, dst, _extra.bn_aggr(sim, dst, data, mask=mask))


@_exact
def max8(*, src: Any, mask: Any = None, dtype: Any = None) -> Tensor:
    """The 8 largest values per partition, descending: a new [P, 8] tile."""
    sim = _sim("max8")
    _isa.check_tensor(sim, "nisa.max8", src, "src")
    dst = _impl.new_tile(sim, "nisa.max8", (src.shape[0], 8), dtype or src.dtype)
    return _impl.fresh(sim, dst, _extra.max8(sim, dst, src, mask=mask))


@_exact
def nc_find_index8(*, data: Any, vals: Any, mask: Any = None, dtype: Any = None) -> Tensor:
    """First index of each of 8 values per partition: a new [P, 8] uint32 tile."""
    sim = _sim("nc_find_index8")
    _isa.check_tensor(sim, "nisa.nc_find_index8", data, "data")
    dst = _impl.new_tile(sim, "nisa.nc_find_index8", (data.shape[0], 8), dtype or np.uint32)
    return _impl.fresh(sim, dst, _extra.nc_find_index8(sim, dst, data, vals, mask=mask))


@_exact
def nc_match_replace8(
    *, data: Any, vals: Any, imm: Any, dst_idx: Any = None, mask: Any = None, dtype: Any = None
) -> Tensor:
    """``data`` with the first match of each of 8 values per partition replaced by ``imm``."""
    sim = _sim("nc_match_replace8")
    _isa.check_tensor(sim, "nisa.nc_match_replace8", data, "data")
    dst = _impl.new_tile(sim, "nisa.nc_match_replace8", data.shape, dtype or data.dtype)
    instr = _extra.nc_match_replace8(sim, dst, data, vals, imm, dst_idx, mask=mask)
    return _impl.fresh(sim, dst, instr)


@_exact
def nc_stream_shuffle(
    src: Any, dst: Any, shuffle_mask: Any, *, dtype: Any = None, mask: Any = None
) -> None:
    """Partition shuffle within 32-partition quadrants (legacy: src first)."""
    _extra.nc_stream_shuffle(_sim("nc_stream_shuffle"), dst, src, shuffle_mask)


@_exact
def range_select(
    *,
    on_true_tile: Any,
    comp_op0: Any,
    comp_op1: Any,
    bound0: Any,
    bound1: Any,
    reduce_cmd: Any = None,
    reduce_res: Any = None,
    reduce_op: Any = np.amax,
    range_start: float = 0,
    on_false_value: float = -3.4028235e38,
    mask: Any = None,
    dtype: Any = None,
) -> Tensor:
    """Keep elements whose free index lies in the bounds (else FP32_MIN): a new tile."""
    sim = _sim("range_select")
    _isa.check_tensor(sim, "nisa.range_select", on_true_tile, "on_true_tile")
    dst = _impl.new_tile(sim, "nisa.range_select", on_true_tile.shape, dtype or on_true_tile.dtype)
    instr = _extra.range_select(
        sim,
        dst,
        on_true_tile,
        comp_op0,
        comp_op1,
        bound0,
        bound1,
        reduce_res=reduce_res,
        reduce_op=reduce_op,
        range_start=range_start,
        on_false_value=on_false_value,
    )
    return _impl.fresh(sim, dst, instr)


@_exact
def select_reduce(
    *,
    dst: Any,
    predicate: Any,
    on_true: Any,
    on_false: Any,
    reduce_res: Any = None,
    reduce_cmd: Any = None,
    reduce_op: Any = np.amax,
    reverse_pred: bool = False,
    mask: Any = None,
    dtype: Any = None,
) -> None:
    """``dst = where(predicate, on_true, on_false)`` with an optional max into ``reduce_res``."""
    _extra.select_reduce(
        _sim("select_reduce"),
        dst,
        predicate,
        on_true,
        on_false,
        reduce_res=reduce_res,
        reduce_op=reduce_op,
        reverse_pred=reverse_pred,
    )


def _dtype_str(t: Tensor) -> str:
    return dtype_name(t.dtype)


#: instructions that make one new tile: timing-only templates (trnsim.nki.templates)
_TEMPLATED = (
    "nc_matmul", "nc_transpose", "activation", "tensor_tensor", "tensor_scalar", "scalar_tensor_tensor",
    "tensor_reduce", "tensor_copy", "memset", "reciprocal",
)
_guard_module(globals(), "nisa", _TEMPLATED)
