"""``nki.language`` (NKI 0.2+): the current language front end.

The same functions as the legacy ``nl`` (no ``mask=``, arange or mgrid); buffers are members of
:class:`MemoryRegion`; the loop iterators are aliases of ``range`` (kept for old code).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from trnsim.nki import language_impl as _impl
from trnsim.nki import runtime as _runtime
from trnsim.nki.dtypes import CURRENT_DTYPES as _DT
from trnsim.nki.guard import guard_module as _guard_module
from trnsim.nki.indexing import ds
from trnsim.nki.language_impl import (
    affine_range,
    broadcast_to,
    copy,
    device_print,
    dropout,
    empty_like,
    expand_dims,
    full,
    gather_flattened,
    load,
    matmul,
    ndarray,
    num_programs,
    ones,
    program_id,
    program_ndim,
    rand,
    random_seed,
    sequential_range,
    shared_constant,
    shared_identity_matrix,
    softmax,
    static_range,
    store,
    transpose,
    where,
    zeros,
    zeros_like,
)
from trnsim.nki.legacy.language import (
    abs,
    add,
    all,
    arctan,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    ceil,
    cos,
    divide,
    equal,
    erf,
    erf_dx,
    exp,
    floor,
    fmod,
    gelu,
    gelu_apprx_sigmoid,
    gelu_apprx_tanh,
    gelu_dx,
    greater,
    greater_equal,
    invert,
    left_shift,
    less,
    less_equal,
    log,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    max,
    maximum,
    mean,
    min,
    minimum,
    mish,
    mod,
    multiply,
    negative,
    not_equal,
    power,
    prod,
    reciprocal,
    relu,
    right_shift,
    rsqrt,
    sigmoid,
    sign,
    silu,
    silu_dx,
    sin,
    softplus,
    sqrt,
    square,
    subtract,
    sum,
    tan,
    tanh,
    tile_size,
    trunc,
)
from trnsim.nki.runtime import Buffer as MemoryRegion

# NKI 0.2+: dtypes are strings (nki-semantics §7)
bfloat16 = _DT["bfloat16"]
bool_ = _DT["bool_"]
float4_e2m1fn_x4 = _DT["float4_e2m1fn_x4"]
float8_e4m3 = _DT["float8_e4m3"]
float8_e4m3fn = _DT["float8_e4m3fn"]
float8_e4m3fn_x4 = _DT["float8_e4m3fn_x4"]
float8_e5m2 = _DT["float8_e5m2"]
float8_e5m2_x4 = _DT["float8_e5m2_x4"]
float8_e8m0fnu = _DT["float8_e8m0fnu"]
float16 = _DT["float16"]
float32 = _DT["float32"]
int8 = _DT["int8"]
int16 = _DT["int16"]
int32 = _DT["int32"]
tfloat32 = _DT["tfloat32"]
uint8 = _DT["uint8"]
uint16 = _DT["uint16"]
uint32 = _DT["uint32"]

sbuf = MemoryRegion.SBUF
psum = MemoryRegion.PSUM
hbm = MemoryRegion.HBM
shared_hbm = MemoryRegion.SHARED_HBM
private_hbm = MemoryRegion.PRIVATE_HBM

copy_op = "copy"
bypass = "bypass"
prelu = "prelu"
average = "mean"
abs_max = "abs_max"
abs_min = "abs_min"


class NKIObject:
    """Base class NKI 0.2+ requires for user classes used in kernels.

    Subclasses behave like dataclasses (nki-semantics §7): annotated class attributes become
    ``__init__`` parameters (with their defaults) and ``__post_init__`` runs after it, unless the
    subclass writes its own ``__init__``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            dataclasses.dataclass(eq=False)(cls)


def load_transpose2d(src: Any, dtype: Any = None) -> Any:
    """HBM ``[F, P]`` -> a new SBUF tile ``[P, F]`` (a transposing DMA; current signature)."""
    return _impl.load_transpose2d(src, dtype=dtype)


def is_hbm(buffer: Any) -> bool:
    """True for HBM buffers."""
    return MemoryRegion(buffer).space.value == "hbm"


def is_on_chip(buffer: Any) -> bool:
    """True for SBUF and PSUM."""
    return MemoryRegion(buffer).on_chip


def is_psum(buffer: Any) -> bool:
    """True for PSUM."""
    return MemoryRegion(buffer) is MemoryRegion.PSUM


def is_sbuf(buffer: Any) -> bool:
    """True for SBUF."""
    return MemoryRegion(buffer) is MemoryRegion.SBUF


def dynamic_range(start: int, stop: int | None = None, step: int = 1) -> range:
    """A device loop (run on the host here)."""
    return range(start, stop, step) if stop is not None else range(start)


def fori_loop(lower: int, upper: int, body_fun: Any, step: int = 1) -> None:
    """``for i in range(lower, upper, step): body_fun(i)``."""
    for i in range(lower, upper, step):
        body_fun(i)


def while_loop(init: Any, body_fun: Any) -> Any:
    """A device do-while loop (0.6): run ``body_fun``, which returns the next condition (a register
    or an int), until that condition is 0; return the last condition.

    The loop is entered unconditionally (the compiler's ``while_loop_requires_unconditional_entry``);
    ``init`` is the condition register the loop starts from, passed to ``body_fun`` when it takes
    an argument (the signature is undocumented beyond ``(init, body_fun)``: inferred, nki-semantics
    §11). In timing-only mode a condition loaded from device memory has no value: one iteration
    is traced. A loop that never ends stops at the launch's instruction budget.
    """
    import inspect

    try:
        takes_arg = bool(inspect.signature(body_fun).parameters)
    except (TypeError, ValueError):
        takes_arg = True
    cond = init
    while True:
        cond = body_fun(cond) if takes_arg else body_fun()
        if cond is None:
            _runtime.current("nl.while_loop").fail(
                "nl.while_loop",
                "body_fun must return the next condition (a register or an int)",
                "invalid_loop",
            )
        known = getattr(cond, "known", True)
        value = getattr(cond, "value", cond)
        if not known or int(value) == 0:
            return cond


def no_reorder() -> Any:
    """A no-op context manager (instruction order is program order here)."""
    import contextlib

    return contextlib.nullcontext()


_ = _impl
__all__ = [
    "MemoryRegion",
    "NKIObject",
    "abs",
    "add",
    "affine_range",
    "all",
    "arctan",
    "bfloat16",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bool_",
    "broadcast_to",
    "ceil",
    "copy",
    "cos",
    "device_print",
    "divide",
    "dropout",
    "ds",
    "dynamic_range",
    "empty_like",
    "equal",
    "erf",
    "erf_dx",
    "exp",
    "expand_dims",
    "float4_e2m1fn_x4",
    "float8_e4m3",
    "float8_e4m3fn",
    "float8_e4m3fn_x4",
    "float8_e5m2",
    "float8_e5m2_x4",
    "float8_e8m0fnu",
    "float16",
    "float32",
    "floor",
    "fmod",
    "fori_loop",
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
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mish",
    "mod",
    "multiply",
    "ndarray",
    "negative",
    "not_equal",
    "num_programs",
    "ones",
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
    "sqrt",
    "square",
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
    "where",
    "while_loop",
    "zeros",
    "zeros_like",
]

_guard_module(globals(), "nl")
