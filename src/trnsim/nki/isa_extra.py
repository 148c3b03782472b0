"""Less common instructions of the shared core (statistics, top-8, shuffles, DMA compute, registers).

Same conventions as :mod:`trnsim.nki.isa_impl`: ``dst`` first, validate, compute in fp32 in value
mode, record one trace instruction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trnsim.nki.isa_impl import check_tensor, execute, free_size, mask_array, write
from trnsim.nki.runtime import Buffer, Simulation
from trnsim.nki.tensor import Tensor, fit_mask
from trnsim.nki.trace import Engine, Instruction


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


def dma_compute(
    sim: Simulation,
    dst: Tensor,
    srcs: Any,
    reduce_op: Any,
    scales: Any = None,
    *,
    instr: str = "nisa.dma_compute",
) -> Instruction:
    """``dst = sum(scale_i * src_i)`` computed by the DMA engine (add only, up to 16 sources)."""
    from trnsim.nki.alu import op_name

    if op_name(reduce_op) != "add":
        sim.fail(instr, f"reduce_op {reduce_op!r} (valid: add)", "unsupported_alu_op")
    srcs = list(srcs)
    if not 1 <= len(srcs) <= 16:
        sim.fail(instr, f"{len(srcs)} sources (valid: 1..16)", "invalid_operand_count")
    weights = [1.0] * len(srcs) if scales is None else [float(s) for s in scales]
    for i, s in enumerate(srcs):
        if not isinstance(s, Tensor) or s.size != dst.size:
            sim.fail(
                instr,
                f"source {i} must be a tensor with {dst.size} elements",
                "store_dst_shape_smaller_than_other_shape",
            )

    def compute(v: list[Any]) -> Any:
        total = np.zeros(dst.shape, np.float32)
        for w, x in zip(weights, v, strict=True):
            total += np.float32(w) * np.asarray(x, np.float32).reshape(dst.shape)
        return total

    return execute(
        sim,
        instr,
        Engine.DMA,
        "dma_compute",
        dst,
        [(f"src{i}", s) for i, s in enumerate(srcs)],
        compute,
        attrs={"op": "add"},
    )


def core_barrier(sim: Simulation, data: Any, cores: Any, *, instr: str = "nisa.core_barrier") -> Instruction:
    """A barrier between cores: in a multi-rank launch the ranks ``cores`` meet (rank = program id)."""
    if isinstance(data, Tensor) and data.buffer is not Buffer.SHARED_HBM and data.buffer is not Buffer.HBM:
        check_tensor(sim, instr, data, "data")
    from trnsim.nki import collectives_impl, spmd

    if spmd.current_world() is not None:
        group = tuple(int(c) for c in cores)
        collectives_impl.barrier(sim, instr, group, [data] if isinstance(data, Tensor) else [])
        return sim.trace.instructions[-1]
    return execute(
        sim,
        instr,
        Engine.NONE,
        "core_barrier",
        None,
        [("data", data)] if isinstance(data, Tensor) else [],
        None,
        attrs={"cores": tuple(int(c) for c in cores)},
    )


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


def _reduce_into(sim: Simulation, reduce_res: Any, values: np.ndarray, op: str) -> None:
    from trnsim.nki.alu import REDUCE
    from trnsim.nki.isa_impl import write

    red = REDUCE[op](values, axis=tuple(range(1, values.ndim)), keepdims=True)
    write(reduce_res, red.reshape(reduce_res.shape), None, False)


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
    from trnsim.nki.alu import REDUCE, op_name

    check_tensor(sim, instr, dst, "dst")
    check_tensor(sim, instr, predicate, "predicate")
    check_tensor(sim, instr, on_true, "on_true")
    rname = op_name(reduce_op) or "maximum"
    if reduce_res is not None:
        check_tensor(sim, instr, reduce_res, "reduce_res")
        if rname not in REDUCE:
            sim.fail(instr, f"reduce_op {reduce_op!r} is not a reduction", "unsupported_reduce_op")
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

    extra = [("reduce_res", reduce_res)] if reduce_res is not None else []
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
    from trnsim.nki.alu import BINARY, REDUCE, op_name

    check_tensor(sim, instr, dst, "dst")
    check_tensor(sim, instr, on_true, "on_true_tile")
    c0, c1 = op_name(comp_op0), op_name(comp_op1)
    for label, c in (("comp_op0", c0), ("comp_op1", c1)):
        if c not in BINARY:
            sim.fail(instr, f"{label} {c!r} is not a comparison operator", "unsupported_alu_op")
    rname = op_name(reduce_op) or "maximum"
    if reduce_res is not None and rname not in REDUCE:
        sim.fail(instr, f"reduce_op {reduce_op!r} is not a reduction", "unsupported_reduce_op")
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

    extra = [("reduce_res", reduce_res)] if reduce_res is not None else []
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
