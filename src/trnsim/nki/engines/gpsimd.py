"""GpSimdE instructions: ``iota``, ``affine_select``, ``tensor_partition_reduce``, ``nc_n_gather`` /
``gather_flattened``, ``sequence_bounds`` (no PSUM access)
and ``core_barrier``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from trnsim.nki.alu import op_name
from trnsim.nki.engines.execute import check_tensor, execute
from trnsim.nki.runtime import UNINIT_INT, Buffer, Simulation
from trnsim.nki.tensor import Tensor
from trnsim.nki.trace import Engine, Instruction


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


#: cross-partition reductions: name -> numpy reduction over axis 0 (nki-api.md §2.4: add, max,
#: bitwise_or, bitwise_and; the current API adds average)
_PARTITION_REDUCE: dict[str, Callable[..., Any]] = {
    "add": np.sum,
    "maximum": np.max,
    "max": np.max,
    "bitwise_or": np.bitwise_or.reduce,
    "bitwise_and": np.bitwise_and.reduce,
    "mean": np.mean,
    "average": np.mean,
}


def tensor_partition_reduce(
    sim: Simulation,
    dst: Tensor,
    op: Any,
    data: Any,
    *,
    mask: Any = None,
    instr: str = "nisa.tensor_partition_reduce",
) -> Instruction:
    """``dst[0, ...] = op`` over the partitions of ``data`` (GpSimdE): a [1, F...] result."""
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, dst, "dst")
    name = op_name(op)
    if name not in _PARTITION_REDUCE:
        valid = "np.add, np.max, np.bitwise_or, np.bitwise_and, nl.average (current API)"
        sim.fail(
            instr, f"op {op!r} is not a cross-partition reduction (valid: {valid})", "unsupported_reduce_op"
        )
    if Buffer.PSUM in (data.buffer, dst.buffer):
        sim.fail(instr, "GpSimdE cannot access PSUM", "unsupported_memory")
    if dst.shape[0] != 1 or dst.shape[1:] != data.shape[1:]:
        sim.fail(
            instr,
            f"dst has shape {dst.shape}; the reduction of {data.shape} across partitions is "
            f"{(1, *data.shape[1:])}",
            "shape_mismatch",
        )
    reduce = _PARTITION_REDUCE[str(name)]
    bitwise = str(name).startswith("bitwise")

    def compute(v: list[Any]) -> Any:
        x = v[0].astype(np.int64) if bitwise else v[0]
        return np.asarray(reduce(x, axis=0, keepdims=True))

    return execute(
        sim,
        instr,
        Engine.GPSIMD,
        "tensor_partition_reduce",
        dst,
        [("data", data)],
        compute,
        mask=mask,
        attrs={"op": name},
    )


def gather_flattened(
    sim: Simulation,
    dst: Tensor,
    data: Any,
    indices: Any,
    *,
    mask: Any = None,
    instr: str = "nisa.nc_n_gather",
) -> Instruction:
    """Per partition, ``dst[p, j...] = data[p].flatten()[indices[p, j...]]`` (GpSimdE).

    An index outside ``[0, N)`` is undefined on the chip (nki-api.md §2.2: "garbage"); it reads
    NaN here (integers: the uninitialised-memory value), like memory nobody wrote.
    """
    check_tensor(sim, instr, data, "data")
    check_tensor(sim, instr, indices, "indices")
    check_tensor(sim, instr, dst, "dst")
    if Buffer.PSUM in (data.buffer, indices.buffer, dst.buffer):
        sim.fail(instr, "GpSimdE cannot access PSUM", "unsupported_memory")
    if indices.dtype.kind not in "iu":
        sim.fail(instr, f"indices must be an integer tile (uint32), got {indices.dtype}", "unsupported_dtype")
    if data.shape[0] != indices.shape[0] or dst.shape != indices.shape:
        sim.fail(
            instr,
            f"data {data.shape}, indices {indices.shape} and dst {dst.shape}: the partition counts must"
            " match and dst must have the shape of indices",
            "num_partition_mismatch",
        )
    n = math.prod(data.shape[1:])
    p = data.shape[0]

    def compute(v: list[Any]) -> Any:
        values = np.asarray(v[0]).reshape(p, n)
        idx = np.asarray(v[1]).astype(np.int64).reshape(p, -1)
        bad = (idx < 0) | (idx >= n)
        got = np.take_along_axis(values, np.where(bad, 0, idx), axis=1)
        if bad.any():
            got = np.where(bad, np.nan if values.dtype.kind == "f" else UNINIT_INT, got)
        return got.reshape(dst.shape)

    return execute(
        sim, instr, Engine.GPSIMD, "gather", dst, [("data", data), ("indices", indices)], compute, mask=mask
    )


def sequence_bounds(
    sim: Simulation, dst: Tensor, segment_ids: Any, *, instr: str = "nisa.sequence_bounds"
) -> Instruction:
    """For segment ids ``[1, N]``: ``dst[0, 0, i]`` = first index of the run holding i, ``dst[0, 1,
    i]`` = one past its last index; id 0 (padding) gives ``(N, -1)`` (GpSimdE). The end is
    exclusive and a segment is a contiguous run of equal ids: inferred (nki-api.md §2.4)."""
    check_tensor(sim, instr, segment_ids, "segment_ids")
    check_tensor(sim, instr, dst, "dst")
    if Buffer.PSUM in (segment_ids.buffer, dst.buffer):
        sim.fail(instr, "GpSimdE cannot access PSUM", "unsupported_memory")
    n = segment_ids.size
    if segment_ids.shape[0] != 1 or dst.shape != (1, 2, n):
        sim.fail(
            instr,
            f"segment_ids {segment_ids.shape} must be [1, N] and dst (1, 2, N), got {dst.shape}",
            "shape_mismatch",
        )

    def compute(v: list[Any]) -> Any:
        ids = np.asarray(v[0]).reshape(-1)
        out = np.empty((2, n), np.int64)
        start = 0
        for i in range(1, n + 1):
            if i == n or ids[i] != ids[start]:
                out[0, start:i], out[1, start:i] = start, i
                start = i
        pad = ids == 0
        out[0, pad], out[1, pad] = n, -1
        return out.reshape(dst.shape)

    return execute(sim, instr, Engine.GPSIMD, "sequence_bounds", dst, [("segment_ids", segment_ids)], compute)


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
