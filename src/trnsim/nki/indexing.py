"""Legacy NKI index expressions: ``nl.arange``, ``nl.mgrid``, ``nl.ds`` and masks.

An :class:`IndexExpr` is an affine function ``const + sum(coef[a] * i_a)`` over a grid of axes
``i_a in [0, size[a])``. Kept symbolic, ``t[i_p, i_f]`` becomes a strided view without building
index arrays (fast in timing-only mode); non-affine operations (``//``, ``%``) fall back to
concrete integer arrays. Comparisons give a :class:`MaskExpr` (evaluated lazily to a bool array).
"""

from __future__ import annotations

from typing import Any, NoReturn

import numpy as np

from trnsim.nki import runtime


class IndexExpr:
    """An affine (or, after a non-affine op, concrete) integer index over a broadcast grid."""

    __slots__ = ("_values", "coefs", "const", "sizes")

    def __init__(
        self, const: int, coefs: tuple[int, ...], sizes: tuple[int, ...], values: np.ndarray | None = None
    ) -> None:
        self.const = const
        self.coefs = coefs
        self.sizes = sizes
        self._values = values  # set for concrete (non-affine) expressions

    # -- construction -------------------------------------------------------------------------
    @staticmethod
    def concrete(values: np.ndarray) -> IndexExpr:
        """An index given by explicit integer values."""
        values = np.asarray(values, dtype=np.int64)
        return IndexExpr(0, (0,) * values.ndim, tuple(values.shape), values)

    @property
    def is_affine(self) -> bool:
        """True when the expression is still symbolic (affine in the grid axes)."""
        return self._values is None

    @property
    def ndim(self) -> int:
        """Rank of the grid."""
        return len(self.sizes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the grid (1 on broadcast axes)."""
        return self.sizes

    def values(self) -> np.ndarray:
        """The index values as an int64 array of the grid's shape."""
        if self._values is not None:
            return self._values
        out = np.full(self.sizes, self.const, dtype=np.int64)
        for axis, (coef, size) in enumerate(zip(self.coefs, self.sizes, strict=True)):
            if coef and size > 1:
                shape = [1] * self.ndim
                shape[axis] = size
                out = out + coef * np.arange(size, dtype=np.int64).reshape(shape)
        return out

    def bounds(self) -> tuple[int, int]:
        """Minimum and maximum value over the grid."""
        if self._values is not None:
            if self._values.size == 0:
                return 0, 0
            return int(self._values.min()), int(self._values.max())
        lo = hi = self.const
        for coef, size in zip(self.coefs, self.sizes, strict=True):
            span = coef * (size - 1)
            lo += min(0, span)
            hi += max(0, span)
        return lo, hi

    # -- lifting: arange(n)[:, None] ----------------------------------------------------------
    def __getitem__(self, key: Any) -> IndexExpr:
        if not isinstance(key, tuple):
            key = (key,)
        coefs: list[int] = []
        sizes: list[int] = []
        src = 0
        for item in key:
            if item is None:
                coefs.append(0)
                sizes.append(1)
            elif isinstance(item, slice) and item == slice(None):
                coefs.append(self.coefs[src])
                sizes.append(self.sizes[src])
                src += 1
            else:
                raise IndexError("an index expression can only be lifted with ':' and None")
        if src != self.ndim:
            raise IndexError(f"lifting a {self.ndim}-D index expression needs {self.ndim} ':' entries")
        values = None
        if self._values is not None:
            values = self._values[key]
        return IndexExpr(self.const, tuple(coefs), tuple(sizes), values)

    # -- arithmetic --------------------------------------------------------------------------
    def _combine(self, other: Any, sign: int) -> IndexExpr:
        if isinstance(other, (int, np.integer)):
            if self._values is not None:
                return IndexExpr.concrete(self._values + sign * int(other))
            return IndexExpr(self.const + sign * int(other), self.coefs, self.sizes)
        if isinstance(other, IndexExpr):
            ndim = max(self.ndim, other.ndim)
            a, b = self._padded(ndim), other._padded(ndim)
            if a._values is not None or b._values is not None:
                return IndexExpr.concrete(a.values() + sign * b.values())
            sizes = []
            for sa, sb in zip(a.sizes, b.sizes, strict=True):
                if sa != sb and 1 not in (sa, sb):
                    raise IndexError(f"index expressions of shapes {a.sizes} and {b.sizes} do not broadcast")
                sizes.append(max(sa, sb))
            coefs = tuple(ca + sign * cb for ca, cb in zip(a.coefs, b.coefs, strict=True))
            return IndexExpr(a.const + sign * b.const, coefs, tuple(sizes))
        return NotImplemented

    def _padded(self, ndim: int) -> IndexExpr:
        pad = ndim - self.ndim
        if pad == 0:
            return self
        values = None if self._values is None else self._values.reshape((1,) * pad + self._values.shape)
        return IndexExpr(self.const, (0,) * pad + self.coefs, (1,) * pad + self.sizes, values)

    def __add__(self, other: Any) -> IndexExpr:
        return self._combine(other, 1)

    __radd__ = __add__

    def __sub__(self, other: Any) -> IndexExpr:
        return self._combine(other, -1)

    def __rsub__(self, other: Any) -> IndexExpr:
        return (self * -1)._combine(other, 1)

    def __neg__(self) -> IndexExpr:
        return self * -1

    def __mul__(self, other: Any) -> IndexExpr:
        if isinstance(other, (int, np.integer)):
            k = int(other)
            if self._values is not None:
                return IndexExpr.concrete(self._values * k)
            return IndexExpr(self.const * k, tuple(c * k for c in self.coefs), self.sizes)
        if isinstance(other, IndexExpr):
            return IndexExpr.concrete(self.values() * other.values())
        return NotImplemented

    __rmul__ = __mul__

    def __floordiv__(self, other: Any) -> IndexExpr:
        return IndexExpr.concrete(self.values() // _vals(other))

    def __rfloordiv__(self, other: Any) -> IndexExpr:
        return IndexExpr.concrete(_vals(other) // self.values())

    def __mod__(self, other: Any) -> IndexExpr:
        return IndexExpr.concrete(self.values() % _vals(other))

    def __rmod__(self, other: Any) -> IndexExpr:
        return IndexExpr.concrete(_vals(other) % self.values())

    # -- comparisons give masks ----------------------------------------------------------------
    def __lt__(self, other: Any) -> MaskExpr:
        return MaskExpr(lambda: self.values() < _vals(other))

    def __le__(self, other: Any) -> MaskExpr:
        return MaskExpr(lambda: self.values() <= _vals(other))

    def __gt__(self, other: Any) -> MaskExpr:
        return MaskExpr(lambda: self.values() > _vals(other))

    def __ge__(self, other: Any) -> MaskExpr:
        return MaskExpr(lambda: self.values() >= _vals(other))

    def __eq__(self, other: Any) -> MaskExpr:  # type: ignore[override]
        return MaskExpr(lambda: self.values() == _vals(other))

    def __ne__(self, other: Any) -> MaskExpr:  # type: ignore[override]
        return MaskExpr(lambda: self.values() != _vals(other))

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return _no_truth_value("an nl.arange/mgrid index expression")

    def __setitem__(self, key: Any, value: Any) -> None:
        # nki-semantics §6: index and mask tensors cannot be assigned
        runtime.current("index assignment").fail(
            "index assignment",
            "an nl.arange/mgrid index cannot be assigned to (build a new index expression instead)",
            "cannot_assign_to_index",
        )

    def __repr__(self) -> str:
        return f"IndexExpr(const={self.const}, coefs={self.coefs}, sizes={self.sizes})"


def _vals(x: Any) -> Any:
    return x.values() if isinstance(x, IndexExpr) else x


def _no_truth_value(what: str) -> NoReturn:
    """nki-semantics §6: Python control flow on arange/mgrid values is the compiler's error."""
    runtime.current("bool()").fail(
        "bool()",
        f"{what} has no value at trace time, so Python if/and/or/not cannot use it"
        " (use mask=, joining conditions with '&')",
        "control_flow_condition_depending_on_arange",
    )


class MaskExpr:
    """A predicate over an index grid (comparisons of index expressions joined by ``&``)."""

    __slots__ = ("_cache", "_fn")

    def __init__(self, fn: Any) -> None:
        self._fn = fn
        self._cache: np.ndarray | None = None

    def values(self) -> np.ndarray:
        """The predicate as a bool array."""
        if self._cache is None:
            self._cache = np.asarray(self._fn(), dtype=bool)
        return self._cache

    def __and__(self, other: Any) -> MaskExpr:
        return MaskExpr(lambda: self.values() & _mask_vals(other))

    __rand__ = __and__

    # nki-semantics §9 / nki-api §1.4: a mask joins comparisons only with '&'
    def __or__(self, other: Any) -> MaskExpr:
        return _unsupported_in_mask("'|'", "rewrite as one comparison, or split the instruction in two")

    __ror__ = __or__

    def __invert__(self) -> MaskExpr:
        return _unsupported_in_mask("'~'", "compare the other way instead, e.g. i >= n for ~(i < n)")

    def __bool__(self) -> bool:
        return _no_truth_value("a comparison of nl.arange/mgrid indices")


def _unsupported_in_mask(op: str, fix: str) -> NoReturn:
    runtime.current("mask").fail(
        "mask",
        f"a mask joins comparisons of nl.arange/mgrid expressions only with '&', not {op} ({fix})",
        "unsupported_expression_in_mask",
    )


def _mask_vals(x: Any) -> Any:
    return x.values() if isinstance(x, MaskExpr) else bool(x)


def arange(*args: int) -> IndexExpr:
    """``nl.arange(stop)`` / ``nl.arange(start, stop[, step])``: a 1-D index to lift with ``[:, None]``."""
    what = "each bound of nl.arange([start,] stop[, step])"
    r = range(*[runtime.integer_argument("nl.arange", what, a) for a in args])
    return IndexExpr(r.start, (r.step,), (len(r),))


class _MGrid:
    """``nl.mgrid[0:P, 0:F]``: dense index grids, unpackable or via ``.p``/``.x``/``.y``."""

    def __getitem__(self, key: Any) -> MGridResult:
        if not isinstance(key, tuple):
            key = (key,)
        ranges = []
        for k in key:
            if not isinstance(k, slice):
                raise IndexError("nl.mgrid takes slices: nl.mgrid[0:128, 0:512]")
            ranges.append(range(k.start or 0, k.stop, k.step or 1))
        ndim = len(ranges)
        sizes = tuple(len(r) for r in ranges)
        exprs = []
        for axis, r in enumerate(ranges):
            coefs = tuple(r.step if a == axis else 0 for a in range(ndim))
            exprs.append(IndexExpr(r.start, coefs, sizes))
        return MGridResult(exprs)


class MGridResult(tuple):
    """The tuple of index expressions ``nl.mgrid`` returns, with ``.p``, ``.x``, ``.y``, ``.z`` (axes 0-3)."""

    @property
    def p(self) -> IndexExpr:
        return self[0]

    @property
    def x(self) -> IndexExpr:
        return self[1]

    @property
    def y(self) -> IndexExpr:
        return self[2]

    @property
    def z(self) -> IndexExpr:
        return self[3]


mgrid = _MGrid()


def ds(start: Any, size: int) -> slice:
    """``nl.ds(start, size)`` = ``start:start+size``."""
    return slice(start, start + size)
