"""Microscaling (MX) instructions of NeuronCore-v4: ``quantize_mx`` and ``nc_matmul_mx``.

nki-semantics.md §7 "MX (v4 only)" and nki-api.md §3.5 define the values:

* x4 dtypes pack 4 narrow values into one storage element: ``float8_e4m3fn_x4`` /
  ``float8_e5m2_x4`` in 32 bits, ``float4_e2m1fn_x4`` in 16 bits (nki-api.md §4). [inferred]
  lane ``j`` of a packed element is bits ``[w·j, w·(j+1))`` (``w`` = 8 or 4), and a ``[P, F]``
  x4 tile holds the values of a ``[P, 4F]`` tile in free order (lane ``j`` of element ``f`` is
  value ``4f + j``), as ``quantize_mx``'s "dst F = src F / 4" requires.
* One E8M0 scale (``2^(e - 127)``, ``float8_e8m0fnu`` or its raw byte as uint8) per group of
  8 partitions × 4 values (one packed element): 32 values, the OCP MX block size.
  [inferred] The scale tile has one row per 8 partitions: ``[P/8, F]`` for an x4 tile
  ``[P, F]`` (row ``g`` scales partitions ``8g … 8g+7``); the public layout page is not in the
  spec files, so this is the one place to change (:func:`scale_rows`).
* ``quantize_mx``: ``X = 2^(floor(log2 amax) − (Emax − 1))`` with Emax 8 (e4m3fn) / 15
  (e5m2); a zero group gets ``2^-127``; values ``x / X`` rounded to nearest even. [inferred]
  The exponent is clamped to E8M0's range [-127, 127]; a group with an inf/NaN gets the NaN
  scale (0xFF) and NaN values, as the OCP MX specification does.
* ``nc_matmul_mx``: ``dst[m, n] (+)= Σ_{p,j} S[p,m,j]·s_S[p/8,m] · M[p,n,j]·s_M[p/8,n]``, the
  contraction running over partitions and lanes (4P values), products and sum in fp32.

Engines [inferred, not in the spec files]: ``quantize_mx`` on VectorE, ``nc_matmul_mx`` on
TensorE (its MX rate is in ``neuroncore_timing/trn3.toml``). Both exist on v4 only; other
targets get one KernelError line.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from trnsim.nki.dtypes import dtype_name
from trnsim.nki.engines.execute import check_tensor, execute, free_size
from trnsim.nki.engines.tensor_engine import accumulation_mode
from trnsim.nki.runtime import Buffer, Simulation
from trnsim.nki.tensor import Tensor
from trnsim.nki.trace import Engine, Instruction

__all__ = ["ELEMENT_DTYPES", "nc_matmul_mx", "pack_x4", "quantize_mx", "scale_rows", "unpack_x4"]

#: x4 dtype → the ml_dtypes type of one lane, and the lane width in bits
ELEMENT_DTYPES: dict[str, tuple[Any, int]] = {
    "float8_e4m3fn_x4": (ml_dtypes.float8_e4m3fn, 8),
    "float8_e5m2_x4": (ml_dtypes.float8_e5m2, 8),
    "float4_e2m1fn_x4": (ml_dtypes.float4_e2m1fn, 4),
}
#: quantize_mx targets and their Emax (nki-semantics.md §7)
_QUANTIZE_EMAX = {"float8_e4m3fn_x4": 8, "float8_e5m2_x4": 15}
_QUANTIZE_SRC = ("bfloat16", "float16")
_SCALE_DTYPES = ("float8_e8m0fnu", "uint8")
#: values per packed element, and partitions per scale group
LANES, GROUP_PARTITIONS = 4, 8
_E8M0_BIAS = 127


def scale_rows(partitions: int) -> int:
    """Rows of the scale tile of an x4 tile with ``partitions`` partitions (one per 8)."""
    return partitions // GROUP_PARTITIONS


def unpack_x4(raw: np.ndarray, dtype: str) -> np.ndarray:
    """fp32 values ``[..., 4]`` of packed storage words ``raw`` (uint32 / uint16) of ``dtype``."""
    lane_type, width = ELEMENT_DTYPES[dtype]
    words = np.asarray(raw).astype(np.uint32)
    mask = (1 << width) - 1
    codes = np.stack([(words >> (width * j)) & mask for j in range(LANES)], axis=-1).astype(np.uint8)
    return codes.view(lane_type).astype(np.float32)


def pack_x4(values: np.ndarray, dtype: str) -> np.ndarray:
    """Round ``values [..., 4]`` to ``dtype``'s lane format (RNE) and pack them into storage words."""
    lane_type, width = ELEMENT_DTYPES[dtype]
    codes = np.asarray(values, np.float32).astype(lane_type).view(np.uint8).astype(np.uint32)
    codes &= (1 << width) - 1
    words = np.zeros(codes.shape[:-1], np.uint32)
    for j in range(LANES):
        words |= codes[..., j] << (width * j)
    return words


