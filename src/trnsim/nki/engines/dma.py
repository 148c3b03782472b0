"""DMA instructions: ``dma_copy`` (loads, stores, HBM copies, transposes, indirect and masked
accesses) and ``dma_compute`` (accumulating DMA)."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from trnsim.nki.alu import op_name
from trnsim.nki.dma_access import apply_selection, dma_selection
from trnsim.nki.engines.execute import execute, load_f32, mask_array
from trnsim.nki.runtime import Buffer, Simulation
from trnsim.nki.tensor import Tensor
from trnsim.nki.trace import Engine, Instruction


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
    axes: tuple[int, ...] | None = None,
) -> Instruction:
    """Move ``src`` to ``dst`` (HBM<->SBUF, SBUF<->SBUF), converting the dtype via fp32.

    ``transpose`` permutes ``src``'s dims by ``axes`` (default: reversed) on the way."""
    if not isinstance(src, Tensor) or not isinstance(dst, Tensor):
        sim.fail(instr, "DMA operands must be tensors", "unsupported_operand")
    if src.buffer is Buffer.PSUM and sim.frontend == "current":
        sim.fail(instr, "DMA cannot read PSUM (copy to SBUF first)", "unsupported_memory")
    if dst.buffer is Buffer.PSUM and sim.frontend == "current":
        sim.fail(instr, "DMA cannot write PSUM", "unsupported_memory")
    pmax = sim.spec.pmax
    for label, t in (("src", src), ("dst", dst)):
        if t.shape and t.shape[0] > pmax and t.alloc.on_chip:
            sim.fail(
                instr,
                f"{label} {t.label} has {t.shape[0]} partitions (valid: 1..{sim.spec.pmax})",
                "num_partition_exceed_arch_limit",
            )
    if src.shape != dst.shape and src.size != dst.size:
        sim.fail(
            instr,
            f"src {src.shape} and dst {dst.shape} differ in element count",
            "store_dst_shape_smaller_than_other_shape",
        )
    exact = src.dtype == dst.dtype
    shape = dst.shape
    if oob_skip and src.oob is not None and src.oob.any():
        # oob_mode.skip: an element whose source address is out of bounds is not moved, so its
        # destination keeps its old value (the write side is handled in execute's write)
        keep = ~np.broadcast_to(src.oob, src.shape).reshape(shape)
        with contextlib.suppress(TypeError):  # a bad mask is reported by execute
            m = mask_array(mask)
            mask = keep if m is None else keep & np.broadcast_to(m, shape)

    def compute(v: list[Any]) -> Any:
        vals = src.read() if exact and not accumulate else load_f32(src, sim)
        if transpose:
            vals = np.transpose(np.asarray(vals).reshape(src.shape), axes)
        return np.asarray(vals).reshape(shape)

    a = dict(attrs) if attrs else {}
    if transpose:
        a["transpose"] = True
    if src.dyn or dst.dyn or src.index_tiles or dst.index_tiles:
        a["dynamic"] = True
    selection = None
    # only the selected elements move (nki-semantics.md §9); a plain copy moves all of them
    plain = mask is None and src.flat is None and dst.flat is None and src.oob is None and dst.oob is None
    if not transpose and not plain:
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
        load_inputs=False,
    )
    if selection is not None:
        apply_selection(instruction, selection)
    return instruction


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


#: the permutations DMA transposes support (nki-api.md §2.4)
TRANSPOSE_AXES = {2: ((1, 0),), 3: ((2, 1, 0),), 4: ((3, 1, 2, 0),)}


def transpose_axes(sim: Simulation, instr: str, src: Any, axes: Any) -> tuple[int, ...]:
    """``axes`` of a DMA transpose checked against what the engine supports (default: reversed)."""
    if not isinstance(src, Tensor):
        sim.fail(instr, "src must be a tensor", "unsupported_operand")
    chosen = tuple(range(src.ndim))[::-1] if axes is None else tuple(int(a) for a in axes)
    if chosen not in TRANSPOSE_AXES.get(src.ndim, ()):
        valid = ", ".join(str(a) for v in TRANSPOSE_AXES.values() for a in v)
        sim.fail(
            instr,
            f"axes {chosen} for a {src.ndim}-D source {src.shape} (valid: {valid})",
            "exceed_max_supported_dimension",
        )
    return chosen
