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
from trnsim.nki.dtypes import bool_ as _np_bool
from trnsim.nki.guard import exact as _exact
from trnsim.nki.guard import guard_module as _guard_module
from trnsim.nki.guard import not_simulated_value as _not_simulated_value
from trnsim.nki.indexing import ds
from trnsim.nki.language_impl import (
    affine_range,
    dropout,  # dropout, expand_dims: not in nki-api.md §3.4; the legacy signatures (§2.2) kept
    expand_dims,
    num_programs,
    program_id,
    program_ndim,
    sequential_range,
    static_range,
)
from trnsim.nki.legacy.language import tile_size
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


# Element-wise functions and reductions: the current signatures (nki-api.md §3.4: no ``mask``,
# ``dtype`` not keyword-only), the same implementations as the legacy ones.


#: comparisons' default result dtype: the legacy one (numpy bool), so results are the same
_BOOL = _np_bool


def _unary(name: str) -> Any:
    @_exact
    def fn(x: Any, dtype: Any = None) -> Any:
        return _impl.unary(name, x, dtype, None)

    fn.__name__ = fn.__qualname__ = name
    fn._nki_op = name  # type: ignore[attr-defined]
    fn.__doc__ = f"``nl.{name}(x, dtype=None)`` element-wise (ScalarE activation)."
    fn._templated = True  # type: ignore[attr-defined]
    return fn


def _binary(name: str, default_dtype: Any = None) -> Any:
    @_exact
    def fn(x: Any, y: Any, dtype: Any = default_dtype) -> Any:
        return _impl.binary(name, x, y, dtype, None)

    fn.__name__ = fn.__qualname__ = name
    fn._nki_op = name  # type: ignore[attr-defined]
    fn.__doc__ = f"``nl.{name}(x, y, dtype=None)`` element-wise (VectorE)."
    fn._templated = True  # type: ignore[attr-defined]
    return fn


def _reduction(name: str) -> Any:
    @_exact
    def fn(x: Any, axis: Any, dtype: Any = None, keepdims: bool = False) -> Any:
        return _impl.reduce(name, x, axis, dtype, None, keepdims)

    fn.__name__ = fn.__qualname__ = name
    fn._nki_op = _impl.REDUCTION_OPS[name]  # type: ignore[attr-defined]
    fn.__doc__ = f"``nl.{name}(x, axis, dtype=None, keepdims=False)`` along free axes (VectorE)."
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

add = _binary("add")
subtract = _binary("subtract")
multiply = _binary("multiply")
divide = _binary("divide")
power = _binary("power")
maximum = _binary("maximum")
minimum = _binary("minimum")
fmod = _binary("fmod")
mod = _binary("mod")
bitwise_and = _binary("bitwise_and")
bitwise_or = _binary("bitwise_or")
bitwise_xor = _binary("bitwise_xor")
left_shift = _binary("left_shift")
right_shift = _binary("right_shift")
equal = _binary("equal", _BOOL)
not_equal = _binary("not_equal", _BOOL)
greater = _binary("greater", _BOOL)
greater_equal = _binary("greater_equal", _BOOL)
less = _binary("less", _BOOL)
less_equal = _binary("less_equal", _BOOL)
logical_and = _binary("logical_and", _BOOL)
logical_or = _binary("logical_or", _BOOL)
logical_xor = _binary("logical_xor", _BOOL)


@_exact
def invert(x: Any, dtype: Any = None) -> Any:
    """Bitwise NOT."""
    return _impl.binary("bitwise_xor", x, -1, dtype, None)


@_exact
def logical_not(x: Any, dtype: Any = _BOOL) -> Any:
    """Logical NOT (1 where x == 0)."""
    return _impl.binary("equal", x, 0, dtype, None)


invert._nki_op = "invert"  # type: ignore[attr-defined]
logical_not._nki_op = "logical_not"  # type: ignore[attr-defined]

sum = _reduction("sum")
max = _reduction("max")
min = _reduction("min")
prod = _reduction("prod")
mean = _reduction("mean")
all = _reduction("all")


# Memory, copies, matmul (nki-api.md §3.4): the legacy implementations without ``mask``.


@_exact
def load(src: Any, dtype: Any = None) -> Any:
    """HBM ``src`` into a new SBUF tile (converted to ``dtype``)."""
    return _impl.load(src, dtype=dtype)


@_exact
def store(dst: Any, value: Any) -> None:
    """Write ``value`` into the HBM tensor ``dst``."""
    _impl.store(dst, value)


@_exact
def copy(x: Any, dtype: Any = None) -> Any:
    """A copy of ``x`` in a new tile (converted to ``dtype``)."""
    return _impl.copy(x, dtype=dtype)


copy._nki_op = "copy"  # type: ignore[attr-defined]  # also the identity activation, as the legacy nl.copy


@_exact
def where(condition: Any, x: Any, y: Any, dtype: Any = None) -> Any:
    """``condition ? x : y`` element-wise."""
    return _impl.where(condition, x, y, dtype=dtype)


