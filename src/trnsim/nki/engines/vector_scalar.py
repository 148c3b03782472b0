"""VectorE and ScalarE instructions: activations, element-wise ALU ops, reductions, copies,
memset, statistics (bn_stats/bn_aggr), top-8 search and replace, selects, stream shuffles."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from trnsim.nki.alu import ACTIVATIONS, BINARY, BITVEC, REDUCE, op_name
from trnsim.nki.dtypes import dtype_name, is_float, is_int
from trnsim.nki.engines.execute import (
    _alu,
    _apply,
    _input_mask,
    check_tensor,
    engine_of,
    execute,
    free_size,
    is_number,
    mask_array,
    named_op,
    normalize_axes,
    same_partitions,
    write,
)
from trnsim.nki.runtime import Buffer, Simulation
from trnsim.nki.tensor import Tensor, fit_mask
from trnsim.nki.trace import Engine, Instruction


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
    rname, extra = _reduction(sim, instr, reduce_res, reduce_op)
    fn = ACTIVATIONS[name]
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        x, s, b = v
        y = x.astype(np.float32) * _bcast(np.float32(s) if not isinstance(s, np.ndarray) else s, x.shape)
        if b is not None:
            y = y + _bcast(b, x.shape)
        out = fn(np.asarray(y, dtype=np.float32))
        if reduce_res is not None and sim.values:
            _reduce_into(sim, reduce_res, out, rname)
        return out.reshape(shape) if out.size == int(np.prod(shape)) else out

    attrs: dict[str, Any] = {"op": name}
    if rname:
        attrs["reduce_op"] = rname
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
    if dst.dtype.names and float(value) != 0.0:  # packed x4 dtypes (nki-api.md §3.5: 0 only)
        what = f"memset of a {dst.dtype.names[0]} tile takes 0 only, got {value}"
        sim.fail(instr, what, "unsupported_operand")
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


def bn_stats(
    sim: Simulation, dst: Tensor, data: Any, *, mask: Any = None, instr: str = "nisa.bn_stats"
) -> Instruction:
    """Per partition (count, mean, var*count) of the even-index, then the odd-index elements: [P, 6].

    A legacy ``mask`` selects the *input* elements counted (the LayerNorm tutorial masks the last,
    partial chunk of the hidden dim); partitions with no element selected are not written.
    """
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, dst, "dst")
    n = free_size(data)
    if n > sim.spec.bn_stats_fmax:
        sim.fail(
            instr,
            f"free size {n} exceeds the limit (valid: 1..{sim.spec.bn_stats_fmax})",
            "size_of_dimension_exceed_arch_limit",
        )
    if free_size(dst) != 6:
        sim.fail(
            instr,
            f"dst must hold 6 values per partition, got {dst.shape}",
            "store_dst_shape_smaller_than_other_shape",
        )
    p = data.shape[0]
    keep = np.ones((p, n), dtype=bool)
    row_mask = None
    selected = mask_array(mask)
    if selected is not None:
        keep = fit_mask(selected, data.shape).reshape(p, n)
        data.check_bounds(instr, keep.reshape(data.shape))
        row_mask = keep.any(axis=1, keepdims=True).reshape((p,) + (1,) * (dst.ndim - 1))

    def compute(v: list[Any]) -> Any:
        x = v[0].reshape(p, n).astype(np.float32)
        cols = []
        for part, sel in ((x[:, 0::2], keep[:, 0::2]), (x[:, 1::2], keep[:, 1::2])):
            count = sel.sum(axis=1).astype(np.float32)
            total = np.where(sel, part, 0.0).sum(axis=1)
            mean = np.divide(total, count, out=np.zeros(p, np.float32), where=count > 0)
            m2 = np.where(sel, part - mean[:, None], 0.0) ** 2
            cols += [count, mean, m2.sum(axis=1)]
        return np.stack(cols, axis=1).reshape(dst.shape)

    return execute(
        sim,
        instr,
        Engine.VECTOR,
        "bn_stats",
        dst,
        [("data", data)],
        compute,
        mask=row_mask,
        oob_skip=mask is not None,
    )


def bn_aggr(
    sim: Simulation, dst: Tensor, data: Any, *, mask: Any = None, instr: str = "nisa.bn_aggr"
) -> Instruction:
    """Combine (count, mean, var*count) triples into (mean, var) per partition: [P, 2].

    A legacy ``mask`` (on partitions) selects the rows written, as for the other mask-taking ops.
    """
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, dst, "dst")
    n = free_size(data)
    if n % 3:
        sim.fail(instr, f"data must hold (count, mean, var*count) triples, got {n} values", "invalid_shape")
    p = data.shape[0]

    def compute(v: list[Any]) -> Any:
        t = v[0].reshape(p, n // 3, 3).astype(np.float64)
        count, mean, m2 = t[..., 0], t[..., 1], t[..., 2]
        total = count.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = (count * mean).sum(axis=1) / total
            var = (m2 + count * (mean - mu[:, None]) ** 2).sum(axis=1) / total
        return np.stack([mu, var], axis=1).astype(np.float32).reshape(dst.shape)

    return execute(sim, instr, Engine.VECTOR, "bn_aggr", dst, [("data", data)], compute, mask=mask)


def max8(
    sim: Simulation, dst: Tensor, src: Any, *, mask: Any = None, instr: str = "nisa.max8"
) -> Instruction:
    """The 8 largest values of each partition, descending: [P, 8] (``mask``: rows written)."""
    check_tensor(sim, instr, src, "src")
    check_tensor(sim, instr, dst, "dst")
    n = free_size(src)
    if not 8 <= n <= 16384:
        sim.fail(instr, f"free size {n} (valid: 8..16384)", "size_of_dimension_exceed_arch_limit")
    p = src.shape[0]
    return execute(
        sim,
        instr,
        Engine.VECTOR,
        "max8",
        dst,
        [("src", src)],
        lambda v: -np.sort(-v[0].reshape(p, n), axis=1)[:, :8].reshape(dst.shape),
        mask=mask,
    )


def nc_find_index8(
    sim: Simulation,
    dst: Tensor,
    data: Any,
    vals: Any,
    *,
    mask: Any = None,
    instr: str = "nisa.nc_find_index8",
) -> Instruction:
    """First index of each of 8 values per partition (all ones when absent; ``mask``: rows written)."""
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, vals, "vals")
    check_tensor(sim, instr, dst, "dst")
    p, n = data.shape[0], free_size(data)
    absent = np.iinfo(dst.dtype).max if dst.dtype.kind in "iu" else -1

    def compute(v: list[Any]) -> Any:
        x = v[0].reshape(p, n)
        want = v[1].reshape(p, 8)
        out = np.full((p, 8), absent, np.int64)
        for j in range(8):
            hit = x == want[:, j : j + 1]
            found = hit.any(axis=1)
            out[found, j] = hit.argmax(axis=1)[found]
        return out.reshape(dst.shape)

    return execute(
        sim, instr, Engine.VECTOR, "nc_find_index8", dst, [("data", data), ("vals", vals)], compute, mask=mask
    )


def nc_stream_shuffle(
    sim: Simulation, dst: Tensor, src: Any, shuffle_mask: Any, *, instr: str = "nisa.nc_stream_shuffle"
) -> Instruction:
    """In each 32-partition quadrant, dst partition i <- src partition shuffle_mask[i] (255 keeps dst)."""
    check_tensor(sim, instr, src, "src")
    check_tensor(sim, instr, dst, "dst")
    mask = [int(m) for m in shuffle_mask]
    if len(mask) != 32 or any(not (0 <= m < 32 or m == 255) for m in mask):
        sim.fail(
            instr,
            "shuffle_mask must be 32 partition indices in 0..31 (or 255 to keep)",
            "invalid_shuffle_mask",
        )
    if src.dtype != dst.dtype or free_size(src) != free_size(dst):
        sim.fail(
            instr,
            f"src {src.shape} {src.dtype} and dst {dst.shape} {dst.dtype} must match in dtype and free size",
            "unsupported_dtype",
        )
    p, n = dst.shape[0], free_size(dst)

    def compute(v: list[Any]) -> Any:
        s = src.read().reshape(src.shape[0], n)
        out = dst.read().reshape(p, n).copy()
        for q0 in range(0, p, 32):
            for i in range(min(32, p - q0)):
                if mask[i] != 255 and q0 + mask[i] < s.shape[0]:
                    out[q0 + i] = s[q0 + mask[i]]
        return out.reshape(dst.shape)

    return execute(
        sim, instr, Engine.VECTOR, "nc_stream_shuffle", dst, [("src", src)], compute, attrs={"op": "shuffle"}
    )


def _reduce_into(sim: Simulation, reduce_res: Any, values: np.ndarray, op: str) -> None:
    red = REDUCE[op](values, axis=_free_axes(values.ndim), keepdims=True)
    write(reduce_res, red.reshape(reduce_res.shape), None, False)


def _reduction(sim: Simulation, instr: str, reduce_res: Any, reduce_op: Any,
               default: str = "") -> tuple[str, list[tuple[str, Any]]]:
    """An optional ``reduce_res`` output checked with its ``reduce_op``: the op's name and the
    extra outputs to pass to :func:`execute`."""
    rname = op_name(reduce_op) or default
    if reduce_res is None:
        return rname, []
    check_tensor(sim, instr, reduce_res, "reduce_res")
    if rname not in REDUCE:
        sim.fail(instr, f"reduce_op {reduce_op!r} is not a reduction", "unsupported_reduce_op")
    return rname, [("reduce_res", reduce_res)]


def nc_match_replace8(
    sim: Simulation,
    dst: Tensor,
    data: Any,
    vals: Any,
    imm: Any,
    dst_idx: Tensor | None = None,
    *,
    mask: Any = None,
    instr: str = "nisa.nc_match_replace8",
) -> Instruction:
    """Replace the first occurrence of each of 8 values per partition by ``imm``.

    nki-semantics §7: each partition is processed over its flattened free dims; slots are
    processed from 7 down to 0, so among duplicate values the earliest match lands in the highest
    slot; ``dst_idx`` receives the flat positions (an absent value is UB: all ones here).
    """
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, vals, "vals")
    check_tensor(sim, instr, dst, "dst")
    p, n = data.shape[0], free_size(data)
    if free_size(vals) != 8 or vals.shape[0] != p:
        sim.fail(
            instr, f"vals must hold 8 values per partition ([{p}, 8]), got {vals.shape}", "invalid_shape"
        )
    if n > 16384 or dst.size != data.size:
        sim.fail(
            instr, f"data [{p}, {n}] (valid: <= 16384 per partition; dst the same size)", "invalid_shape"
        )
    if dst_idx is not None:
        check_tensor(sim, instr, dst_idx, "dst_idx")
    found_idx = np.zeros((p, 8), np.int64)

    def compute(v: list[Any]) -> Any:
        x = np.array(v[0], dtype=np.float32).reshape(p, n)
        want = np.asarray(v[1], dtype=np.float32).reshape(p, 8)
        replaced = np.zeros((p, n), bool)
        found_idx[...] = -1
        for j in range(7, -1, -1):
            hit = (x == want[:, j : j + 1]) & ~replaced
            has = hit.any(axis=1)
            first = hit.argmax(axis=1)
            rows = np.nonzero(has)[0]
            x[rows, first[rows]] = np.float32(imm)
            replaced[rows, first[rows]] = True
            found_idx[rows, j] = first[rows]
        if dst_idx is not None and sim.values:
            absent = np.iinfo(dst_idx.dtype).max if dst_idx.dtype.kind in "iu" else -1
            write(dst_idx, np.where(found_idx < 0, absent, found_idx).reshape(dst_idx.shape), None, False)
        return x.reshape(dst.shape)

    extra = [("dst_idx", dst_idx)] if dst_idx is not None else []
    return execute(
        sim,
        instr,
        Engine.VECTOR,
        "nc_match_replace8",
        dst,
        [("data", data), ("vals", vals)],
        compute,
        mask=mask,
        extra_outputs=extra,
    )


def select_reduce(
    sim: Simulation,
    dst: Tensor,
    predicate: Any,
    on_true: Any,
    on_false: Any,
    *,
    reduce_res: Any = None,
    reduce_op: Any = "maximum",
    reverse_pred: bool = False,
    instr: str = "nisa.select_reduce",
) -> Instruction:
    """``dst = where(predicate, on_true, on_false)``, optionally reduced (max) into ``reduce_res``."""
    check_tensor(sim, instr, dst, "dst")
    check_tensor(sim, instr, predicate, "predicate")
    check_tensor(sim, instr, on_true, "on_true")
    rname, extra = _reduction(sim, instr, reduce_res, reduce_op, "maximum")
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        pred, t, f = v
        keep = np.asarray(pred).reshape(shape) != 0
        if reverse_pred:
            keep = ~keep
        f = np.asarray(f, np.float32)
        out = np.where(
            keep,
            np.asarray(t, np.float32).reshape(shape),
            f.reshape(shape) if f.ndim and f.size == keep.size else f,
        )
        if reduce_res is not None:
            _reduce_into(sim, reduce_res, out, rname)
        return out

    return execute(
        sim,
        instr,
        Engine.VECTOR,
        "select_reduce",
        dst,
        [("predicate", predicate), ("on_true", on_true), ("on_false", on_false)],
        compute,
        attrs={"op": "select", "reduce_op": rname},
        extra_outputs=extra,
    )


def range_select(
    sim: Simulation,
    dst: Tensor,
    on_true: Any,
    comp_op0: Any,
    comp_op1: Any,
    bound0: Any,
    bound1: Any,
    *,
    reduce_res: Any = None,
    reduce_op: Any = "maximum",
    range_start: float = 0.0,
    on_false_value: float = float(np.finfo(np.float32).min),
    instr: str = "nisa.range_select",
) -> Instruction:
    """Keep ``on_true`` where ``comp_op0(j, bound0) & comp_op1(j, bound1)``, ``j = range_start + index``."""
    check_tensor(sim, instr, dst, "dst")
    check_tensor(sim, instr, on_true, "on_true_tile")
    c0, c1 = op_name(comp_op0), op_name(comp_op1)
    for label, c in (("comp_op0", c0), ("comp_op1", c1)):
        if c not in BINARY:
            sim.fail(instr, f"{label} {c!r} is not a comparison operator", "unsupported_alu_op")
    rname, extra = _reduction(sim, instr, reduce_res, reduce_op, "maximum")
    p, n = dst.shape[0], free_size(dst)

    def compute(v: list[Any]) -> Any:
        t, b0, b1 = v
        j = np.float32(range_start) + np.arange(n, dtype=np.float32)[None, :]
        b0 = np.asarray(b0, np.float32).reshape(-1, 1) if np.ndim(b0) else np.float32(b0)
        b1 = np.asarray(b1, np.float32).reshape(-1, 1) if np.ndim(b1) else np.float32(b1)
        keep = BINARY[str(c0)](j, b0) & BINARY[str(c1)](j, b1)
        out = np.where(keep, np.asarray(t, np.float32).reshape(p, n), np.float32(on_false_value))
        if reduce_res is not None:
            _reduce_into(sim, reduce_res, out, rname)
        return out.reshape(dst.shape)

    return execute(
        sim,
        instr,
        Engine.VECTOR,
        "range_select",
        dst,
        [("on_true_tile", on_true), ("bound0", bound0), ("bound1", bound1)],
        compute,
        attrs={"op": "select", "reduce_op": rname},
        extra_outputs=extra,
    )


def dropout(
    sim: Simulation,
    dst: Tensor,
    data: Any,
    prob: Any,
    *,
    mask: Any = None,
    api: str = "",
    instr: str = "nisa.dropout",
) -> Instruction:
    """Zero each element of ``data`` with probability ``prob`` (a number or a [P, 1] tile).

    The kept elements are not rescaled (the SDK's description of both ``nisa.dropout`` and
    ``nl.dropout``); the random draw uses the launch's generator (``nl.random_seed``), so only
    the statistics match the chip, not the bits.
    """
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, dst, "dst")
    srcs: list[tuple[str, Any]] = [("data", data)]
    if isinstance(prob, Tensor):
        _scalar_operand(sim, instr, prob, "prob", data.shape[0])
        srcs.append(("prob", prob))
    elif not is_number(prob):
        got = type(prob).__name__
        sim.fail(instr, f"prob must be a number or a [P, 1] tile, got {got}", "unsupported_operand")

    def compute(v: list[Any]) -> Any:
        p = _bcast(v[1], v[0].shape) if len(v) > 1 else np.float32(prob)
        keep = sim.rng.random(v[0].shape, dtype=np.float32) >= p
        return np.where(keep, v[0], np.float32(0))

    return execute(
        sim, instr, Engine.VECTOR, "dropout", dst, srcs, compute, mask=mask, attrs={"op": "dropout"}, api=api
    )


def exponential(
    sim: Simulation,
    dst: Tensor,
    src: Any,
    *,
    max_value: Any = 0.0,
    reduce_res: Tensor | None = None,
    reduce_init: float = 0.0,
    instr: str = "nisa.exponential",
) -> Instruction:
    """[v4] ``dst = exp(src - max_value)`` on VectorE; with ``reduce_res``, also its free-axis sum
    (plus ``reduce_init``) per partition. ``max_value`` is a number or a [P, 1] tile.

    As for ``activation``, the accumulation register is read out per instruction (``reduce_cmd``
    chaining across instructions is not modelled).
    """
    if sim.spec.nc_version < 4:
        sim.fail(
            instr,
            f"exponential exists on NeuronCore-v4 (trn3) only; target {sim.spec.name} is "
            f"NeuronCore-v{sim.spec.nc_version} (use nisa.activation(op=nl.exp, bias=-max))",
            "unsupported_instruction_for_target",
        )
    check_tensor(sim, instr, src, "src")
    check_tensor(sim, instr, dst, "dst")
    same_partitions(sim, instr, ("src", src), ("dst", dst))
    shift = _scalar_operand(sim, instr, max_value, "max_value", src.shape[0])
    if reduce_res is not None:
        check_tensor(sim, instr, reduce_res, "reduce_res")
    shape = dst.shape

    def compute(v: list[Any]) -> Any:
        x, m = v
        with np.errstate(over="ignore"):
            out = np.exp(x - _bcast(np.float32(m) if not isinstance(m, np.ndarray) else m, x.shape))
        if reduce_res is not None and sim.values:
            red = out.sum(axis=_free_axes(out.ndim), keepdims=True) + np.float32(reduce_init)
            write(reduce_res, red.reshape(reduce_res.shape), None, False)
        return out.reshape(shape)

    extra = [("reduce_res", reduce_res)] if reduce_res is not None else []
    return execute(
        sim,
        instr,
        Engine.VECTOR,
        "exponential",
        dst,
        [("src", src), ("max_value", shift)],
        compute,
        attrs={"op": "exp", **({"reduce_op": "add"} if reduce_res is not None else {})},
        extra_outputs=extra,
    )


#: activate2's pre-activation ALU pairs (nki-api.md §3.5)
_ACTIVATE2_PAIRS = {
    ("multiply", "add"),
    ("multiply", "subtract"),
    ("multiply", "bypass"),
    ("add", "bypass"),
    ("subtract", "bypass"),
    ("bypass", "bypass"),
}


def activate2(
    sim: Simulation,
    dst: Tensor,
    op: Any,
    data: Any,
    imm0: Any,
    imm1: Any,
    op0: Any,
    op1: Any,
    *,
    relu_param: float = 0.0,
    reverse0: bool = False,
    reverse1: bool = False,
    reduce_op: Any = None,
    reduce_res: Tensor | None = None,
    instr: str = "nisa.activate2",
) -> Instruction:
    """[v4] ``dst = op((data op0 imm0) op1 imm1)`` on ScalarE (``reverseK`` swaps the operands;
    ``nl.prelu`` uses ``relu_param`` as the negative slope), optionally reduced along the free
    axes into ``reduce_res``. The ALU pair runs before the function, as ``activation``'s
    scale and bias do: inferred from the allowed pairs (mul, add) ... (bypass, bypass)."""
    if sim.spec.nc_version < 4:
        sim.fail(
            instr,
            f"activate2 exists on NeuronCore-v4 (trn3) only; target {sim.spec.name} is "
            f"NeuronCore-v{sim.spec.nc_version}",
            "unsupported_instruction_for_target",
        )
    n0, n1 = op_name(op0) or "bypass", op_name(op1) or "bypass"
    if (n0, n1) not in _ACTIVATE2_PAIRS:
        valid = ", ".join(f"({a}, {b})" for a, b in sorted(_ACTIVATE2_PAIRS))
        sim.fail(instr, f"(op0, op1) = ({n0}, {n1}) is not supported (valid: {valid})", "unsupported_alu_op")
    name = op_name(op)
    if name != "prelu":
        name = named_op(sim, instr, op, ACTIVATIONS, "activation function", "unsupported_activation")
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, dst, "dst")
    same_partitions(sim, instr, ("data", data), ("dst", dst))
    p = data.shape[0]
    k0 = _scalar_operand(sim, instr, imm0, "imm0", p) if n0 != "bypass" else 0.0
    k1 = _scalar_operand(sim, instr, imm1, "imm1", p) if n1 != "bypass" else 0.0
    rname = op_name(reduce_op)
    if reduce_res is not None:
        check_tensor(sim, instr, reduce_res, "reduce_res")
        if rname not in ("add", "maximum", "max", "minimum", "min", "abs_max", "abs_min"):
            sim.fail(
                instr,
                f"reduce_op {reduce_op!r} (valid: add, max, min, abs_max, abs_min)",
                "unsupported_reduce_op",
            )
    shape = dst.shape

    def step(name_: str, x: Any, k: Any, reverse: bool) -> Any:
        if name_ == "bypass":
            return x
        k = _bcast(k if isinstance(k, np.ndarray) else np.float32(k), x.shape)
        return _apply(name_, k, x) if reverse else _apply(name_, x, k)

    def compute(v: list[Any]) -> Any:
        x = v[0].astype(np.float32)
        y = np.asarray(step(n1, step(n0, x, v[1], reverse0), v[2], reverse1), np.float32)
        fn = ACTIVATIONS.get(str(name))
        out = np.asarray(np.where(y > 0, y, np.float32(relu_param) * y) if fn is None else fn(y), np.float32)
        if reduce_res is not None and sim.values:
            axes = _free_axes(out.ndim)
            if rname in ("abs_max", "abs_min"):
                flat = out.reshape(p, -1)
                pick = (
                    np.argmax(np.abs(flat), axis=1) if rname == "abs_max" else np.argmin(np.abs(flat), axis=1)
                )
                red = np.take_along_axis(flat, pick[:, None], axis=1)
            else:
                red = REDUCE[str(rname)](out, axis=axes, keepdims=True)
            write(reduce_res, np.asarray(red).reshape(reduce_res.shape), None, False)
        return out.reshape(shape)

    attrs: dict[str, Any] = {"op": name, "op0": n0, "op1": n1}
    if rname:
        attrs["reduce_op"] = rname
    extra = [("reduce_res", reduce_res)] if reduce_res is not None else []
    return execute(
        sim,
        instr,
        Engine.SCALAR,
        "activation",
        dst,
        [("data", data), ("imm0", k0), ("imm1", k1)],
        compute,
        attrs=attrs,
        extra_outputs=extra,
    )
