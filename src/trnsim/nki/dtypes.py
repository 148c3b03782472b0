"""NKI data types as real numpy dtypes (ml_dtypes for bf16/fp8), and NKI's promotion rules.

NKI's ``float8_e4m3`` is ml_dtypes ``float8_e4m3`` (IEEE-style with inf, max 240), not
``float8_e4m3fn`` (max 448), which NKI 0.2+ names separately.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

bool_ = np.bool_
int8 = np.int8
int16 = np.int16
int32 = np.int32
uint8 = np.uint8
uint16 = np.uint16
uint32 = np.uint32
float16 = np.float16
float32 = np.float32
bfloat16 = ml_dtypes.bfloat16
float8_e4m3 = ml_dtypes.float8_e4m3
float8_e5m2 = ml_dtypes.float8_e5m2
float8_e4m3fn = ml_dtypes.float8_e4m3fn
float8_e8m0fnu = ml_dtypes.float8_e8m0fnu
#: tf32 values are kept in fp32 storage (NKI's legacy tfloat32 is a 4-byte placeholder too).
tfloat32 = np.float32
#: Packed x4 types: four narrow values in one 32-bit (fp8) or 16-bit (fp4) storage element.
float8_e4m3fn_x4 = np.dtype([("float8_e4m3fn_x4", np.uint32)])
float8_e5m2_x4 = np.dtype([("float8_e5m2_x4", np.uint32)])
float4_e2m1fn_x4 = np.dtype([("float4_e2m1fn_x4", np.uint16)])

_BY_NAME: dict[str, np.dtype[Any]] = {
    "bool": np.dtype(np.bool_),
    "bool_": np.dtype(np.bool_),
    "int8": np.dtype(np.int8),
    "int16": np.dtype(np.int16),
    "int32": np.dtype(np.int32),
    "uint8": np.dtype(np.uint8),
    "uint16": np.dtype(np.uint16),
    "uint32": np.dtype(np.uint32),
    "float16": np.dtype(np.float16),
    "float32": np.dtype(np.float32),
    "tfloat32": np.dtype(np.float32),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float8_e4m3": np.dtype(ml_dtypes.float8_e4m3),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e8m0fnu": np.dtype(ml_dtypes.float8_e8m0fnu),
    "float8_e4m3fn_x4": float8_e4m3fn_x4,
    "float8_e5m2_x4": float8_e5m2_x4,
    "float4_e2m1fn_x4": float4_e2m1fn_x4,
}
_SUPPORTED = set(_BY_NAME.values())
_FLOAT_NAMES = {
    "float16",
    "float32",
    "bfloat16",
    "float8_e4m3",
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e8m0fnu",
}


class DtypeError(ValueError):
    """A value that is not one of NKI's dtypes (the runtime turns it into a KernelError)."""


def as_dtype(value: Any) -> np.dtype[Any]:
    """Normalise an NKI dtype given as a numpy type, dtype, ml_dtypes type or name."""
    if isinstance(value, np.dtype) and value in _SUPPORTED:
        return value
    if isinstance(value, str):
        dt = _BY_NAME.get(value)
        if dt is None:
            raise DtypeError(f"unknown dtype '{value}' (valid: {', '.join(sorted(_BY_NAME))})")
        return dt
    try:
        dt = np.dtype(value)
    except TypeError:
        raise DtypeError(f"{value!r} is not a dtype (valid: {', '.join(sorted(_BY_NAME))})") from None
    if dt not in _SUPPORTED:
        raise DtypeError(f"dtype {dt} is not an NKI dtype (valid: {', '.join(sorted(_BY_NAME))})")
    return dt


_NAME_CACHE: dict[np.dtype[Any], str] = {}


def dtype_name(dt: np.dtype[Any]) -> str:
    """The NKI name of a dtype (``bfloat16``, ``float8_e4m3``...)."""
    name = _NAME_CACHE.get(dt)
    if name is None:
        bool_name = "bool" if dt == np.dtype(np.bool_) else str(dt.name)
        name = dt.names[0] if dt.names else bool_name
        _NAME_CACHE[dt] = name
    return name


def is_float(dt: np.dtype[Any]) -> bool:
    """True for floating-point dtypes (fp32, fp16, bf16, fp8)."""
    return dtype_name(dt) in _FLOAT_NAMES


def is_int(dt: np.dtype[Any]) -> bool:
    """True for integer and bool dtypes."""
    return dt.kind in "iub"


def promote(a: np.dtype[Any], b: np.dtype[Any]) -> np.dtype[Any]:
    """NKI's promotion for arithmetic ops (spec §1.7).

    float+int -> the float; two floats -> the wider, or fp32 for fp16+bf16, bf16 for e4m3+e5m2,
    fp16/bf16 for fp8 with fp16/bf16; two ints -> the wider, or the next wider signed one,
    fp32 for int32+uint32.
    """
    if a == b:
        return a
    fa, fb = is_float(a), is_float(b)
    if fa and not fb:
        return a
    if fb and not fa:
        return b
    if fa and fb:
        pair = {dtype_name(a), dtype_name(b)}
        if pair == {"float16", "bfloat16"}:
            return np.dtype(np.float32)
        if pair <= {"float8_e4m3", "float8_e5m2", "float8_e4m3fn"}:
            return np.dtype(ml_dtypes.bfloat16)
        return a if a.itemsize >= b.itemsize else b
    # two ints
    if a.kind == b.kind or a == np.dtype(np.bool_) or b == np.dtype(np.bool_):
        return a if a.itemsize >= b.itemsize else b
    signed, unsigned = (a, b) if a.kind == "i" else (b, a)
    if signed.itemsize > unsigned.itemsize:
        return signed
    if unsigned.itemsize == 4:
        return np.dtype(np.float32)
    return np.dtype(f"int{unsigned.itemsize * 16}")


def scalar_dtype(value: Any) -> np.dtype[Any]:
    """Dtype of an untyped Python scalar: bool->uint8, int->int32, float->fp32; numpy keeps its own."""
    if isinstance(value, np.generic):
        return as_dtype(value.dtype)
    if isinstance(value, bool):
        return np.dtype(np.uint8)
    if isinstance(value, int):
        return np.dtype(np.int32)
    return np.dtype(np.float32)


class DType(str):
    """A current-API (NKI 0.2+) dtype: a string constant (``'bfloat16'``), as ``nki.language``'s
    ``DType = str`` (nki-semantics §7), that numpy also accepts as a dtype.

    ``str(nl.bfloat16) == 'bfloat16'`` (size helpers parse it), ``t.dtype == nl.bfloat16`` holds,
    ``np.zeros(n, dtype=nl.bfloat16)`` and ``nl.float32(1.0)`` work as with numpy types.
    """

    dtype: np.dtype[Any]

    def __new__(cls, name: str) -> DType:
        self = super().__new__(cls, name)
        self.dtype = _BY_NAME[name]
        return self

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return int(self.dtype.itemsize)

    def __call__(self, value: Any) -> Any:
        """A scalar of this dtype (as calling a numpy scalar type does)."""
        return self.dtype.type(value)


#: the current front end's dtype constants, by name
CURRENT_DTYPES = {name: DType(name) for name in _BY_NAME if name not in ("bool",)}
