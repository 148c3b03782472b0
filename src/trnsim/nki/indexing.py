"""Legacy NKI index expressions: ``nl.arange``, ``nl.mgrid``, ``nl.ds`` and masks.

An :class:`IndexExpr` is an affine function ``const + sum(coef[a] * i_a)`` over a grid of axes
``i_a in [0, size[a])``. Kept symbolic, ``t[i_p, i_f]`` becomes a strided view without building
index arrays (fast in timing-only mode); non-affine operations (``//``, ``%``) fall back to
concrete integer arrays. Comparisons give a :class:`MaskExpr` (evaluated lazily to a bool array).

Each ``nl.arange`` call and each ``nl.mgrid`` axis is an index *variable* with its own id; an
expression records, per grid axis, the variable it varies with (``ids``), and a mask keeps its
comparisons (``atoms``). A matmul needs both: a mask over its contraction variable restricts the
rows summed, not the result's partitions (nki-api.md §1.4).
"""

from __future__ import annotations

import itertools
from typing import Any, NoReturn

import numpy as np

from trnsim.nki import runtime


class IndexExpr:
    """An affine (or, after a non-affine op, concrete) integer index over a broadcast grid."""

    __slots__ = ("_values", "coefs", "const", "ids", "sizes")

    def __init__(
        self,
        const: int,
        coefs: tuple[int, ...],
        sizes: tuple[int, ...],
        values: np.ndarray | None = None,
        ids: tuple[int, ...] | None = None,
    ) -> None:
        self.const = const
        self.coefs = coefs
        self.sizes = sizes
        self._values = values  # set for concrete (non-affine) expressions
        # per grid axis: the index variable the expression varies with there (0: none, -1: several)
        self.ids = ids

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
        ids = None
        if self.ids is not None:
            it = iter(self.ids)
            ids = tuple(0 if item is None else next(it) for item in key)
        return IndexExpr(self.const, tuple(coefs), tuple(sizes), values, ids)

    # -- arithmetic --------------------------------------------------------------------------
    def _combine(self, other: Any, sign: int) -> IndexExpr:
        if isinstance(other, (int, np.integer)):
            if self._values is not None:
                return _derived(self._values + sign * int(other), self)
            return IndexExpr(self.const + sign * int(other), self.coefs, self.sizes, None, self.ids)
        if isinstance(other, IndexExpr):
            ndim = max(self.ndim, other.ndim)
            a, b = self._padded(ndim), other._padded(ndim)
            if a._values is not None or b._values is not None:
                return _derived(a.values() + sign * b.values(), a, b)
            sizes = []
            for sa, sb in zip(a.sizes, b.sizes, strict=True):
                if sa != sb and 1 not in (sa, sb):
                    raise IndexError(f"index expressions of shapes {a.sizes} and {b.sizes} do not broadcast")
                sizes.append(max(sa, sb))
            coefs = tuple(ca + sign * cb for ca, cb in zip(a.coefs, b.coefs, strict=True))
            return IndexExpr(a.const + sign * b.const, coefs, tuple(sizes), None, merged_ids(a, b))
        return NotImplemented

    def _padded(self, ndim: int) -> IndexExpr:
        pad = ndim - self.ndim
        if pad == 0:
            return self
        values = None if self._values is None else self._values.reshape((1,) * pad + self._values.shape)
        ids = None if self.ids is None else (0,) * pad + self.ids
        return IndexExpr(self.const, (0,) * pad + self.coefs, (1,) * pad + self.sizes, values, ids)

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
                return _derived(self._values * k, self)
            return IndexExpr(self.const * k, tuple(c * k for c in self.coefs), self.sizes, None, self.ids)
        if isinstance(other, IndexExpr):
            return _derived(self.values() * other.values(), self, other)
        return NotImplemented

    __rmul__ = __mul__

    def __floordiv__(self, other: Any) -> IndexExpr:
        return _derived(self.values() // _vals(other), self, other)

    def __rfloordiv__(self, other: Any) -> IndexExpr:
        return _derived(_vals(other) // self.values(), self, other)

    def __mod__(self, other: Any) -> IndexExpr:
        return _derived(self.values() % _vals(other), self, other)

    def __rmod__(self, other: Any) -> IndexExpr:
        return _derived(_vals(other) % self.values(), self, other)

    # -- comparisons give masks ----------------------------------------------------------------
    def __lt__(self, other: Any) -> MaskExpr:
        return MaskExpr(lambda: self.values() < _vals(other), ((self, np.less, other),))

    def __le__(self, other: Any) -> MaskExpr:
        return MaskExpr(lambda: self.values() <= _vals(other), ((self, np.less_equal, other),))

    def __gt__(self, other: Any) -> MaskExpr:
        return MaskExpr(lambda: self.values() > _vals(other), ((self, np.greater, other),))

    def __ge__(self, other: Any) -> MaskExpr:
        return MaskExpr(lambda: self.values() >= _vals(other), ((self, np.greater_equal, other),))

    def __eq__(self, other: Any) -> MaskExpr:  # type: ignore[override]
        return MaskExpr(lambda: self.values() == _vals(other), ((self, np.equal, other),))

    def __ne__(self, other: Any) -> MaskExpr:  # type: ignore[override]
        return MaskExpr(lambda: self.values() != _vals(other), ((self, np.not_equal, other),))

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


#: ids of index variables (one per nl.arange call and per nl.mgrid axis); 0 means "none"
_VARIABLE_IDS = itertools.count(1)


def merged_ids(*exprs: Any) -> tuple[int, ...] | None:
    """Per grid axis (NumPy broadcast: padded in front), the variable the expressions vary with."""
    known = [e.ids for e in exprs if isinstance(e, IndexExpr) and e.ids is not None]
    if not known:
        return None
    ndim = max(len(ids) for ids in known)
    out = [0] * ndim
    for ids in known:
        for axis, v in enumerate(ids, ndim - len(ids)):
            if v and out[axis] != v:
                out[axis] = v if out[axis] == 0 else -1
    return tuple(out)


def _derived(values: np.ndarray, *sources: Any) -> IndexExpr:
    """A concrete expression computed from ``sources``: it varies with their variables."""
    e = IndexExpr.concrete(values)
    ids = merged_ids(*sources)
    if ids is not None and len(ids) <= e.ndim:
        e.ids = (0,) * (e.ndim - len(ids)) + ids
    return e


def _no_truth_value(what: str) -> NoReturn:
    """nki-semantics §6: Python control flow on arange/mgrid values is the compiler's error."""
    runtime.current("bool()").fail(
        "bool()",
        f"{what} has no value at trace time, so Python if/and/or/not cannot use it"
        " (use mask=, joining conditions with '&')",
        "control_flow_condition_depending_on_arange",
    )


class MaskExpr:
    """A predicate over an index grid (comparisons of index expressions joined by ``&``).

    ``values()`` evaluates it on the grid positions of its expressions (what an element-wise
    instruction's tile sees); ``atoms`` keeps the comparisons ``(lhs, numpy op, rhs)`` (a plain
    bool joined in: ``(value, None, None)``; None when built from anything else) so an instruction
    can evaluate it per index variable.
    """

    __slots__ = ("_cache", "_fn", "atoms")

    def __init__(self, fn: Any, atoms: tuple[tuple[Any, Any, Any], ...] | None = None) -> None:
        self._fn = fn
        self._cache: np.ndarray | None = None
        self.atoms = atoms

    def values(self) -> np.ndarray:
        """The predicate as a bool array."""
        if self._cache is None:
            self._cache = np.asarray(self._fn(), dtype=bool)
        return self._cache

    def __and__(self, other: Any) -> MaskExpr:
        if isinstance(other, MaskExpr):
            more = other.atoms
        elif isinstance(other, (bool, np.bool_)):
            more = ((bool(other), None, None),)
        else:
            more = None  # not a predicate of index variables: only values() applies
        atoms = None if self.atoms is None or more is None else self.atoms + more
        return MaskExpr(lambda: self.values() & _mask_vals(other), atoms)

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
    return IndexExpr(r.start, (r.step,), (len(r),), None, (next(_VARIABLE_IDS),))


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
            ids = tuple(next(_VARIABLE_IDS) if a == axis else 0 for a in range(ndim))
            exprs.append(IndexExpr(r.start, coefs, sizes, None, ids))
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


def mask_variables(mask: Any) -> frozenset[int] | None:
    """The index variables a mask's comparisons vary with (-1 for an axis mixing several), or
    None when the mask is not a predicate of index expressions (a bool array, say)."""
    if not isinstance(mask, MaskExpr) or mask.atoms is None:
        return None
    found: set[int] = set()
    for lhs, _, rhs in mask.atoms:
        for x in (lhs, rhs):
            if isinstance(x, IndexExpr) and x.ids is not None:
                found.update(v for v, size in zip(x.ids, x.sizes, strict=False) if v and size > 1)
    return frozenset(found)


class _Unplaced(Exception):
    """An expression varies along an axis no variable of the space accounts for."""


def mask_over(mask: MaskExpr, axes: dict[int, int], shape: tuple[int, ...]) -> np.ndarray | None:
    """The mask as a bool array over an iteration space of ``shape`` (broadcastable to it), where
    variable ``v`` runs along axis ``axes[v]``; None when a comparison varies otherwise."""
    assert mask.atoms is not None
    out: Any = True
    try:
        for lhs, op, rhs in mask.atoms:
            term = lhs if op is None else op(_placed(lhs, axes, shape), _placed(rhs, axes, shape))
            out = out & term
    except _Unplaced:
        return None
    return np.asarray(out, dtype=bool)


def _placed(x: Any, axes: dict[int, int], shape: tuple[int, ...]) -> Any:
    """An index expression's values laid out along the space's axes (a scalar as is)."""
    if isinstance(x, MaskExpr):
        raise _Unplaced  # a comparison of comparisons: only values() knows it
    if not isinstance(x, IndexExpr):
        return x
    v = x.values()
    ids = x.ids if x.ids is not None and len(x.ids) == v.ndim else (0,) * v.ndim
    index: list[Any] = []
    targets: list[int] = []
    for a, size in enumerate(v.shape):
        var = ids[a]
        if size == 1:
            index.append(0)
        elif var > 0 and var in axes and shape[axes[var]] == size:
            index.append(slice(None))
            targets.append(axes[var])
        elif var == 0 and (v == np.take(v, [0], axis=a)).all():
            index.append(0)  # constant along this axis
        else:
            raise _Unplaced
    if len(set(targets)) != len(targets):
        raise _Unplaced  # one variable on two grid axes (a diagonal)
    v = v[tuple(index)].transpose(np.argsort(targets))
    placed = [1] * len(shape)
    for t in targets:
        placed[t] = shape[t]
    return v.reshape(placed)