def _scale_values(raw: np.ndarray, dtype: str) -> np.ndarray:
    """fp32 scale factors from an E8M0 tile read as float8_e8m0fnu (fp32 already) or raw uint8."""
    if dtype == "uint8":
        codes = np.asarray(raw).astype(np.uint8)
        return codes.view(ml_dtypes.float8_e8m0fnu).astype(np.float32)
    return np.asarray(raw, np.float32)


def _require_v4(sim: Simulation, instr: str) -> None:
    if sim.spec.nc_version < 4:
        sim.fail(
            instr,
            f"MX instructions exist on NeuronCore-v4 (trn3) only; target {sim.spec.name} is "
            f"NeuronCore-v{sim.spec.nc_version}",
            "unsupported_instruction_for_target",
        )


def _partitions_ok(sim: Simulation, instr: str, t: Tensor, label: str) -> None:
    p = t.shape[0]
    if p % 32 or p > sim.spec.pmax:
        sim.fail(
            instr,
            f"{label} has {p} partitions (valid: a multiple of 32, at most {sim.spec.pmax})",
            "size_of_dimension_exceed_arch_limit",
        )


def _dtype_in(
    sim: Simulation, instr: str, t: Tensor, label: str, valid: tuple[str, ...] | dict[str, Any]
) -> str:
    name = dtype_name(t.dtype)
    if name not in valid:
        sim.fail(instr, f"{label} dtype {name} (valid: {', '.join(valid)})", "unsupported_dtype")
    return name


def _scale_shape(sim: Simulation, instr: str, scale: Tensor, label: str, p: int, f: int) -> None:
    want = (scale_rows(p), f)
    if scale.shape[0] != want[0] or free_size(scale) != f:
        sim.fail(
            instr,
            f"{label} is {scale.shape}; one scale per 8 partitions x 4 values needs {want}",
            "size_of_dimension_exceed_arch_limit",
        )


def quantize_mx(
    sim: Simulation, dst: Tensor, src: Any, dst_scale: Any, *, instr: str = "nisa.quantize_mx"
) -> Instruction:
    """Quantize fp16/bf16 ``src [P, 4F]`` to MXFP8 ``dst [P, F]`` and E8M0 ``dst_scale [P/8, F]``."""
    _require_v4(sim, instr)
    check_tensor(sim, instr, src, "src", (Buffer.SBUF,))
    check_tensor(sim, instr, dst, "dst", (Buffer.SBUF,))
    check_tensor(sim, instr, dst_scale, "dst_scale", (Buffer.SBUF,))
    _dtype_in(sim, instr, src, "src", _QUANTIZE_SRC)
    out_name = _dtype_in(sim, instr, dst, "dst", _QUANTIZE_EMAX)
    scale_name = _dtype_in(sim, instr, dst_scale, "dst_scale", _SCALE_DTYPES)
    _partitions_ok(sim, instr, src, "src")
    p, f_src = src.shape[0], free_size(src)
    if f_src % LANES:
        sim.fail(
            instr, f"src free size {f_src} is not a multiple of 4", "size_of_dimension_exceed_arch_limit"
        )
    f = f_src // LANES
    if dst.shape[0] != p or free_size(dst) != f:
        sim.fail(
            instr,
            f"dst is {dst.shape}; an x4 tile of src {src.shape} is [{p}, {f}] (free size / 4)",
            "store_dst_shape_smaller_than_other_shape",
        )
    _scale_shape(sim, instr, dst_scale, "dst_scale", p, f)
    emax = _QUANTIZE_EMAX[out_name]
    scale_shape = dst_scale.shape

    def compute(v: list[Any]) -> Any:
        x = np.asarray(v[0], np.float32).reshape(scale_rows(p), GROUP_PARTITIONS, f, LANES)
        with np.errstate(invalid="ignore"):
            amax = np.abs(x).max(axis=(1, 3))
        _, exp2 = np.frexp(amax)  # amax = m · 2^exp2, m in [0.5, 1): floor(log2 amax) = exp2 - 1
        e = np.clip(exp2.astype(np.int64) - 1 - (emax - 1), -_E8M0_BIAS, _E8M0_BIAS)
        e = np.where(amax == 0, -_E8M0_BIAS, e)
        codes = (e + _E8M0_BIAS).astype(np.uint8)
        codes = np.where(np.isfinite(amax), codes, np.uint8(0xFF))
        scale = codes.view(ml_dtypes.float8_e8m0fnu).astype(np.float32)  # exact powers of two
        with np.errstate(invalid="ignore", over="ignore"):
            q = x / scale[:, None, :, None]
        words = pack_x4(q.reshape(p, f, LANES), out_name)
        stored = codes if scale_name == "uint8" else codes.view(ml_dtypes.float8_e8m0fnu)
        dst_scale.write(stored.reshape(scale_shape), None)
        return words.reshape(dst.shape)

    return execute(
        sim,
        instr,
        Engine.VECTOR,
        "quantize_mx",
        dst,
        [("src", src)],
        compute,
        attrs={"dtype": out_name},
        extra_outputs=[("dst_scale", dst_scale)],
    )


