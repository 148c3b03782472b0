"""``nki.isa`` (NKI 0.2+): instructions with the destination first, writing ``dst`` in place.

Signature rule (spec §3.5): ``(dst, <legacy parameters without mask/dtype>)``; the output dtype is
``dst.dtype``. All work is done by the shared core :mod:`trnsim.nki.isa_impl`.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from trnsim.nki import isa_extra as _extra
from trnsim.nki import isa_impl as _isa
from trnsim.nki import language_impl as _impl
from trnsim.nki.engines import dma as _dma
from trnsim.nki.engines import mx as _mx
from trnsim.nki.guard import exact as _exact
from trnsim.nki.guard import guard_module as _guard_module
from trnsim.nki.guard import not_simulated as _not_simulated_error
from trnsim.nki.guard import not_simulated_value as _not_simulated_value
from trnsim.nki.isa_common import engine_name as _eng
from trnsim.nki.isa_common import get_nc_version as get_nc_version
from trnsim.nki.isa_common import nc_version as nc_version
from trnsim.nki.isa_common import oob_mode as oob_mode
from trnsim.nki.isa_common import sim_for as _sim
from trnsim.nki.tensor import Tensor
from trnsim.nki.trace import Engine


class engine(enum.IntEnum):
    """Compute engines."""

    unknown = 0
    tensor = 1
    scalar = 2
    gpsimd = 3
    dma = 4
    vector = 5
    sync = 6


tensor_engine = engine.tensor
vector_engine = engine.vector
scalar_engine = engine.scalar
gpsimd_engine = engine.gpsimd


class reduce_cmd(enum.IntEnum):
    """Accumulation register commands."""

    idle = 0
    reset = 1
    reduce = 2
    reset_reduce = 3
    load_reduce = 4


_RESET_REDUCE = int(reduce_cmd.reset_reduce)


class dge_mode(enum.IntEnum):
    """DMA descriptor generation (renumbered in NKI 0.2)."""

    unknown = 0
    swdge = 1
    hwdge = 2
    none = 3


class matmul_perf_mode(enum.Enum):
    """TensorE performance modes."""

    none = "none"
    double_row = "double_row"


class dma_engine(enum.IntEnum):
    """DMA engines for sendrecv."""

    dma = 1
    gpsimd_dma = 2


class constants:
    """``nisa.constants.*`` aliases."""

    engine = engine
    reduce_cmd = reduce_cmd
    dge_mode = dge_mode
    oob_mode = oob_mode
    nc_version = nc_version


class NkiValidationError(Exception):
    """Raised by the SDK for invalid instructions (trnsim raises KernelError)."""


def get_nc_sub_version() -> int:
    """Sub-version of the generation (0 in trnsim)."""
    return 0


def nc_matmul(
    dst: Tensor,
    stationary: Any,
    moving: Any,
    is_stationary_onezero: bool = False,
    is_moving_onezero: bool = False,
    is_transpose: bool = False,
    accumulate: bool | None = None,
    tile_position: Any = (),
    tile_size: Any = (),
    perf_mode: Any = None,
    name: str | None = None,
) -> None:
    """``dst (+)= stationary.T @ moving``; ``accumulate=None``: first write overwrites, later ones add."""
    mode = getattr(perf_mode, "value", perf_mode) or "none"
    _isa.nc_matmul(
        _sim("nc_matmul"),
        dst,
        stationary,
        moving,
        accumulate=accumulate,
        is_transpose=is_transpose,
        perf_mode=mode,
    )


def nc_transpose(dst: Tensor, data: Any, engine: Any = None, name: str | None = None) -> None:
    """Transpose partition and free dims."""
    _isa.nc_transpose(_sim("nc_transpose"), dst, data, engine=_eng(engine))


def activation(
    dst: Tensor,
    op: Any,
    data: Any,
    bias: Any = None,
    scale: Any = 1.0,
    reduce_op: Any = None,
    reduce_res: Any = None,
    reduce_cmd: Any = None,
    name: str | None = None,
) -> None:
    """``dst = op(data * scale + bias)``."""
    _isa.activation(
        _sim("activation"), dst, op, data, bias=bias, scale=scale, reduce_op=reduce_op, reduce_res=reduce_res
    )


def activation_reduce(
    dst: Tensor,
    op: Any,
    data: Any,
    reduce_op: Any,
    reduce_res: Any,
    bias: Any = None,
    scale: Any = 1.0,
    name: str | None = None,
) -> None:
    """Activation plus a free-axis reduction into ``reduce_res``."""
    _isa.activation(
        _sim("activation_reduce"),
        dst,
        op,
        data,
        bias=bias,
        scale=scale,
        reduce_op=reduce_op,
        reduce_res=reduce_res,
        instr="nisa.activation_reduce",
    )


def tensor_tensor(
    dst: Tensor, data1: Any, data2: Any, op: Any, engine: Any = None, name: str | None = None
) -> None:
    """``dst = data1 op data2``."""
    _isa.tensor_tensor(_sim("tensor_tensor"), dst, data1, data2, op, engine=_eng(engine))


def tensor_scalar(
    dst: Tensor,
    data: Any,
    op0: Any,
    operand0: Any,
    reverse0: bool = False,
    op1: Any = None,
    operand1: Any = None,
    reverse1: bool = False,
    engine: Any = None,
    name: str | None = None,
) -> None:
    """``dst = (data op0 operand0) op1 operand1``."""
    _isa.tensor_scalar(
        _sim("tensor_scalar"),
        dst,
        data,
        op0,
        operand0,
        reverse0=reverse0,
        op1=op1,
        operand1=operand1,
        reverse1=reverse1,
        engine=_eng(engine),
    )


def scalar_tensor_tensor(
    dst: Tensor,
    data: Any,
    op0: Any,
    operand0: Any,
    op1: Any,
    operand1: Any,
    reverse0: bool = False,
    reverse1: bool = False,
    name: str | None = None,
) -> None:
    """``dst = (data op0 operand0) op1 operand1`` with a tile ``operand1``."""
    _isa.scalar_tensor_tensor(
        _sim("scalar_tensor_tensor"),
        dst,
        data,
        op0,
        operand0,
        op1,
        operand1,
        reverse0=reverse0,
        reverse1=reverse1,
    )


def tensor_reduce(
    dst: Tensor,
    op: Any,
    data: Any,
    axis: Any,
    negate: bool = False,
    keepdims: bool = False,
    name: str | None = None,
) -> None:
    """Reduce along free axes into ``dst``."""
    _isa.tensor_reduce(_sim("tensor_reduce"), dst, op, data, axis, negate=negate, keepdims=keepdims)


def tensor_copy(dst: Tensor, src: Any, engine: Any = None, name: str | None = None) -> None:
    """Copy (converting to ``dst.dtype``)."""
    _isa.tensor_copy(_sim("tensor_copy"), dst, src, engine=_eng(engine))


def memset(dst: Tensor, value: Any, engine: Any = None, name: str | None = None) -> None:
    """Fill ``dst`` with ``value`` (an integer ``dst`` takes an integer value: NKI 0.3+)."""
    sim = _sim("memset")
    if (
        isinstance(dst, Tensor)
        and dst.dtype.kind in "iu"
        and isinstance(value, (float, np.floating))
    ):
        # nki-semantics §5: from 0.3 the value must match the dtype (no silent rounding of 1.5)
        sim.fail(
            "nisa.memset",
            f"memset of a {dst.dtype.name} tile needs an integer value, got {value!r}",
            "unsupported_operand",
        )
    _isa.memset(sim, dst, value, engine=_eng(engine))


def reciprocal(dst: Tensor, data: Any, name: str | None = None) -> None:
    """``dst = 1 / data``."""
    sim = _sim("reciprocal")
    _isa.check_tensor(sim, "nisa.reciprocal", data, "data")
    _isa.check_tensor(sim, "nisa.reciprocal", dst, "dst")
    _isa.execute(
        sim,
        "nisa.reciprocal",
        Engine.VECTOR,
        "reciprocal",
        dst,
        [("data", data)],
        lambda v: np.float32(1.0) / v[0].astype(np.float32),
        attrs={"op": "reciprocal"},
    )


def dropout(dst: Tensor, data: Any, prob: Any, name: str | None = None) -> None:
    """``dst = data`` with each element zeroed with probability ``prob`` (number or [P, 1] tile)."""
    _isa.dropout(_sim("dropout"), dst, data, prob)


def tensor_partition_reduce(dst: Tensor, op: Any, data: Any, name: str | None = None) -> None:
    """``dst[0, ...] = op`` across the partitions of ``data`` (GpSimdE; ``nl.average`` too)."""
    _isa.tensor_partition_reduce(_sim("tensor_partition_reduce"), dst, op, data)


def nc_n_gather(dst: Tensor, data: Any, indices: Any, name: str | None = None) -> None:
    """Per partition ``dst = data[p].flatten()[indices[p]]`` (uint32 indices in ``[0, N)``; GpSimdE)."""
    _isa.gather_flattened(_sim("nc_n_gather"), dst, data, indices)


def exponential(
    dst: Tensor,
    src: Any,
    max_value: Any = 0.0,
    reduce_res: Any = None,
    reduce_cmd: Any = None,
    reduce_init: float = 0.0,
    name: str | None = None,
) -> None:
    """[v4] ``dst = exp(src - max_value)`` (VectorE), optionally summed into ``reduce_res``."""
    _isa.exponential(
        _sim("exponential"), dst, src, max_value=max_value, reduce_res=reduce_res, reduce_init=reduce_init
    )


#: the start of the running register of tensor_scalar_cumulative when reset (op1's identity)
_CUMULATIVE_START = {"add": 0.0, "subtract": 0.0, "multiply": 1.0, "maximum": -np.inf, "minimum": np.inf}


def tensor_scalar_cumulative(
    dst: Tensor,
    src: Any,
    op0: Any,
    op1: Any,
    imm0: Any,
    imm1: Any = None,
    reduce_cmd: Any = None,
    name: str | None = None,
) -> None:
    """Per partition along the flattened free dims, ``reg = op1(op0(x_i, imm0), reg); dst_i = reg``.

    The register starts at ``imm1`` when given, else at ``op1``'s identity (0 for add, 1 for
    multiply, -inf / +inf for max / min): inferred, the signature page does not say (nki-api.md
    §3.5). Each instruction resets the register (``reduce_cmd`` chaining is not modelled).
    """
    sim = _sim("tensor_scalar_cumulative")
    instr = "nisa.tensor_scalar_cumulative"
    _isa.check_tensor(sim, instr, src, "src")
    _isa.check_tensor(sim, instr, dst, "dst")
    if "int32" in (str(np.dtype(src.dtype)), str(np.dtype(dst.dtype))):
        sim.fail(
            instr, "int32 tiles are not supported (valid: float and 8/16-bit types)", "unsupported_dtype"
        )
    n0 = _isa._alu(sim, instr, op0, "op0")
    n1 = _isa._alu(sim, instr, op1, "op1")
    if imm1 is None and n1 not in _CUMULATIVE_START:
        sim.fail(
            instr,
            f"op1 {n1} needs imm1 (valid without it: {', '.join(_CUMULATIVE_START)})",
            "unsupported_alu_op",
        )
    p, f = src.shape[0], _isa.free_size(src)
    start = np.float32(_CUMULATIVE_START[n1] if imm1 is None else imm1)

    def compute(v: list[Any]) -> Any:
        x = v[0].reshape(p, f)
        k = v[1].reshape(p, 1) if isinstance(v[1], np.ndarray) else np.float32(v[1])
        scaled = np.asarray(_isa._apply(n0, x, k), np.float32)
        reg = np.full(p, start, np.float32)
        out = np.empty((p, f), np.float32)
        for i in range(f):
            reg = np.asarray(_isa._apply(n1, scaled[:, i], reg), np.float32)
            out[:, i] = reg
        return out.reshape(dst.shape)

    operand = _isa._scalar_operand(sim, instr, imm0, "imm0", p)
    _isa.execute(
        sim,
        instr,
        Engine.VECTOR,
        "tensor_scalar_cumulative",
        dst,
        [("src", src), ("imm0", operand)],
        compute,
        attrs={"op": n0, "op1": n1},
    )


def nonzero_with_count(
    dst: Tensor, src: Any, index_offset: int = 0, padding_val: int = -1, name: str | None = None
) -> None:
    """[v3+] On partitions 0, 16, ..., 112 (GpSimdE, one per core): the free indices of the
    nonzero elements of ``src`` (+ ``index_offset``), then ``padding_val`` up to F, then the count
    in column F. ``dst`` has F + 1 columns; the other partitions are not written."""
    sim = _sim("nonzero_with_count")
    instr = "nisa.nonzero_with_count"
    _isa.check_tensor(sim, instr, src, "src")
    _isa.check_tensor(sim, instr, dst, "dst")
    if sim.spec.nc_version < 3:
        sim.fail(
            instr,
            f"needs NeuronCore-v3 or later; target {sim.spec.name}",
            "unsupported_instruction_for_target",
        )
    p, f = src.shape[0], _isa.free_size(src)
    if dst.shape[0] != p or _isa.free_size(dst) != f + 1:
        sim.fail(
            instr,
            f"dst {dst.shape} must have src's {p} partitions and {f + 1} elements per partition (F + 1)",
            "shape_mismatch",
        )
    rows = np.zeros((p, 1), bool)
    rows[::16] = True

    def compute(v: list[Any]) -> Any:
        x = v[0].reshape(p, f)
        out = np.full((p, f + 1), padding_val, np.int64)
        for r in range(0, p, 16):
            nz = np.flatnonzero(x[r])
            out[r, : nz.size] = nz + int(index_offset)
            out[r, f] = nz.size
        return out.reshape(dst.shape)

    _isa.execute(
        sim,
        instr,
        Engine.GPSIMD,
        "nonzero_with_count",
        dst,
        [("src", src)],
        compute,
        mask=np.broadcast_to(rows.reshape((p,) + (1,) * (dst.ndim - 1)), dst.shape),
    )


# -- random numbers: statistical fidelity only (nki-api.md §3.5); the stream is the launch's numpy
#    generator, so seeds reproduce trnsim's sequence, not the chip's


def _random_fill(instr: str, dst: Tensor, draw: Any, engine: Any, default: Engine) -> None:
    sim = _sim(instr.removeprefix("nisa."))
    _isa.check_tensor(sim, instr, dst, "dst")
    _isa.execute(sim, instr, _isa.engine_of(_eng(engine), default), instr[5:], dst, [], lambda v: draw(sim))


def rng(dst: Tensor, engine: Any = None, name: str | None = None) -> None:
    """Random values into ``dst``: uniform over an integer dtype's range, uniform [0, 1) for floats."""
    dt = np.dtype(dst.dtype)

    def draw(sim: Any) -> Any:
        if dt.kind in "iu":
            info = np.iinfo(dt)
            return sim.rng.integers(int(info.min), int(info.max), size=dst.shape, endpoint=True)
        return sim.rng.random(dst.shape, dtype=np.float32)

    _random_fill("nisa.rng", dst, draw, engine, Engine.VECTOR)


