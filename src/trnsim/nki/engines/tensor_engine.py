"""TensorE instructions: ``nc_matmul`` (fp32 PSUM, accumulation groups) and ``nc_transpose``
(TensorE via PSUM, or VectorE for tiles up to 32x32)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from trnsim.nki import runtime
from trnsim.nki.dtypes import dtype_name, is_float
from trnsim.nki.engines.bf16_matmul import multiply_bf16, plain_bf16, widen_bf16
from trnsim.nki.engines.execute import (
    WRITTEN,
    _state_view,
    check_tensor,
    engine_of,
    execute,
    free_size,
    matmul_group_open,
)
from trnsim.nki.engines.matmul_mask import matmul_mask
from trnsim.nki.runtime import Buffer, Simulation
from trnsim.nki.tensor import Tensor, strided
from trnsim.nki.trace import Engine, Instruction

_MATMUL_DTYPES = {"float8_e4m3", "float8_e5m2", "float8_e4m3fn", "bfloat16", "float16", "float32"}


def accumulation_mode(
    sim: Simulation, instr: str, dst: Tensor, accumulate: bool | None, stacklevel: int = 3
) -> tuple[bool, bool | np.ndarray | None]:
    """Whether a matmul into ``dst`` accumulates, and (value mode, ``accumulate=None``) where
    (per element, or one bool for all).

    ``None``: the first matmul write of a PSUM location overwrites, later ones add (per element
    in value mode, nki-semantics.md §3); ``True`` on a location never written warns (UB).
    """
    where = None
    if accumulate is None:  # first write to a PSUM location overwrites, later ones accumulate
        region = dst.region()
        group = sim.psum_groups.setdefault(dst.alloc.alloc_id, [])
        # (by index: a written-out replay's group holds its box as a plain tuple, trnsim.nki.templates)
        accumulate = any(r[1] < region[2] and region[1] < r[2] and r[3] < region[4] and region[3] < r[4]
                         for r in group)
        if not accumulate:
            group.append(region)
        if dst.alloc.mm_state is not None:  # value mode: exactly per element (nki-semantics §3)
            where = matmul_group_open(dst)
    elif accumulate and dst.alloc.mm_state is not None and (_state_view(dst) == 0).any():
        warnings.warn(
            f"{instr}: accumulate=True onto PSUM never written (undefined on hardware; adds to NaN)",
            stacklevel=stacklevel,
        )
    else:
        group = sim.psum_groups.setdefault(dst.alloc.alloc_id, [])
        region = dst.region()
        if region not in group:  # the same accumulator tile is written once per K step
            group.append(region)
    return bool(accumulate), where


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
    """``dst[M, N] (+)= stationary[K, M].T @ moving[K, N]`` in fp32 PSUM.

    The checks depend only on the operands' buffers, layouts and dtypes and on the flags: once a
    combination passed, later calls with it (a loop's 2nd..nth iteration) reuse the sizes.
    """
    key = None
    if runtime.CACHE_TEMPLATES and stationary.__class__ is Tensor and moving.__class__ is Tensor:
        sa, ma, da = stationary.alloc, moving.alloc, dst.alloc
        key = (
            "nc_matmul", sa.buffer, ma.buffer, da.buffer, sa.dtype_name, ma.dtype_name, da.dtype_name,
            stationary.shape, moving.shape, dst.shape, stationary.paxis, moving.paxis, dst.paxis,
            stationary.flat is None, moving.flat is None, dst.flat is None, is_transpose, perf_mode,
        )
        sizes = sim.templates.get(key)
        if sizes is not None:
            k, m, n, double_row = sizes
            return _matmul_execute(
                sim, instr, dst, stationary, moving, accumulate, is_transpose, perf_mode, mask, api,
                k, m, n, double_row,
            )
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
    # float8_e4m3fn (OCP) is a v4 format and is not mixed with the legacy float8_e4m3 (nki-api.md §3.5)
    if "float8_e4m3fn" in (s_name, m_name):
        if spec.nc_version < 4:
            sim.fail(
                instr,
                f"float8_e4m3fn operands need NeuronCore-v4 (trn3); target {spec.name} is "
                f"NeuronCore-v{spec.nc_version} (use float8_e4m3)",
                "unsupported_dtype",
            )
        if "float8_e4m3" in (s_name, m_name):
            rule = "float8_e4m3fn cannot be mixed with float8_e4m3 in one matmul"
            sim.fail(instr, rule, "unsupported_dtype")
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
    sizes = (k, m, n, double_row)
    if key is not None:
        sim.templates[key] = sizes
    return _matmul_execute(
        sim, instr, dst, stationary, moving, accumulate, is_transpose, perf_mode, mask, api, *sizes
    )


def _matmul_execute(
    sim: Simulation,
    instr: str,
    dst: Tensor,
    stationary: Tensor,
    moving: Tensor,
    accumulate: bool | None,
    is_transpose: bool,
    perf_mode: Any,
    mask: Any,
    api: str,
    k: int,
    m: int,
    n: int,
    double_row: bool,
) -> Instruction:
    """The checked matmul: accumulation state, values and the trace record."""
    selected = None
    if mask is not None and not double_row:
        selected = matmul_mask(sim, instr, mask, stationary, moving, k, m, n)
        if selected is not None:
            # per operand: the elements read (in bounds where selected) and the result written
            stationary.check_bounds(instr, selected.stationary)
            moving.check_bounds(instr, selected.moving)
            dst.check_bounds(instr, selected.out.reshape(dst.shape))
            mask = selected.out.reshape(dst.shape)
    accumulate, where = accumulation_mode(sim, instr, dst, accumulate, stacklevel=4)

    def compute(v: list[Any]) -> Any:
        s, mv = v
        if double_row:
            s = s.transpose(1, 0, 2).reshape(2 * k, m)
            mv = mv.transpose(1, 0, 2).reshape(2 * k, n)
        else:
            s = s.reshape(k, m)
            mv = mv.reshape(k, n)
        if selected is not None:
            product = selected.product(s.astype(np.float32, copy=False), mv.astype(np.float32, copy=False))
            return product.reshape(dst.shape)
        out = np.matmul(s.T.astype(np.float32, copy=False), mv.astype(np.float32, copy=False))
        return out.reshape(dst.shape)

    in_place = None
    if (
        sim.values
        and not accumulate
        and where is None
        and mask is None
        and not double_row
        and dst.dtype == _F32
        and dst.flat is None
        and dst.oob is None
        and plain_bf16(stationary)
        and plain_bf16(moving)
    ):
        in_place = _InPlace(sim, dst, stationary, moving, k, m, n)
    attrs = {
        "accumulate": bool(accumulate),
        "transpose": bool(is_transpose),
        "perf_mode": str(getattr(perf_mode, "name", perf_mode) or "none"),
    }
    if (
        runtime.CACHE_TEMPLATES
        and not sim.values
        and mask is None
        and not api
        and stationary.oob is None
        and moving.oob is None
        and dst.oob is None
        and not stationary.index_tiles
        and not moving.index_tiles
    ):
        # timing-only, unmasked, in bounds: what :func:`execute` does for checked SBUF operands
        # into PSUM (no PSUM input, no values), without its generic steps
        sim.last_mask = None
        inputs = (stationary.operand("stationary"), moving.operand("moving"))
        if sim.loops:
            sim.check_read(instr, inputs[0].region, False)
            sim.check_read(instr, inputs[1].region, False)
            if not accumulate:
                sim.note_write(dst.region(), False, dst.flat is None and not dst.dyn)
        return sim.record(Engine.TENSOR, "nc_matmul", inputs, (dst.operand("dst"),), attrs)
    return execute(
        sim,
        instr,
        Engine.TENSOR,
        "nc_matmul",
        dst,
        [("stationary", stationary), ("moving", moving)],
        compute if in_place is None else in_place,
        mask=mask,
        attrs=attrs,
        api=api,
        accumulate=bool(accumulate),
        oob_skip=selected is not None,  # bounds checked above, per operand
        accumulate_where=where,
        load_inputs=in_place is None,
    )


_F32 = np.dtype(np.float32)


class _InPlace:
    """Value mode, an unmasked bfloat16 matmul overwriting a plain fp32 destination: the product
    goes straight into the destination's storage (:func:`multiply_bf16`). Where the destination
    view is not one C-contiguous block or an operand's values are not C-contiguous (the layout
    ``astype`` would keep), the product is returned for execute's write, as before."""

    __slots__ = ("dst", "k", "m", "moving", "n", "sim", "stationary")

    def __init__(self, sim: Simulation, dst: Tensor, stationary: Tensor, moving: Tensor, k: int, m: int,
                 n: int) -> None:
        self.sim, self.dst, self.stationary, self.moving = sim, dst, stationary, moving
        self.k, self.m, self.n = k, m, n

    def __call__(self, _: list[Any]) -> Any:
        dst = self.dst
        k, m, n = self.k, self.m, self.n
        s = self.stationary.read()
        mv = self.moving.read()
        isz = dst.alloc.itemsize
        out = strided(runtime.writable_storage(dst.alloc), dst.offset, dst.shape,
                      tuple([st * isz for st in dst.strides]), True)
        if not (out.flags.c_contiguous and s.flags.c_contiguous and mv.flags.c_contiguous):
            product = np.matmul(widen_bf16(s).reshape(k, m).T, widen_bf16(mv).reshape(k, n))
            return product.reshape(dst.shape)
        multiply_bf16(self.sim.scratch, s, mv, out.reshape(m, n))
        return WRITTEN




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
