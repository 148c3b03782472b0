"""``neuronxcc.nki.language`` (``nl``): the legacy language front end.

Functions return new tiles; ``mask=`` is accepted everywhere. Implementations live in
:mod:`trnsim.nki.language_impl` (shared with the current front end).
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from trnsim.nki import language_impl as _impl
from trnsim.nki.dtypes import (
    bfloat16,
    bool_,
    float8_e4m3,
    float8_e4m3fn,
    float8_e5m2,
    float16,
    float32,
    int8,
    int16,
    int32,
    tfloat32,
    uint8,
    uint16,
    uint32,
)
from trnsim.nki.grid import nc, spmd_dim
from trnsim.nki.guard import exact as _exact
from trnsim.nki.guard import guard_module as _guard_module
from trnsim.nki.guard import not_simulated_value as _not_simulated_value
from trnsim.nki.indexing import arange, ds, mgrid
from trnsim.nki.language_impl import (
    affine_range,
    atomic_rmw,
    broadcast_to,
    copy,
    device_print,
    dropout,
    empty_like,
    expand_dims,
    full,
    gather_flattened,
    load,
    load_transpose2d,
    matmul,
    ndarray,
    num_programs,
    ones,
    par_dim,
    program_id,
    program_ndim,
    rand,
    random_seed,
    rms_norm,
    sequential_range,
    shared_constant,
    shared_identity_matrix,
    softmax,
    static_cast,
    static_range,
    store,
    transpose,
    where,
    zeros,
    zeros_like,
)
from trnsim.nki.legacy import language_constants as constants
from trnsim.nki.legacy import language_iterators as iterators
from trnsim.nki.runtime import Buffer
from trnsim.nki.tensor import Tensor

sbuf = Buffer.SBUF
psum = Buffer.PSUM
hbm = Buffer.HBM
shared_hbm = Buffer.SHARED_HBM
private_hbm = Buffer.PRIVATE_HBM
tile = Tensor


class _TileSize:
    """``nl.tile_size``: the active target's tile limits."""

    @property
    def pmax(self) -> int:
        return _impl.spec_now().pmax

    @property
    def psum_fmax(self) -> int:
        return _impl.spec_now().psum_fmax

    @property
    def gemm_stationary_fmax(self) -> int:
        return _impl.spec_now().gemm_stationary_fmax

    @property
    def gemm_moving_fmax(self) -> int:
        return _impl.spec_now().gemm_moving_fmax

    @property
    def bn_stats_fmax(self) -> int:
        return _impl.spec_now().bn_stats_fmax

    @property
    def psum_bank_fmax(self) -> int:
        return _impl.spec_now().psum_bank_bytes // 4

    @property
    def psum_bank_fmax_bytes(self) -> int:
        return _impl.spec_now().psum_bank_bytes

    @property
    def psum_num_banks(self) -> int:
        return _impl.spec_now().psum_banks

    @property
    def total_available_sbuf_size(self) -> int:
        return _impl.spec_now().sbuf_usable_bytes_per_partition

    @property
    def sbuf_size_bytes(self) -> int:
        return _impl.spec_now().sbuf_bytes_per_partition

    @property
    def sbuf_fmax(self) -> int:
        # undocumented value (nki-api.md §7): the fp32 elements of sbuf_fmax_bytes, as
        # psum_bank_fmax is the fp32 elements of a PSUM bank (inferred)
        return _impl.spec_now().sbuf_usable_bytes_per_partition // 4

    @property
    def sbuf_fmax_bytes(self) -> int:
        return _impl.spec_now().sbuf_usable_bytes_per_partition

    @property
    def sbuf_min_align(self) -> int:
        return _impl.spec_now().sbuf_min_align_bytes

    @property
    def psum_min_align(self) -> int:
        return _impl.spec_now().psum_min_align_bytes


tile_size = _TileSize()


# Element-wise functions and reductions take exactly the arguments nki-api.md §2.2 lists (math
# functions: keyword-only ``dtype=None, mask=None``): any other is refused (trnsim.nki.guard).


def _unary(name: str) -> Any:
    @_exact
    def fn(x: Any, *, dtype: Any = None, mask: Any = None) -> Any:
        return _impl.unary(name, x, dtype, mask)

    fn.__name__ = fn.__qualname__ = name
    fn._nki_op = name  # type: ignore[attr-defined]
    fn.__doc__ = f"``nl.{name}(x)`` element-wise (ScalarE activation)."
    fn._templated = True  # type: ignore[attr-defined]
    return fn


def _binary(name: str, default_dtype: Any = None, keyword_only: bool = True) -> Any:
    def keyword(x: Any, y: Any, *, dtype: Any = default_dtype, mask: Any = None) -> Any:
        return _impl.binary(name, x, y, dtype, mask)

    def positional(x: Any, y: Any, dtype: Any = default_dtype, mask: Any = None) -> Any:
        return _impl.binary(name, x, y, dtype, mask)

    fn = _exact(keyword if keyword_only else positional)
    fn.__name__ = fn.__qualname__ = name
    fn._nki_op = name  # type: ignore[attr-defined]
    fn.__doc__ = f"``nl.{name}(x, y)`` element-wise (VectorE)."
    fn._templated = True  # type: ignore[attr-defined]
    return fn