def rand2(dst: Tensor, min: Any, max: Any, name: str | None = None) -> None:
    """[v4] Uniform values in ``[min, max)`` into ``dst``."""
    lo, hi = float(min), float(max)
    _random_fill(
        "nisa.rand2",
        dst,
        lambda sim: lo + (hi - lo) * sim.rng.random(dst.shape, dtype=np.float32),
        None,
        Engine.VECTOR,
    )


def _reseed(instr: str, src_seeds: Any, engine: Any) -> None:
    sim = _sim(instr.removeprefix("nisa."))
    _isa.check_tensor(sim, instr, src_seeds, "src_seeds")

    def seed(v: list[Any]) -> None:
        words = np.asarray(v[0]).astype(np.int64).reshape(-1) & 0xFFFFFFFF
        sim.rng = np.random.default_rng([int(w) for w in words])

    _isa.execute(
        sim,
        instr,
        _isa.engine_of(_eng(engine), Engine.GPSIMD),
        instr[5:],
        None,
        [("src_seeds", src_seeds)],
        seed,
    )


def set_rng_seed(src_seeds: Any, name: str | None = None) -> None:
    """Seed the random stream from the words of ``src_seeds``."""
    _reseed("nisa.set_rng_seed", src_seeds, None)


def rand_set_state(src_seeds: Any, engine: Any = None, name: str | None = None) -> None:
    """Restore a state saved by ``rand_get_state`` (or seed from any words)."""
    _reseed("nisa.rand_set_state", src_seeds, engine)