@_exact
def matmul(x: Any, y: Any, transpose_x: bool = False) -> Any:
    """``x @ y`` (``x.T @ y`` with ``transpose_x``) into a new fp32 PSUM tile."""
    return _impl.matmul(x, y, transpose_x=transpose_x)


@_exact
def transpose(x: Any, dtype: Any = None) -> Any:
    """A 2-D transpose into PSUM."""
    return _impl.transpose(x, dtype=dtype)


@_exact
def softmax(x: Any, axis: Any = -1, dtype: Any = None) -> Any:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""
    return _impl.softmax(x, axis, dtype=dtype)


@_exact
def random_seed(seed: Any) -> None:
    """Reseed the random generator (a ``[1, 1]`` tensor or a number)."""
    _impl.random_seed(seed)


# Creation (nki-api.md §3.4): ``buffer`` may be positional; default SBUF.


def _buffer(api: str, buffer: Any) -> Any:
    """``buffer`` as given, refusing a plain string (nki-semantics §7: rejected from 0.3)."""
    if type(buffer) is str:
        _runtime.current(api).fail(
            api,
            f"buffer {buffer!r} is a string (valid: an nl.MemoryRegion member: nl.sbuf, nl.psum,"
            " nl.shared_hbm, nl.private_hbm, nl.hbm)",
            "unsupported_memory",
        )
    return buffer


@_exact
def ndarray(
    shape: Any, dtype: Any, buffer: Any = MemoryRegion.SBUF, name: str = "", address: Any = None
) -> Any:
    """An uninitialised tensor; ``address=(partition, free offset)`` placement is not simulated."""
    if address is not None:
        raise _not_simulated_value("nl.ndarray", "address", address)
    return _impl.ndarray(shape, dtype, buffer=_buffer("nl.ndarray", buffer), name=name)


@_exact
def zeros(shape: Any, dtype: Any, buffer: Any = MemoryRegion.SBUF, name: str = "") -> Any:
    """A zero-filled tensor."""
    return _impl.zeros(shape, dtype, buffer=_buffer("nl.zeros", buffer), name=name)


@_exact
def ones(shape: Any, dtype: Any, buffer: Any = MemoryRegion.SBUF, name: str = "") -> Any:
    """A tensor of ones."""
    return _impl.ones(shape, dtype, buffer=_buffer("nl.ones", buffer), name=name)


@_exact
def full(shape: Any, fill_value: Any, dtype: Any, buffer: Any = MemoryRegion.SBUF, name: str = "") -> Any:
    """A tensor filled with ``fill_value``."""
    return _impl.full(shape, fill_value, dtype, buffer=_buffer("nl.full", buffer), name=name)


@_exact
def rand(shape: Any, dtype: Any, buffer: Any = MemoryRegion.SBUF, name: str = "") -> Any:
    """Uniform [0, 1) random values (statistical fidelity only)."""
    return _impl.new_rand(shape, dtype, _buffer("nl.rand", buffer), name)


@_exact
def zeros_like(x: Any, dtype: Any = None, buffer: Any = None, name: str = "") -> Any:
    """Zeros shaped like ``x``."""
    return _impl.zeros_like(x, dtype, buffer=_buffer("nl.zeros_like", buffer), name=name)


@_exact
def empty_like(x: Any, dtype: Any = None, buffer: Any = None, name: str = "") -> Any:
    """An uninitialised tensor shaped like ``x``."""
    return _impl.empty_like(x, dtype, buffer=_buffer("nl.empty_like", buffer), name=name)


@_exact
def shared_constant(constant: Any) -> Any:
    """A constant array (or ``.npy`` file) placed in shared HBM."""
    return _impl.shared_constant(constant)


@_exact
def shared_identity_matrix(n: int, dtype: Any = _DT["uint8"], dst: Any = None) -> Any:
    """An ``n x n`` identity matrix in HBM (writing it into a given ``dst`` is not simulated)."""
    if dst is not None:
        raise _not_simulated_value("nl.shared_identity_matrix", "dst", dst)
    return _impl.shared_identity_matrix(n, dtype)


@_exact
def broadcast_to(x: Any, shape: Any, dtype: Any = None) -> Any:
    """``x`` broadcast to ``shape`` (same rank); a converted copy when ``dtype`` differs."""
    return _impl.broadcast_as(x, shape, dtype)


@_exact
def gather_flattened(data: Any, indices: Any, axis: int = 0, dtype: Any = None) -> Any:
    """``out[p, j...] = data[p].flatten()[indices[p, j...]]`` (``axis`` other than 0 not simulated)."""
    return _impl.gather_along(data, indices, axis, dtype, None)


@_exact
def device_print(print_prefix: Any, tensor: Any) -> None:
    """Print a tensor's values from inside the kernel (value mode only)."""
    _impl.device_print(print_prefix, tensor)


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


@_exact
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

#: functions that make one new tile with at most one instruction: timing-only templates
#: (trnsim.nki.templates), as in the legacy module
_TEMPLATED = {name for name, fn in list(globals().items()) if getattr(fn, "_templated", False)}
_guard_module(globals(), "nl", _TEMPLATED)