def _reduction(name: str) -> Any:
    op = _impl.REDUCTION_OPS[name]

    @_exact
    def fn(x: Any, axis: Any, *, dtype: Any = None, mask: Any = None, keepdims: bool = False) -> Any:
        return _impl.reduce(name, x, axis, dtype, mask, keepdims)

    fn.__name__ = fn.__qualname__ = name
    fn._nki_op = op  # type: ignore[attr-defined]
    fn.__doc__ = f"``nl.{name}(x, axis)`` along free axes (VectorE tensor_reduce)."
    fn._templated = True  # type: ignore[attr-defined]
    return fn


exp = _unary("exp")
log = _unary("log")
tanh = _unary("tanh")
sqrt = _unary("sqrt")
rsqrt = _unary("rsqrt")
reciprocal = _unary("reciprocal")
square = _unary("square")
sigmoid = _unary("sigmoid")
relu = _unary("relu")
gelu = _unary("gelu")
gelu_dx = _unary("gelu_dx")
gelu_apprx_tanh = _unary("gelu_apprx_tanh")
gelu_apprx_sigmoid = _unary("gelu_apprx_sigmoid")
silu = _unary("silu")
silu_dx = _unary("silu_dx")
erf = _unary("erf")
erf_dx = _unary("erf_dx")
softplus = _unary("softplus")
mish = _unary("mish")
abs = _unary("abs")
sign = _unary("sign")
sin = _unary("sin")
cos = _unary("cos")
tan = _unary("tan")
arctan = _unary("arctan")
floor = _unary("floor")
ceil = _unary("ceil")
trunc = _unary("trunc")
negative = _unary("negative")
identity = _unary("copy")
copy_op = identity

add = _binary("add")
subtract = _binary("subtract")
multiply = _binary("multiply")
divide = _binary("divide")
power = _binary("power")
maximum = _binary("maximum")
minimum = _binary("minimum")
fmod = _binary("fmod", keyword_only=False)  # nki-api.md §2.2 lists (x, y, dtype=None, mask=None)
mod = _binary("mod", keyword_only=False)
bitwise_and = _binary("bitwise_and")
bitwise_or = _binary("bitwise_or")
bitwise_xor = _binary("bitwise_xor")
left_shift = _binary("left_shift")
right_shift = _binary("right_shift")
equal = _binary("equal", bool_)
not_equal = _binary("not_equal", bool_)
greater = _binary("greater", bool_)
greater_equal = _binary("greater_equal", bool_)
less = _binary("less", bool_)
less_equal = _binary("less_equal", bool_)
logical_and = _binary("logical_and", bool_)
logical_or = _binary("logical_or", bool_)
logical_xor = _binary("logical_xor", bool_)


@_exact
def invert(x: Any, *, dtype: Any = None, mask: Any = None) -> Any:
    """Bitwise NOT."""
    return _impl.binary("bitwise_xor", x, -1, dtype, mask)


@_exact
def logical_not(x: Any, *, dtype: Any = bool_, mask: Any = None) -> Any:
    """Logical NOT (1 where x == 0)."""
    return _impl.binary("equal", x, 0, dtype, mask)


invert._nki_op = "invert"  # type: ignore[attr-defined]
logical_not._nki_op = "logical_not"  # type: ignore[attr-defined]

sum = _reduction("sum")
max = _reduction("max")
min = _reduction("min")
prod = _reduction("prod")
mean = _reduction("mean")
var = _reduction("var")
all = _reduction("all")


def finfo(dtype: Any) -> Any:
    """Floating-point limits of an NKI dtype."""
    return ml_dtypes.finfo(dtype)


class _FP32:
    min = float(np.float32(-3.4028235e38))


fp32 = _FP32()


class _BFP16:
    min = float("-inf")


bfp16 = _BFP16()


@_exact
def loop_reduce(x: Any, op: Any, loop_indices: Any, *, dtype: Any = None, mask: Any = None) -> Any:
    """``b = nl.loop_reduce(a, op=np.add, loop_indices=[k])``: ``b = op(a, b)`` across the loop.

    nki-semantics §7: equal to a tensor_tensor with the destination as the right-hand operand.
    The compiler traces the loop body once; trnsim runs it concretely, so the running value is
    kept per call site and restarts when every index in ``loop_indices`` is 0 (the loop's first
    iteration; loops over ``loop_indices`` are assumed to start at 0).
    """
    from trnsim.nki import runtime
    from trnsim.nki.alu import op_name

    sim = runtime.current("nl.loop_reduce")
    name = op_name(op)
    if not name:
        sim.fail("nl.loop_reduce", f"unknown reduction operator {op!r}", "unsupported_operand")
    indices = loop_indices if isinstance(loop_indices, (list, tuple)) else [loop_indices]
    site = runtime.user_location()
    state = sim.loop_reduce
    prev = state.get(site)
    if prev is None or not any(int(i) != 0 for i in indices):  # (nl.all shadows the builtin)
        result = _impl.copy(x, dtype=dtype, mask=mask)
    else:
        result = _impl.binary(str(name), x, prev, dtype or prev.dtype, mask)
    state[site] = result
    return result