def _check_tiling(sim: Simulation, instr: str, tile_position: Any, tile_size: Any) -> None:
    """Row tiling only: a column tile must start at column 0 and span all 128 columns."""
    if not tile_position and not tile_size:
        return
    try:
        (_, col), (_, cols) = tile_position, tile_size
    except (TypeError, ValueError):
        sim.fail(
            instr,
            f"tile_position {tile_position!r} / tile_size {tile_size!r} must be (row, col) pairs",
            "invalid_tile_position",
        )
    if int(col) != 0 or int(cols) != sim.spec.pmax:
        sim.fail(
            instr,
            f"nc_matmul_mx tiles rows only (valid: column 0, column size {sim.spec.pmax}; "
            f"got column {col}, size {cols})",
            "invalid_tile_position",
        )


def nc_matmul_mx(
    sim: Simulation,
    dst: Tensor,
    stationary: Any,
    moving: Any,
    stationary_scale: Any,
    moving_scale: Any,
    *,
    tile_position: Any = None,
    tile_size: Any = None,
    accumulate: bool | None = None,
    instr: str = "nisa.nc_matmul_mx",
) -> Instruction:
    """``dst[M, N] (+)= dequant(stationary [P, M]).T @ dequant(moving [P, N])``, contraction 4P."""
    _require_v4(sim, instr)
    for label, t in (("stationary", stationary), ("moving", moving)):
        check_tensor(sim, instr, t, label, (Buffer.SBUF,))
    for label, t in (("stationary_scale", stationary_scale), ("moving_scale", moving_scale)):
        check_tensor(sim, instr, t, label, (Buffer.SBUF,))
    check_tensor(sim, instr, dst, "dst", (Buffer.PSUM,))
    s_name = _dtype_in(sim, instr, stationary, "stationary", ELEMENT_DTYPES)
    m_name = _dtype_in(sim, instr, moving, "moving", ELEMENT_DTYPES)
    ss_name = _dtype_in(sim, instr, stationary_scale, "stationary_scale", _SCALE_DTYPES)
    ms_name = _dtype_in(sim, instr, moving_scale, "moving_scale", _SCALE_DTYPES)
    d_name = _dtype_in(sim, instr, dst, "dst", ("float32", "bfloat16"))
    _partitions_ok(sim, instr, stationary, "stationary")
    p, m, n = stationary.shape[0], free_size(stationary), free_size(moving)
    if moving.shape[0] != p:
        sim.fail(
            instr,
            f"contraction (partition) sizes differ: stationary {p}, moving {moving.shape[0]}",
            "num_partition_mismatch",
        )
    if m % 2 or m > sim.spec.gemm_stationary_fmax:
        sim.fail(
            instr,
            f"stationary free size {m} (valid: even, at most {sim.spec.gemm_stationary_fmax})",
            "size_of_dimension_exceed_arch_limit",
        )
    spec = sim.spec
    limit = spec.gemm_moving_fmax_wide_fp32 if d_name == "float32" else spec.gemm_moving_fmax_wide_16bit
    if n > limit:
        sim.fail(
            instr,
            f"moving free size {n} exceeds the limit for a {d_name} dst (valid: 1..{limit})",
            "size_of_dimension_exceed_arch_limit",
        )
    _scale_shape(sim, instr, stationary_scale, "stationary_scale", p, m)
    _scale_shape(sim, instr, moving_scale, "moving_scale", p, n)
    if dst.shape[0] != m or free_size(dst) != n:
        sim.fail(
            instr,
            f"dst shape {dst.shape} does not match the product [{m}, {n}]",
            "store_dst_shape_smaller_than_other_shape",
        )
    _check_tiling(sim, instr, tile_position, tile_size)
    accumulate, where = accumulation_mode(sim, instr, dst, accumulate)
    rows = scale_rows(p)

    def dequant(raw: Any, dtype: str, scale: Any, scale_dtype: str, f: int) -> np.ndarray:
        vals = unpack_x4(np.asarray(raw).reshape(p, f), dtype)  # [p, f, 4]
        s = _scale_values(np.asarray(scale).reshape(rows, f), scale_dtype)
        vals = vals * np.repeat(s, GROUP_PARTITIONS, axis=0)[:, :, None]
        return vals.transpose(0, 2, 1).reshape(p * LANES, f)  # contraction index (p, lane)

    def compute(v: list[Any]) -> Any:
        s = dequant(v[0], s_name, v[2], ss_name, m)
        mv = dequant(v[1], m_name, v[3], ms_name, n)
        return np.matmul(s.T, mv).reshape(dst.shape)

    return execute(
        sim,
        instr,
        Engine.TENSOR,
        "nc_matmul_mx",
        dst,
        [
            ("stationary", stationary),
            ("moving", moving),
            ("stationary_scale", stationary_scale),
            ("moving_scale", moving_scale),
        ],
        compute,
        attrs={"accumulate": bool(accumulate), "transpose": False},
        accumulate=bool(accumulate),
        accumulate_where=where,
    )