def rand_get_state(dst: Tensor, engine: Any = None, name: str | None = None) -> None:
    """Save the random state into ``dst``: a fresh seed word (the rest 0) that the stream restarts
    from, so ``rand_set_state(dst)`` later replays what follows."""

    def draw(sim: Any) -> Any:
        word = int(sim.rng.integers(0, 2**31))
        words = np.zeros(dst.shape, np.int64)
        words.reshape(-1)[0] = word
        sim.rng = np.random.default_rng([int(w) for w in words.reshape(-1)])
        return words

    _random_fill("nisa.rand_get_state", dst, draw, engine, Engine.GPSIMD)


def topk(val_dst: Tensor, idx_dst: Tensor, src: Any, n: int, name: str | None = None) -> None:
    """Per partition the ``n`` largest values of ``src`` (flattened free dims), descending, into
    ``val_dst`` and their free indices into ``idx_dst`` (GpSimdE). Equal values keep index order
    (inferred: the stub does not say)."""
    sim = _sim("topk")
    instr = "nisa.topk"
    for label, t in (("src", src), ("val_dst", val_dst), ("idx_dst", idx_dst)):
        _isa.check_tensor(sim, instr, t, label)
    p, f, k = src.shape[0], _isa.free_size(src), int(n)
    if not 1 <= k <= f or _isa.free_size(val_dst) != k or _isa.free_size(idx_dst) != k:
        sim.fail(
            instr,
            f"n={k} for {f} elements per partition; val_dst {val_dst.shape} and idx_dst {idx_dst.shape}"
            f" must hold n per partition",
            "shape_mismatch",
        )
    order: dict[str, Any] = {}

    def values(v: list[Any]) -> Any:
        x = v[0].reshape(p, f)
        order["idx"] = np.argsort(-x, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(x, order["idx"], axis=1).reshape(val_dst.shape)

    _isa.execute(
        sim,
        instr,
        Engine.GPSIMD,
        "topk",
        val_dst,
        [("src", src)],
        values,
        extra_outputs=[("idx_dst", idx_dst)],
    )
    if sim.values:
        _isa.write(idx_dst, order["idx"].reshape(idx_dst.shape), None, False)


def sequence_bounds(dst: Tensor, segment_ids: Any, name: str | None = None) -> None:
    """Per position of ``segment_ids [1, N]``: its segment's (start, end) into ``dst (1, 2, N)``."""
    _isa.sequence_bounds(_sim("sequence_bounds"), dst, segment_ids)


def activate2(
    dst: Tensor,
    op: Any,
    data: Any,
    imm0: Any,
    imm1: Any,
    op0: Any,
    op1: Any,
    relu_param: float = 0.0,
    reverse0: bool = False,
    reverse1: bool = False,
    reduce_op: Any = None,
    reduce_res: Any = None,
    reduce_cmd: Any = None,
    name: str | None = None,
) -> None:
    """[v4] ``dst = op((data op0 imm0) op1 imm1)`` (ScalarE), optionally reduced into ``reduce_res``."""
    _isa.activate2(
        _sim("activate2"),
        dst,
        op,
        data,
        imm0,
        imm1,
        op0,
        op1,
        relu_param=relu_param,
        reverse0=reverse0,
        reverse1=reverse1,
        reduce_op=reduce_op,
        reduce_res=reduce_res,
    )


def iota(
    dst: Tensor, pattern: Any, offset: int = 0, channel_multiplier: int = 0, name: str | None = None
) -> None:
    """``dst[c, ...] = offset + c * channel_multiplier + sum(index * step)`` (GpSimdE)."""
    sim = _sim("iota")
    values = None
    if sim.values:
        values = _isa.pattern_values(dst.shape[0], pattern, offset, channel_multiplier).reshape(dst.shape)
    _isa.iota(sim, dst, values)


def dma_copy(
    dst: Tensor,
    src: Any,
    priority: Any = None,
    oob_mode: Any = None,
    dge_mode: Any = None,
    engine: Any = None,
    name: str | None = None,
) -> None:
    """Copy between HBM and SBUF (casts via fp32; ``oob_mode.skip`` drops out-of-bounds elements)."""
    sim = _sim("dma_copy")
    skip = oob_mode is not None and int(oob_mode) == 1
    attrs = {
        "dge_mode": getattr(dge_mode, "name", "unknown") if dge_mode is not None else "unknown",
        "oob_mode": "skip" if skip else "error",
    }
    _isa.dma_copy(sim, dst, src, oob_skip=skip, attrs=attrs)


def dma_transpose(
    dst: Tensor,
    src: Any,
    axes: Any = None,
    priority: Any = None,
    dge_mode: Any = None,
    oob_mode: Any = None,
    name: str | None = None,
) -> None:
    """A transposing DMA into ``dst``: ``src`` permuted by ``axes`` ((1, 0), (2, 1, 0) or (3, 1, 2, 0));
    ``dst`` must have exactly the permuted shape."""
    sim = _sim("dma_transpose")
    order = _dma.transpose_axes(sim, "nisa.dma_transpose", src, axes)
    shape = tuple(src.shape[a] for a in order)
    if tuple(dst.shape) != shape:
        sim.fail(
            "nisa.dma_transpose", f"dst {dst.shape} must be the transposed shape {shape}", "shape_mismatch"
        )
    _isa.dma_copy(
        sim, dst, src, opcode="dma_transpose", instr="nisa.dma_transpose", transpose=True, axes=order
    )


def tensor_copy_predicated(
    dst: Tensor, src: Any, predicate: Any, reverse_pred: bool = False, name: str | None = None
) -> None:
    """``dst = where(predicate, src, dst)``."""
    from trnsim.nki.legacy import isa as legacy_isa

    legacy_isa.tensor_copy_predicated(src=src, dst=dst, predicate=predicate, reverse_pred=reverse_pred)


def tensor_tensor_scan(
    dst: Tensor,
    data0: Any,
    data1: Any,
    initial: Any,
    op0: Any,
    op1: Any,
    reverse0: bool = False,
    reverse1: bool = False,
    name: str | None = None,
) -> None:
    """A per-partition scan along the free axis into ``dst``."""
    from trnsim.nki.legacy import isa as legacy_isa

    sim = _sim("tensor_tensor_scan")
    tmp = legacy_isa.tensor_tensor_scan(data0, data1, initial, op0, op1, reverse0, reverse1, dtype=dst.dtype)
    _impl.assign(dst, tmp)
    _ = sim


@_exact
def tensor_scalar_reduce(
    dst: Tensor,
    data: Any,
    op0: Any,
    operand0: Any,
    reduce_op: Any,
    reduce_res: Any = None,
    reverse0: bool = False,
    reduce_cmd: Any = reduce_cmd.reset_reduce,
    reduce_init: Any = None,
    reduce_res_negate: bool = False,
    name: str | None = None,
) -> None:
    """``dst = data op0 operand0`` with a free-axis reduction into ``reduce_res`` (nki-api.md §3.5).

    Each instruction reduces afresh (``reduce_cmd=reset_reduce``); register chaining
    (another ``reduce_cmd``), a ``reduce_init`` and ``reduce_res_negate=True`` are not simulated.
    """
    from trnsim.nki.legacy import isa as legacy_isa

    if reduce_cmd is not None and int(reduce_cmd) != _RESET_REDUCE:
        raise _not_simulated_value("nisa.tensor_scalar_reduce", "reduce_cmd", reduce_cmd)
    if reduce_init is not None:
        raise _not_simulated_value("nisa.tensor_scalar_reduce", "reduce_init", reduce_init)
    if reduce_res_negate:
        raise _not_simulated_value("nisa.tensor_scalar_reduce", "reduce_res_negate", reduce_res_negate)
    tmp = legacy_isa.tensor_scalar_reduce(
        data=data,
        op0=op0,
        operand0=operand0,
        reduce_op=reduce_op,
        reduce_res=reduce_res,
        reverse0=reverse0,
        dtype=dst.dtype,
    )
    _impl.assign(dst, tmp)


def affine_select(
    dst: Tensor,
    pattern: Any,
    channel_multiplier: int,
    on_true_tile: Any,
    on_false_value: Any,
    cmp_op: Any = "equal",
    offset: int = 0,
    name: str | None = None,
) -> None:
    """Keep ``on_true_tile`` where ``cmp_op(offset + c*channel_multiplier + sum(i*step), 0)``."""
    sim = _sim("affine_select")
    pred = None
    if sim.values:
        value = _isa.pattern_values(dst.shape[0], pattern, offset, channel_multiplier)
        op = _isa.op_name(cmp_op) or "equal"
        pred = np.asarray(_isa.BINARY[op](value, 0)).reshape(dst.shape)
    _isa.affine_select(sim, dst, pred, on_true_tile, on_false_value)


def bn_stats(dst: Tensor, data: Any, name: str | None = None) -> None:
    """Per partition (count, mean, var*count) of even- then odd-index elements."""
    _extra.bn_stats(_sim("bn_stats"), dst, data)


def bn_aggr(dst: Tensor, data: Any, name: str | None = None) -> None:
    """(mean, var) from bn_stats triples."""
    _extra.bn_aggr(_sim("bn_aggr"), dst, data)


def max8(dst: Tensor, src: Any, name: str | None = None) -> None:
    """The 8 largest values per partition, descending."""
    _extra.max8(_sim("max8"), dst, src)


def nc_find_index8(dst: Tensor, data: Any, vals: Any, name: str | None = None) -> None:
    """First index of each of 8 values per partition."""
    _extra.nc_find_index8(_sim("nc_find_index8"), dst, data, vals)


def nc_stream_shuffle(dst: Tensor, src: Any, shuffle_mask: Any, name: str | None = None) -> None:
    """Partition shuffle within 32-partition quadrants (dst first in NKI 0.2+)."""
    _extra.nc_stream_shuffle(_sim("nc_stream_shuffle"), dst, src, shuffle_mask)


def dma_compute(
    dst: Tensor,
    srcs: Any,
    reduce_op: Any,
    scales: Any = None,
    unique_indices: bool = True,
    oob_mode: Any = None,
    name: str | None = None,
) -> None:
    """``dst = sum(scale_i * src_i)`` on the DMA engine."""
    _extra.dma_compute(_sim("dma_compute"), dst, srcs, reduce_op, scales)


def core_barrier(data: Any, cores: Any, engine: Any = None, name: str | None = None) -> None:
    """A cross-core barrier (recorded; instances run serially here)."""
    _extra.core_barrier(_sim("core_barrier"), data, cores)


def select_reduce(
    dst: Tensor,
    predicate: Any,
    on_true: Any,
    on_false: Any,
    reduce_res: Any = None,
    reduce_cmd: Any = None,
    reduce_op: Any = "maximum",
    reverse_pred: bool = False,
    name: str | None = None,
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


def range_select(
    dst: Tensor,
    on_true_tile: Any,
    comp_op0: Any,
    comp_op1: Any,
    bound0: Any,
    bound1: Any,
    reduce_cmd: Any = None,
    reduce_res: Any = None,
    reduce_op: Any = "maximum",
    range_start: float = 0.0,
    on_false_value: float = -3.4028235e38,
    name: str | None = None,
) -> None:
    """Keep elements whose free index lies in the bounds (else FP32_MIN), optionally max-reduced."""
    _extra.range_select(
        _sim("range_select"),
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


VirtualRegister = _extra.VirtualRegister


def register_alloc(x: Any = None) -> Any:
    """A new register holding ``x`` (default 0)."""
    _sim("register_alloc")
    return _extra.VirtualRegister(0 if x is None else int(x))


def register_move(dst: Any, src: Any) -> None:
    """``dst = src`` (an int or a register)."""
    _sim("register_move")
    if isinstance(src, _extra.VirtualRegister):
        dst.value, dst.known = src.value, src.known
    else:
        dst.value, dst.known = int(src), True


def register_load(dst: Any, src: Any) -> None:
    """Load a 1-element tensor into a register."""
    sim = _sim("register_load")
    if not isinstance(src, Tensor) or src.size != 1:
        sim.fail("nisa.register_load", "src must be a 1-element tensor", "unsupported_operand")
    _isa.execute(sim, "nisa.register_load", Engine.NONE, "register_load", None, [("src", src)], None)
    if sim.values:
        dst.value, dst.known = int(np.asarray(src.read()).reshape(-1)[0]), True
    else:
        dst.value, dst.known = 0, False


def register_store(dst: Any, src: Any) -> None:
    """Store a register into a 1-element tensor."""
    sim = _sim("register_store")
    if not isinstance(dst, Tensor) or dst.size != 1:
        sim.fail("nisa.register_store", "dst must be a 1-element tensor", "unsupported_operand")
    value = src.value
    _isa.execute(sim, "nisa.register_store", Engine.NONE, "register_store", dst, [], lambda v: value)


def sendrecv(
    src: Any,
    dst: Any,
    send_to_rank: int,
    recv_from_rank: int,
    pipe_id: Any,
    dma_engine: Any = None,
    name: str | None = None,
) -> None:
    """LNC point to point: ``src`` lands in the peer's ``dst``; calls with one ``pipe_id`` meet."""
    from trnsim.nki import collectives_impl

    sim = _sim("sendrecv")
    collectives_impl.sendrecv(
        sim, "nisa.sendrecv", src, dst, send_to_rank, recv_from_rank, pipe_id, collectives_impl.rank_id()
    )


def nc_match_replace8(
    dst: Tensor, data: Any, vals: Any, imm: Any, dst_idx: Any = None, name: str | None = None
) -> None:
    """Replace the first match of each of 8 values per partition by ``imm`` (positions to dst_idx)."""
    _extra.nc_match_replace8(_sim("nc_match_replace8"), dst, data, vals, imm, dst_idx)


def quantize_mx(dst: Tensor, src: Any, dst_scale: Any, name: str | None = None) -> None:
    """[v4] fp16/bf16 -> MXFP8 x4 ``dst`` and one E8M0 scale per 8 partitions x 4 values."""
    _mx.quantize_mx(_sim("quantize_mx"), dst, src, dst_scale)


def nc_matmul_mx(
    dst: Tensor,
    stationary: Any,
    moving: Any,
    stationary_scale: Any,
    moving_scale: Any,
    tile_position: Any = None,
    tile_size: Any = None,
    accumulate: bool | None = None,
    name: str | None = None,
) -> None:
    """[v4] ``dst (+)=`` the block-scaled product of two x4 tiles (contraction 4 x partitions)."""
    _mx.nc_matmul_mx(
        _sim("nc_matmul_mx"),
        dst,
        stationary,
        moving,
        stationary_scale,
        moving_scale,
        tile_position=tile_position,
        tile_size=tile_size,
        accumulate=accumulate,
    )


@_exact
def local_gather(
    dst: Tensor,
    src_buffer: Any,
    index: Any,
    num_elem_per_idx: int = 1,
    num_valid_indices: Any = None,
    name: str | None = None,
) -> None:
    """Not simulated (raises KernelError); the signature is nki-api.md §3.5's (the legacy one with
    ``dst`` first), so a call with other arguments is refused as the kernel's mistake first."""
    _sim("local_gather")
    raise _not_simulated_error("nisa.local_gather")

_guard_module(globals(), "nisa")
