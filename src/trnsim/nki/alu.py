"""ALU operators and activation functions, as numpy functions on fp32 (or integer) arrays.

NKI names an operator by a function object (``nl.add``, ``np.add``, ``nl.exp``...) or, in the
current API, by a name. :func:`op_name` maps any of them to one canonical name; the tables map
names to numpy implementations. Engines compute in fp32 (spec §1.7); integer inputs with integer
operators stay integral (bit-exact bitvec ops, GpSimd integer math).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

_NUMPY_NAMES: dict[Any, str] = {
    np.add: "add",
    np.subtract: "subtract",
    np.multiply: "multiply",
    np.divide: "divide",
    np.true_divide: "divide",
    np.maximum: "maximum",
    np.minimum: "minimum",
    np.power: "power",
    np.equal: "equal",
    np.not_equal: "not_equal",
    np.greater: "greater",
    np.greater_equal: "greater_equal",
    np.less: "less",
    np.less_equal: "less_equal",
    np.logical_and: "logical_and",
    np.logical_or: "logical_or",
    np.logical_xor: "logical_xor",
    np.logical_not: "logical_not",
    np.bitwise_and: "bitwise_and",
    np.bitwise_or: "bitwise_or",
    np.bitwise_xor: "bitwise_xor",
    np.invert: "invert",
    np.left_shift: "left_shift",
    np.right_shift: "right_shift",
    np.abs: "abs",
    np.exp: "exp",
    np.log: "log",
    np.tanh: "tanh",
    np.sqrt: "sqrt",
    np.square: "square",
    np.sin: "sin",
    np.cos: "cos",
    np.arctan: "arctan",
    np.sign: "sign",
    np.reciprocal: "reciprocal",
    np.negative: "negative",
    np.mod: "mod",
    np.fmod: "fmod",
    np.amax: "maximum",
    np.amin: "minimum",
    np.max: "maximum",
    np.min: "minimum",
    np.sum: "add",
    np.prod: "multiply",
}


def op_name(op: Any) -> str | None:
    """Canonical name of an operator given as nl/np function or string; None if unknown."""
    if op is None:
        return None
    if isinstance(op, str):
        return op
    name = getattr(op, "_nki_op", None)
    if name is not None:
        return str(name)
    try:
        return _NUMPY_NAMES.get(op)
    except TypeError:
        return None


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below fp32 resolution near 1)
    sign = np.sign(x)
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))).astype(np.float32)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    c = np.float32(math.sqrt(2.0 / math.pi))
    return (0.5 * x * (1.0 + np.tanh(c * (x + np.float32(0.044715) * x**3)))).astype(np.float32)


def _gelu_dx(x: np.ndarray) -> np.ndarray:
    pdf = np.exp(-0.5 * x * x) / np.float32(math.sqrt(2.0 * math.pi))
    return (0.5 * (1.0 + _erf(x / np.float32(math.sqrt(2.0)))) + x * pdf).astype(np.float32)


def _silu_dx(x: np.ndarray) -> np.ndarray:
    s = _sigmoid(x)
    return (s * (1.0 + x * (1.0 - s))).astype(np.float32)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.float32(0.0), x).astype(np.float32)


def _with_errstate(fn: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], np.ndarray]:
    def wrapped(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(fn(x), dtype=np.float32)

    return wrapped


#: Activation functions (ScalarE): fp32 in, fp32 out.
_ACTIVATION_FNS: dict[str, Callable[[np.ndarray], Any]] = {
    "copy": lambda x: x,
    "identity": lambda x: x,
    "bypass": lambda x: x,
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "reciprocal": lambda x: 1.0 / x,
    "square": np.square,
    "abs": np.abs,
    "sign": np.sign,
    "negative": np.negative,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arctan": np.arctan,
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0),
    "gelu": _gelu,
    "gelu_dx": _gelu_dx,
    "gelu_apprx_tanh": _gelu_tanh,
    "gelu_apprx_sigmoid": lambda x: x * _sigmoid(np.float32(1.702) * x),
    "silu": lambda x: x * _sigmoid(x),
    "silu_dx": _silu_dx,
    "erf": _erf,
    "erf_dx": lambda x: np.float32(2.0 / math.sqrt(math.pi)) * np.exp(-x * x),
    "softplus": _softplus,
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "floor": np.floor,
    "ceil": np.ceil,
    "trunc": np.trunc,
}
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    name: _with_errstate(fn) for name, fn in _ACTIVATION_FNS.items()
}


def _logical(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda a, b: fn(a != 0, b != 0)


def _shift_right(a: Any, b: Any) -> Any:
    # logical right shift (NKI has no arithmetic right shift)
    a = np.asarray(a)
    if a.dtype.kind == "i":
        unsigned = a.astype(np.int64) & 0xFFFFFFFF
        return unsigned >> np.asarray(b, dtype=np.int64)
    return np.right_shift(a, b)


#: Binary ALU operators on numpy arrays (fp32 or integer).
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "max": np.maximum,
    "min": np.minimum,
    "power": np.power,
    "mod": np.mod,
    "fmod": np.fmod,
    "equal": np.equal,
    "not_equal": np.not_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "logical_and": _logical(np.logical_and),
    "logical_or": _logical(np.logical_or),
    "logical_xor": _logical(np.logical_xor),
    "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
    "left_shift": np.left_shift,
    "right_shift": _shift_right,
    "abs_max": lambda a, b: np.where(np.abs(a) > np.abs(b), a, b),
    "abs_min": lambda a, b: np.where(np.abs(a) < np.abs(b), a, b),
    "rsqrt": lambda a, b: 1.0 / np.sqrt(a),
    "reciprocal": lambda a, b: 1.0 / a,
    "abs": lambda a, b: np.abs(a),
    "bypass": lambda a, b: a,
}
BITVEC = {"bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift", "invert"}
COMPARISONS = {
    "equal",
    "not_equal",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "logical_and",
    "logical_or",
    "logical_xor",
}

#: Reductions along free axes: name -> numpy reduction(array, axis, keepdims)
REDUCE: dict[str, Callable[..., Any]] = {
    "add": np.sum,
    "subtract": np.sum,
    "multiply": np.prod,
    "maximum": np.max,
    "minimum": np.min,
    "max": np.max,
    "min": np.min,
    "mean": np.mean,
    "var": np.var,  # population variance (ddof 0), as nl.var
    "bitwise_and": np.bitwise_and.reduce,
    "bitwise_or": np.bitwise_or.reduce,
    "bitwise_xor": np.bitwise_xor.reduce,
    "logical_and": np.all,
    "logical_or": np.any,
}
