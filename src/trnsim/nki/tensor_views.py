"""The current API's NkiTensor view methods (nki-api.md §3.3): ``permute``, ``slice``, ``select``,
``broadcast``, ``expand_dim``, ``squeeze_dim``, ``reshape_dim``, ``flatten_dims``,
``is_contiguous``. Each is a new (shape, strides, offset) over the same storage — no copy; dim 0
of an on-chip tensor is its partition dim and stays in place."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from trnsim.nki import runtime

if TYPE_CHECKING:
    from trnsim.nki.tensor import Tensor


def _fail(method: str, rule: str, err_id: str = "unsupported_view") -> NoReturn:
    runtime.current().fail(f"tensor.{method}", rule, err_id)


def _dim(t: Tensor, method: str, dim: Any, extra: int = 0) -> int:
    """``dim`` normalised (negative counts from the end); the partition dim is refused on chip."""
    n = t.ndim + extra
    d = int(dim)
    if not -n <= d < n:
        _fail(method, f"dim {d} is out of range for {t.ndim}-D shape {t.shape} (valid: {-n}..{n - 1})")
    d %= n
    if d == 0 and t.on_chip:
        _fail(method, f"dim 0 of an on-chip tensor is the partition dim and stays fixed ({t.shape})")
    return d


def _flat(t: Tensor, fn: Any) -> dict[str, Any]:
    """Apply ``fn`` to the index-array form of a gathered view as well (flat/oob arrays)."""
    kw: dict[str, Any] = {}
    if t.flat is not None:
        kw["flat"] = fn(t.flat)
        if t.oob is not None:
            kw["oob"] = fn(t.oob)
    return kw


def permute(t: Tensor, dims: Any) -> Tensor:
    """Reorder the dims (``dims[0]`` must stay 0 on chip)."""
    order = tuple(int(d) % t.ndim for d in dims)
    if sorted(order) != list(range(t.ndim)):
        _fail("permute", f"dims {tuple(dims)} is not a permutation of {t.ndim} dims")
    if t.on_chip and order[0] != 0:
        _fail("permute", f"dim 0 of an on-chip tensor is the partition dim and stays fixed (dims {order})")
    return t._replace(
        shape=tuple(t.shape[d] for d in order),
        strides=tuple(t.strides[d] for d in order),
        **_flat(t, lambda a: np.transpose(a, order)),
    )


def slice_dim(t: Tensor, dim: Any, start: int, end: int, step: int = 1) -> Tensor:
    """``t`` with dim ``dim`` sliced ``start:end:step`` (the dim keeps its place)."""
    d = int(dim) % t.ndim
    key: list[Any] = [slice(None)] * t.ndim
    key[d] = slice(start, end, step)
    return t[tuple(key)]


def select(t: Tensor, dim: Any, index: Any) -> Tensor:
    """``t`` at ``index`` along ``dim``, which is removed (static ints only)."""
    if not isinstance(index, (int, np.integer)):
        from trnsim.nki.guard import not_simulated

        raise not_simulated("tensor.select with a dynamic (tensor or register) index")
    d = _dim(t, "select", dim)
    i = int(index) % t.shape[d] if -t.shape[d] <= int(index) < t.shape[d] else None
    if i is None:
        _fail(
            "select",
            f"index {index} is out of bounds for dim {d} of size {t.shape[d]}",
            "tensor_access_out_of_bound",
        )
    return t._replace(
        shape=t.shape[:d] + t.shape[d + 1 :],
        strides=t.strides[:d] + t.strides[d + 1 :],
        offset=t.offset + i * t.strides[d],
        **_flat(t, lambda a: np.take(a, i, axis=d)),
    )


def broadcast(t: Tensor, dim: Any, size: int) -> Tensor:
    """A size-1 ``dim`` repeated ``size`` times (stride 0)."""
    d = _dim(t, "broadcast", dim)
    if t.shape[d] != 1:
        _fail("broadcast", f"dim {d} has size {t.shape[d]}; only a size-1 dim broadcasts")
    return t.broadcast_to((*t.shape[:d], int(size), *t.shape[d + 1 :]))


def squeeze_dim(t: Tensor, dim: Any) -> Tensor:
    """Remove a size-1 ``dim``."""
    d = _dim(t, "squeeze_dim", dim)
    if t.shape[d] != 1:
        _fail("squeeze_dim", f"dim {d} has size {t.shape[d]}; only a size-1 dim can be squeezed")
    return t._replace(
        shape=t.shape[:d] + t.shape[d + 1 :],
        strides=t.strides[:d] + t.strides[d + 1 :],
        **_flat(t, lambda a: np.squeeze(a, axis=d)),
    )


def reshape_dim(t: Tensor, dim: Any, shape: Any) -> Tensor:
    """Split ``dim`` into ``shape`` (one -1 allowed): strides follow the dim's own stride."""
    d = _dim(t, "reshape_dim", dim)
    sizes = [int(s) for s in shape]
    if sizes.count(-1) == 1:
        known = math.prod(s for s in sizes if s != -1) or 1
        sizes = [t.shape[d] // known if s == -1 else s for s in sizes]
    if math.prod(sizes) != t.shape[d]:
        _fail(
            "reshape_dim",
            f"cannot split dim {d} of size {t.shape[d]} into {tuple(sizes)}",
            "reshape_size_mismatch",
        )
    sub = [t.strides[d] * math.prod(sizes[k + 1 :]) for k in range(len(sizes))]
    new_shape = t.shape[:d] + tuple(sizes) + t.shape[d + 1 :]
    return t._replace(
        shape=new_shape,
        strides=t.strides[:d] + tuple(sub) + t.strides[d + 1 :],
        **_flat(t, lambda a: a.reshape(new_shape)),
    )


def flatten_dims(t: Tensor, start: Any, end: Any) -> Tensor:
    """Merge dims ``start..end`` (inclusive) into one; they must be contiguous in the view."""
    s = _dim(t, "flatten_dims", start)
    e = int(end) % t.ndim
    if e < s:
        _fail("flatten_dims", f"end dim {e} is before start dim {s}")
    for k in range(s, e):
        if t.shape[k + 1] != 1 and t.shape[k] != 1 and t.strides[k] != t.strides[k + 1] * t.shape[k + 1]:
            _fail("flatten_dims", f"dims {s}..{e} of this view {t.shape} are not contiguous")
    merged = math.prod(t.shape[s : e + 1])
    new_shape = (*t.shape[:s], merged, *t.shape[e + 1 :])
    return t._replace(
        shape=new_shape,
        strides=(*t.strides[:s], t.strides[e], *t.strides[e + 1 :]),
        **_flat(t, lambda a: a.reshape(new_shape)),
    )


def is_contiguous(t: Tensor) -> bool:
    """True when the view's elements are consecutive in storage (free dims, on chip)."""
    shape, strides = (t.shape[1:], t.strides[1:]) if t.on_chip else (t.shape, t.strides)
    expected = 1
    for n, s in zip(reversed(shape), reversed(strides), strict=True):
        if n != 1 and s != expected:
            return False
        expected *= n
    return t.flat is None


def _groups(pattern: str) -> list[list[str]]:
    """``"p (a b) c"`` -> ``[["p"], ["a", "b"], ["c"]]``."""
    groups: list[list[str]] = []
    current: list[str] | None = None
    for token in pattern.replace("(", " ( ").replace(")", " ) ").split():
        if token == "(":
            if current is not None:
                _fail("rearrange", f"nested parentheses in {pattern!r}")
            current = []
        elif token == ")":
            if current is None:
                _fail("rearrange", f"unbalanced parentheses in {pattern!r}")
            groups.append(current)
            current = None
        elif current is not None:
            current.append(token)
        else:
            groups.append([token])
    if current is not None:
        _fail("rearrange", f"unbalanced parentheses in {pattern!r}")
    return groups


def rearrange(t: Tensor, src_pattern: str, dst_pattern: str, fixed_sizes: Any = None) -> Tensor:
    """An einops-style view: split the ``src_pattern`` groups (sizes from ``fixed_sizes``, one
    inferred per group), reorder the axes, merge the ``dst_pattern`` groups (which must then be
    contiguous in the view)."""
    src, dst = _groups(src_pattern), _groups(dst_pattern)
    sizes = dict(fixed_sizes or {})
    if len(src) != t.ndim:
        _fail("rearrange", f"{src_pattern!r} names {len(src)} dims; the tensor has {t.ndim} {t.shape}")
    names = [n for g in src for n in g]
    if sorted(names) != sorted(n for g in dst for n in g) or len(set(names)) != len(names):
        _fail("rearrange", f"{src_pattern!r} and {dst_pattern!r} must name the same axes once each")
    view = t
    dim = 0
    for g in src:
        if len(g) > 1:
            known = [sizes.get(a) for a in g]
            if known.count(None) > 1:
                _fail(
                    "rearrange", f"group ({' '.join(g)}) needs the sizes of all but one axis in fixed_sizes"
                )
            view = reshape_dim(view, dim, [-1 if k is None else int(k) for k in known])
        dim += len(g)
    order = [names.index(n) for g in dst for n in g]
    if order != list(range(len(order))):
        view = permute(view, order)
    for d, g in enumerate(dst):
        if len(g) > 1:
            view = flatten_dims(view, d, d + len(g) - 1)
    return view