@_exact
def all_reduce(
    x: Any,
    op: Any,
    program_axes: Any,
    *,
    dtype: Any = None,
    mask: Any = None,
    parallel_reduce: bool = True,
    asynchronous: bool = False,
) -> Any:
    """``x`` reduced with ``op`` across the SPMD programs along ``program_axes``; a new tile for each.

    ``parallel_reduce`` (how the reduction is scheduled) gives the same values either way and is
    accepted; ``asynchronous=True`` (the result read later) and a ``mask`` are not simulated.
    """
    from trnsim.nki import collectives_impl, runtime
    from trnsim.nki.spmd import current_world

    sim = runtime.current("nl.all_reduce")
    if asynchronous:
        raise _not_simulated_value("nl.all_reduce", "asynchronous", asynchronous)
    if mask is not None:
        raise _not_simulated_value("nl.all_reduce", "mask", mask)
    world = current_world()
    if world is None:
        sim.fail(
            "nl.all_reduce",
            "nl.all_reduce needs a multi-program SPMD launch (kernel[n](...))",
            "collective_without_ranks",
        )
    axes = [int(a) for a in (program_axes if isinstance(program_axes, (list, tuple)) else [program_axes])]
    group = collectives_impl.program_axes_group(world, world.rank(), axes)
    if not isinstance(x, _impl.Tensor):
        sim.fail("nl.all_reduce", f"x must be a tile, got {type(x).__name__}", "unsupported_operand")
    dst = _impl.new_tile(sim, "nl.all_reduce", x.shape, dtype or x.dtype)
    collectives_impl.all_reduce(sim, "nl.all_reduce", [x], [dst], group, op)
    return dst


__all__ = [
    "abs",
    "add",
    "affine_range",
    "all",
    "all_reduce",
    "arange",
    "arctan",
    "atomic_rmw",
    "bfloat16",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bool_",
    "broadcast_to",
    "ceil",
    "constants",
    "copy",
    "cos",
    "device_print",
    "divide",
    "dropout",
    "ds",
    "empty_like",
    "equal",
    "erf",
    "erf_dx",
    "exp",
    "expand_dims",
    "finfo",
    "float8_e4m3",
    "float8_e4m3fn",
    "float8_e5m2",
    "float16",
    "float32",
    "floor",
    "fmod",
    "full",
    "gather_flattened",
    "gelu",
    "gelu_apprx_sigmoid",
    "gelu_apprx_tanh",
    "gelu_dx",
    "greater",
    "greater_equal",
    "hbm",
    "int8",
    "int16",
    "int32",
    "invert",
    "iterators",
    "left_shift",
    "less",
    "less_equal",
    "load",
    "load_transpose2d",
    "log",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "loop_reduce",
    "matmul",
    "max",
    "maximum",
    "mean",
    "mgrid",
    "min",
    "minimum",
    "mish",
    "mod",
    "multiply",
    "nc",
    "ndarray",
    "negative",
    "not_equal",
    "num_programs",
    "ones",
    "par_dim",
    "power",
    "private_hbm",
    "prod",
    "program_id",
    "program_ndim",
    "psum",
    "rand",
    "random_seed",
    "reciprocal",
    "relu",
    "right_shift",
    "rms_norm",
    "rsqrt",
    "sbuf",
    "sequential_range",
    "shared_constant",
    "shared_hbm",
    "shared_identity_matrix",
    "sigmoid",
    "sign",
    "silu",
    "silu_dx",
    "sin",
    "softmax",
    "softplus",
    "spmd_dim",
    "sqrt",
    "square",
    "static_cast",
    "static_range",
    "store",
    "subtract",
    "sum",
    "tan",
    "tanh",
    "tfloat32",
    "tile_size",
    "transpose",
    "trunc",
    "uint8",
    "uint16",
    "uint32",
    "var",
    "where",
    "zeros",
    "zeros_like",
]

#: functions that make one new tile with at most one instruction: timing-only templates
#: (trnsim.nki.templates)
_TEMPLATED = {
    "load", "copy", "zeros", "ones", "full", "ndarray", "zeros_like", "empty_like", "transpose", "matmul",
    *(name for name, fn in list(globals().items())
      if isinstance(fn, type(load)) and getattr(fn, "_templated", False)),
}
_guard_module(globals(), "nl", _TEMPLATED, writes={"store"})
