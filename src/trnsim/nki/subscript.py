"""Subscripts of NKI tensors: ``t[key]`` -> a view (:class:`~trnsim.nki.tensor.Tensor`).

``indexing.py`` holds what a kernel indexes *with* (``nl.arange``/``mgrid`` expressions, ``nl.ds``,
masks); this module turns a subscript into a view: plain slices on the hot path, basic indexing
(ints, slices, ``None``), and legacy advanced indexing with affine expressions (a strided view) or
non-affine / out-of-bounds / index-tile indices (explicit flat index arrays).
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from trnsim.nki import runtime
from trnsim.nki.indexing import IndexExpr, merged_ids
from trnsim.nki.tensor import Tensor, shared_shape


def _fail(instruction: str, rule: str, err_id: str) -> NoReturn:
    runtime.current().fail(instruction, rule, err_id)


_FULL = slice(None)
_new_object = object.__new__
#: the views ``block[i, :, a:b]`` and ``block[i, j, a:b, c:d]`` make, by the block's layout (shape,
#: strides, partition axis): one dict per layout, shared by every tensor laid out alike (a blocked
#: kernel makes a new block per step). It maps a subscript's values (``probe``: exact ints, or None
#: for a bound; steps None) to a number, and that number to the view's (shape, offset from the
#: block's, strides, its key parts); each tensor keeps its own views in a list by those numbers
#: (``t._views``), so a fresh block's view costs one look-up and no second key. A number never changes
#: meaning in its dict: a full one is replaced, not cleared. The key parts: the view's part of a
#: template key (:func:`trnsim.nki.templates._key_part`) by its allocation's layout number, which with
#: the view's shape and strides fixes it: a fresh block's view gets it here, not from a tuple hashed
#: and looked up when a templated call first takes it.
_LAYOUT_VIEWS: dict[tuple[Any, ...], dict[Any, Any]] = {}
#: layouts _LAYOUT_VIEWS holds at most (it starts again past it: tensors keep their layout's dict)
_MAX_LAYOUTS = 4096
#: views a layout's dict numbers at most (a new dict replaces a full one)
_MAX_VIEWS = 1024
#: the dict of a tensor whose subscripts are never kept (no unrolled path makes its views): never written
_NO_VIEWS: dict[Any, Any] = {}
#: held while a layout's dict gets a number (reading needs no lock: a number, once written, stays)
_NUMBERING = threading.Lock()


def _part(v: Tensor, parts: dict[int | None, int]) -> int | None:
    """The key part of ``v``, a fresh kept view of a tensor that is not dynamic and has no index tiles,
    when its layout's entry does not hold it for ``v``'s allocation layout (``parts``): computed (the
    allocation's layout numbered if it was not) and kept there."""
    from trnsim.nki.templates import _key_part  # (templates imports this module)

    part = _key_part(v)
    if part.__class__ is not int:  # (not plain: not kept; _key stays unset, as key_part leaves it)
        return None
    parts[v.alloc.layout] = part
    return part


def _tile_view(t: Tensor, shape: Any, offset: int, strides: Any, paxis: int) -> Tensor:
    """A plain view of ``t``'s allocation: ``Tensor(t.alloc, shape, offset, strides, paxis, None, None,
    t.dyn, t.index_tiles)`` slot by slot (no ``__init__``: a kernel's inner loop subscripts once or
    twice per instruction; the fast paths of :func:`view` all make their views here)."""
    v = _new_object(Tensor)
    v.alloc = t.alloc
    v.shape = shape
    v.offset = offset
    v.strides = strides
    v.paxis = paxis
    v.flat = None
    v.oob = None
    v.dyn = t.dyn
    v.index_tiles = t.index_tiles
    v._region = None
    v._key = None
    v._out = None
    return v


def _start_views(t: Tensor) -> dict[Any, Any]:
    """``t._kept`` (its layout's dict in :data:`_LAYOUT_VIEWS`) and ``t._views`` (empty), set at a
    tensor's first ``t[i, :, a:b]`` or ``t[i, j, a:b, c:d]``."""
    tshape = t.shape
    n = len(tshape)
    if t.flat is not None or not ((n == 3 and t.paxis == 1) or (n == 4 and t.paxis == 2)):
        t._kept = _NO_VIEWS  # (no unrolled path for it below: nothing is kept)
        t._views = []
        return _NO_VIEWS
    layout = (tshape, t.strides, t.paxis)
    kept = _LAYOUT_VIEWS.get(layout)
    if kept is None:
        if len(_LAYOUT_VIEWS) >= _MAX_LAYOUTS:
            _LAYOUT_VIEWS.clear()
        kept = _LAYOUT_VIEWS[layout] = {}
    t._kept = kept
    t._views = [None] * (len(kept) >> 1)  # (a slot for each view numbered so far)
    return kept


def _kept_view(t: Tensor, kept: dict[Any, Any], k: int) -> Tensor:
    """View number ``k`` of ``t``'s layout, made for ``t`` now (its first such subscript) and kept."""
    kshape, koffset, kstrides, parts = kept[k]
    v = _tile_view(t, kshape, t.offset + koffset, kstrides, 0)
    if not t.dyn and not t.index_tiles:
        v._key = parts.get(t.alloc.layout) or _part(v, parts)
    views = t._views
    if len(views) <= k:
        views.extend([None] * (k + 1 - len(views)))
    views[k] = v
    return v


def _keep(t: Tensor, probe: tuple[Any, ...], v: Tensor) -> None:
    """Number the view ``v`` that ``t[key]`` made (``probe``: the key's values: exact ints, or None for
    a bound; steps None) in ``t``'s layout's dict and keep it in ``t._views``: the same subscript of
    any tensor laid out alike finds it (:func:`view`; views are immutable but for what they cache,
    the same for both)."""
    try:
        kept = t._kept
    except AttributeError:  # (a key the probes in view do not cover: block[i, :] as block[i, :, :])
        kept = _start_views(t)
    if kept is _NO_VIEWS:  # (a layout none of view's kept forms covers)
        return
    with _NUMBERING:  # (launches on other threads may number views of the same layout)
        k = kept.get(probe)
        if k is None:
            if len(kept) >= 2 * _MAX_VIEWS:  # a new dict for the layout (this tensor's numbers start again)
                kept = t._kept = _LAYOUT_VIEWS[t.shape, t.strides, t.paxis] = {}
                t._views = []
            k = len(kept) >> 1
            kept[k] = (v.shape, v.offset - t.offset, v.strides, {})  # (before the probe that finds it)
            kept[probe] = k
    views = t._views
    if len(views) <= k:
        views.extend([None] * (k + 1 - len(views)))
    views[k] = v


def view(t: Tensor, key: Any) -> Any:
    """``t[key]`` (``Tensor.__getitem__``): ``t[a:b, c:d]`` with one plain slice (or in-range int) per
    dimension (the hot path of tiled kernels) here; anything else goes to ``_FALLBACK`` (here
    :func:`index_view`, which also reports errors; :func:`_fast_slices` runs this code with another).

    Two parameters: CPython 3.11 specialises ``t[key]`` into an inline frame push only for a
    ``__getitem__`` of exactly two (a third, defaulted one made every subscript a full C-level call).
    """
    if key.__class__ is tuple:
        # a view made before for the same ints and slices on this tensor, or on one laid out alike
        # (the hot paths below keep theirs by layout: _keep); the probe holds the subscript's values:
        # its int and slice bounds must be exact ints, or None for a bound, as when the view was
        # made (5.0 or True equal 5 and 1)
        given = len(key)
        if given == 3:
            i, a, b = key
            if a.__class__ is slice and b.__class__ is slice:
                a0, a1 = a.start, a.stop  # (pairs: a 4-tuple assignment builds a tuple)
                b0, b1 = b.start, b.stop
                if (
                    i.__class__ is int
                    and (a0 is None or a0.__class__ is int) and (a1 is None or a1.__class__ is int)
                    and (b0 is None or b0.__class__ is int) and (b1 is None or b1.__class__ is int)
                ):
                    try:
                        kept = t._kept
                    except AttributeError:  # (set on a tensor's first such subscript)
                        kept = _start_views(t)
                    try:
                        k = kept.get((i, a0, a1, b0, b1, a.step, b.step))
                    except TypeError:  # an unhashable step (the general path reports it)
                        k = None
                    if k is not None:
                        try:
                            v = t._views[k]
                        except IndexError:  # (numbered after this tensor's first such subscript)
                            return _kept_view(t, kept, k)
                        if v is None:  # this tensor's first view of its layout's view k
                            kshape, koffset, kstrides, parts = kept[k]
                            v = t._views[k] = _tile_view(t, kshape, t.offset + koffset, kstrides, 0)
                            if not t.dyn and not t.index_tiles:
                                v._key = parts.get(t.alloc.layout) or _part(v, parts)
                        return v
        elif given == 4:
            i, j, a, b = key
            if a.__class__ is slice and b.__class__ is slice:
                a0, a1 = a.start, a.stop
                b0, b1 = b.start, b.stop
                try:
                    kept = t._kept
                except AttributeError:
                    kept = _start_views(t)
                try:
                    k = kept.get((i, j, a0, a1, b0, b1, a.step, b.step))
                except TypeError:  # an unhashable item (a slice as an index: the general path)
                    k = None
                if (
                    k is not None and i.__class__ is int and j.__class__ is int
                    and (a0 is None or a0.__class__ is int) and (a1 is None or a1.__class__ is int)
                    and (b0 is None or b0.__class__ is int) and (b1 is None or b1.__class__ is int)
                ):
                    try:
                        v = t._views[k]
                    except IndexError:
                        return _kept_view(t, kept, k)
                    if v is None:
                        kshape, koffset, kstrides, parts = kept[k]
                        v = t._views[k] = _tile_view(t, kshape, t.offset + koffset, kstrides, 0)
                        if not t.dyn and not t.index_tiles:
                            v._key = parts.get(t.alloc.layout) or _part(v, parts)
                    return v
        items = key
    else:
        if key.__class__ is int:
            # ``block[i]``: one tile of a block, kept as the views above (its probe a 1-tuple: the
            # layout's dict numbers its views by int)
            try:
                kept = t._kept
            except AttributeError:
                kept = _start_views(t)
            k = kept.get((key,))
            if k is not None:
                try:
                    v = t._views[k]
                except IndexError:
                    return _kept_view(t, kept, k)
                if v is None:
                    kshape, koffset, kstrides, parts = kept[k]
                    v = t._views[k] = _tile_view(t, kshape, t.offset + koffset, kstrides, 0)
                    if not t.dyn and not t.index_tiles:
                        v._key = parts.get(t.alloc.layout) or _part(v, parts)
                return v
        items = (key,)
        given = 1
    if t.flat is not None:
        return _FALLBACK(t, key)
    tshape = t.shape
    n = len(tshape)
    tstrides = t.strides
    tpaxis = t.paxis
    if given != n:
        if given > n:
            return _FALLBACK(t, key)
        if tpaxis >= given or (tpaxis < 0 and not t.alloc.on_chip):
            # ``block[i]`` / ``block[i, j]``: in-range ints on the dims before the partition dim
            # select one tile of a block (the loop below, unrolled for this case)
            offset = t.offset
            for d in range(given):
                i = items[d]
                if i.__class__ is not int or i < 0 or i >= tshape[d]:
                    break
                offset += i * tstrides[d]
            else:
                if n - given >= 2 or not t.alloc.on_chip:
                    v = _tile_view(t, tshape[given:], offset, tstrides[given:],
                                   tpaxis - given if tpaxis >= 0 else -1)
                    if n == 3 and tpaxis == 1 and key.__class__ is int:
                        _keep(t, (key,), v)  # (numbered in the block's layout, as t[i, :, a:b])
                    return v
        items = items + (_FULL,) * (n - given)
    if n == 2:
        # ``tile[a:b, c:d]``: the loop below unrolled for two slices (both dimensions kept)
        a, b = items
        if a.__class__ is slice and b.__class__ is slice and a.step is None and b.step is None:
            a0, a1 = a.start, a.stop  # (pairs: a 4-tuple assignment builds a tuple)
            b0, b1 = b.start, b.stop
            d0, d1 = tshape
            if a0 is None:
                a0 = 0
            if a1 is None:
                a1 = d0
            if b0 is None:
                b0 = 0
            if b1 is None:
                b1 = d1
            # (comparisons written one by one: fewer bytecodes than chained ones)
            if (
                a0.__class__ is int and a1.__class__ is int and b0.__class__ is int and b1.__class__ is int
                and a0 >= 0 and a1 >= a0 and d0 >= a1 and b0 >= 0 and b1 >= b0 and d1 >= b1
            ):
                s0, s1 = tstrides
                v = _tile_view(t, (a1 - a0, b1 - b0), t.offset + a0 * s0 + b0 * s1, tstrides,
                               tpaxis if tpaxis < 2 else -1)
                return v
    elif n == 3 and tpaxis == 1:
        # ``block[i, :, a:b]``: one tile of a [T, P, F] block (blocked kernels' hot path), the
        # loop below unrolled; anything it does not cover falls through to the loop
        i, a, b = items
        d0, d1, d2 = tshape
        # (comparisons written one by one: fewer bytecodes than chained ones)
        if (
            i.__class__ is int and a.__class__ is slice and b.__class__ is slice
            and a.step is None and b.step is None and i >= 0 and d0 > i
        ):
            a0, a1, b0, b1 = a.start, a.stop, b.start, b.stop
            if a0 is None:
                a0 = 0
            if a1 is None:
                a1 = d1
            if b0 is None:
                b0 = 0
            if b1 is None:
                b1 = d2
            if (
                a0.__class__ is int and a1.__class__ is int and b0.__class__ is int and b1.__class__ is int
                and a0 >= 0 and a1 >= a0 and d1 >= a1 and b0 >= 0 and b1 >= b0 and d2 >= b1
            ):
                s0, s1, s2 = tstrides
                vshape = shared_shape((a1 - a0, b1 - b0))
                vstrides = (s1, s2)
                v = _tile_view(t, vshape, t.offset + i * s0 + a0 * s1 + b0 * s2, vstrides, 0)
                _keep(t, (i, a.start, a.stop, b.start, b.stop, None, None), v)
                return v
    elif n == 4 and tpaxis == 2:
        # ``block[i, j, a:b, c:d]``: one tile of a [T, N, P, F] block (blocked kernels' accumulators)
        i, j, a, b = items
        d0, d1, d2, d3 = tshape
        if (
            i.__class__ is int and j.__class__ is int and a.__class__ is slice and b.__class__ is slice
            and a.step is None and b.step is None and i >= 0 and d0 > i and j >= 0 and d1 > j
        ):
            a0, a1, b0, b1 = a.start, a.stop, b.start, b.stop
            if a0 is None:
                a0 = 0
            if a1 is None:
                a1 = d2
            if b0 is None:
                b0 = 0
            if b1 is None:
                b1 = d3
            if (
                a0.__class__ is int and a1.__class__ is int and b0.__class__ is int and b1.__class__ is int
                and a0 >= 0 and a1 >= a0 and d2 >= a1 and b0 >= 0 and b1 >= b0 and d3 >= b1
            ):
                s0, s1, s2, s3 = tstrides
                v = _tile_view(t, (a1 - a0, b1 - b0), t.offset + i * s0 + j * s1 + a0 * s2 + b0 * s3,
                               (s2, s3), 0)
                _keep(t, (i, j, a.start, a.stop, b.start, b.stop, None, None), v)
                return v
    offset = t.offset
    shape: list[int] = []
    strides: list[int] = []
    paxis = -1
    for d in range(n):
        item = items[d]
        size = tshape[d]
        if item.__class__ is slice:
            if item.step is not None:
                return _FALLBACK(t, key)
            start = item.start
            stop = item.stop
            if start is None:
                start = 0
            elif start.__class__ is not int or start < 0:
                return _FALLBACK(t, key)
            if stop is None:
                stop = size
            elif stop.__class__ is not int or stop < 0 or stop > size:
                return _FALLBACK(t, key)
            if start > stop:
                return _FALLBACK(t, key)  # the general path reports it
            offset += start * tstrides[d]
            if d == tpaxis:
                paxis = len(shape)
            shape.append(stop - start)
            strides.append(tstrides[d])
        elif item.__class__ is int:
            if item < 0 or item >= size:
                return _FALLBACK(t, key)  # the general path reports it
            offset += item * tstrides[d]
            if d == tpaxis:
                if not t.alloc.on_chip:
                    return _FALLBACK(t, key)
                paxis = len(shape)
                shape.append(1)
                strides.append(tstrides[d])
        else:
            return _FALLBACK(t, key)
    if len(shape) < 2 and t.alloc.on_chip:
        return _FALLBACK(t, key)  # the general path keeps on-chip views 2-D
    return Tensor(t.alloc, tuple(shape), offset, tuple(strides), paxis, None, None, t.dyn, t.index_tiles)



def _expand_key(t: Tensor, key: Any) -> tuple[Any, ...]:
    if not isinstance(key, tuple):
        key = (key,)
    n_ell = sum(1 for k in key if k is Ellipsis)
    if n_ell > 1:
        _fail("indexing", "an index can have only one '...'", "invalid_index")
    explicit = sum(1 for k in key if k is not Ellipsis and k is not None)
    if explicit > t.ndim:
        _fail(
            "indexing",
            f"too many indices ({explicit}) for a {t.ndim}-D tensor {t.shape}",
            "exceed_max_supported_dimension",
        )
    if n_ell:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (t.ndim - explicit) + key[i + 1 :]
    else:
        key = key + (slice(None),) * (t.ndim - explicit)
    return key


def index_view(t: Tensor, key: Any) -> Tensor:
    """``t[key]``: basic indexing (ints, slices, ``nl.ds``) or legacy advanced indexing."""
    key = _expand_key(t, key)
    advanced = any(isinstance(k, (IndexExpr, Tensor, np.ndarray)) for k in key)
    if advanced:
        if any(isinstance(k, slice) for k in key):
            _fail(
                "indexing",
                "basic indexing (slices) and advanced indexing (arange/mgrid) cannot be"
                " mixed in one subscript (use nl.arange for every dimension)",
                "unsupported_mixing_basic_advanced_tensor_indexing",
            )
        return _advanced(t, key)
    return _basic(t, key)


def _basic(t: Tensor, key: tuple[Any, ...]) -> Tensor:
    shape: list[int] = []
    strides: list[int] = []
    offset = t.offset
    paxis = -1
    np_key: list[Any] = []
    dropped: list[tuple[int, int, int, int]] = []  # (result position, stride, key position, index)
    d = 0
    for item in key:
        if item is None:
            shape.append(1)
            strides.append(0)
            np_key.append(None)
            continue
        size, stride = t.shape[d], t.strides[d]
        if isinstance(item, slice):
            start, stop, step = _slice_bounds(item, size, t, d)
            count = len(range(start, stop, step))
            offset += start * stride
            if d == t.paxis:
                paxis = len(shape)
            shape.append(count)
            strides.append(stride * step)
            np_key.append(slice(start, stop, step))
        else:
            i = _as_int(item, "index")
            if i < 0:
                i += size
            if not 0 <= i < size:
                _fail(
                    "indexing",
                    f"index {int(item)} is out of bounds for dimension {d} of size {size}"
                    f" of tensor {t.label} {t.alloc.shape}",
                    "tensor_access_out_of_bound",
                )
            offset += i * stride
            if d == t.paxis and t.on_chip:  # an int on the partition dim keeps size 1
                paxis = len(shape)
                shape.append(1)
                strides.append(stride)
                np_key.append(slice(i, i + 1))
            else:
                dropped.append((len(shape), stride, len(np_key), i))
                np_key.append(i)
        d += 1
    if t.on_chip and len(shape) < 2 and dropped and t.ndim >= 2:
        pos, stride, kpos, i = dropped[-1]  # on-chip views stay >= 2-D: the last int keeps size 1
        shape.insert(pos, 1)
        strides.insert(pos, stride)
        if paxis >= pos:
            paxis += 1
        np_key[kpos] = slice(i, i + 1)
    if t.flat is not None:
        flat = t.flat[tuple(np_key)]
        oob = None if t.oob is None else t.oob[tuple(np_key)]
        return Tensor(t.alloc, tuple(shape), 0, (1,) * len(shape), paxis, flat, oob, t.dyn, t.index_tiles)
    return Tensor(t.alloc, tuple(shape), offset, tuple(strides), paxis, None, None, t.dyn, t.index_tiles)


def _slice_bounds(item: slice, size: int, t: Tensor, d: int) -> tuple[int, int, int]:
    step = 1 if item.step is None else _as_int(item.step, "slice step")
    if step == 0:
        _fail("indexing", "slice step cannot be zero", "invalid_index")
    start = None if item.start is None else _as_int(item.start, "slice start")
    stop = None if item.stop is None else _as_int(item.stop, "slice stop")
    for v in (start, stop):
        if v is not None and (v > size or v < -size):
            _fail(
                "indexing",
                f"slice {start}:{stop} is out of bounds for dimension {d} of size {size}"
                f" of tensor {t.label} {t.alloc.shape}",
                "tensor_access_out_of_bound",
            )
    return slice(start, stop, step).indices(size)


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, IndexExpr):
        _fail(
            "indexing", f"an arange/mgrid expression cannot be a {what} (use it as an index)", "invalid_index"
        )
    _fail("indexing", f"{what} must be an integer, got {type(value).__name__}", "invalid_index")


def _advanced(t: Tensor, key: tuple[Any, ...]) -> Tensor:
    sim = runtime.current("indexing")
    exprs: list[IndexExpr] = []
    tiles: list[Tensor] = []
    dyn = t.dyn
    for d, item in enumerate(key):
        if item is None:
            _fail("indexing", "None cannot be used with arange/mgrid indices", "invalid_index")
        if isinstance(item, IndexExpr):
            if item.ndim == 1:
                _fail(
                    "indexing",
                    "a 1-D nl.arange cannot index a tensor: lift it with [:, None] or [None, :]",
                    "1d_arange_not_supported",
                )
            exprs.append(item)
        elif isinstance(item, Tensor):
            if t.on_chip or d != 0:
                _fail(
                    "indexing",
                    "an index tile may only index the outermost dimension of an HBM tensor",
                    "indirect_indices_free_dim",
                )
            tiles.append(item)
            if sim.values:
                exprs.append(IndexExpr.concrete(item.read().astype(np.int64)))
            else:
                dyn = True
                exprs.append(IndexExpr.concrete(np.zeros(item.shape, dtype=np.int64)))
        elif isinstance(item, np.ndarray):
            exprs.append(IndexExpr.concrete(item))
        else:
            i = _as_int(item, "index")
            exprs.append(IndexExpr(i, (), ()))
    ndim = max(e.ndim for e in exprs)
    padded = [e._padded(ndim) for e in exprs]
    sizes = [1] * ndim
    for e in padded:
        for a, s in enumerate(e.sizes):
            if s != 1:
                if sizes[a] not in (1, s):
                    _fail(
                        "indexing",
                        f"index expressions of shapes {[x.sizes for x in padded]} do not broadcast",
                        "invalid_index",
                    )
                sizes[a] = s
    shape = tuple(sizes)
    in_bounds = all(lo >= 0 and hi < t.shape[d] for d, (lo, hi) in enumerate(e.bounds() for e in padded))
    if t.flat is None and all(e.is_affine for e in padded) and in_bounds:
        offset = t.offset + sum(t.strides[d] * e.const for d, e in enumerate(padded))
        # an expression of size 1 along an axis is constant there (arange(1)[:, None] against a
        # full mgrid index): its coefficient must not turn the broadcast into a stride
        strides = tuple(
            sum(t.strides[d] * e.coefs[a] for d, e in enumerate(padded) if e.sizes[a] != 1)
            for a in range(ndim)
        )
        for a in range(ndim):
            if sizes[a] == 1:
                strides = (*strides[:a], 0, *strides[a + 1 :])
        paxis = 0 if t.on_chip else -1
        strided_view = Tensor(t.alloc, shape, offset, strides, paxis, None, None, dyn, tuple(tiles))
        return _with_ids(strided_view, padded)
    oob = np.zeros(shape, dtype=bool)
    vals = []
    for d, e in enumerate(padded):
        v = np.broadcast_to(e.values(), shape)
        bad = (v < 0) | (v >= t.shape[d])
        if bad.any():
            oob |= bad
            v = np.where(bad, 0, v)
        vals.append(v)
    if t.flat is not None:
        flat = t.flat[tuple(vals)]
        base_oob = None if t.oob is None else t.oob[tuple(vals)]
        if base_oob is not None:
            oob |= base_oob
    else:
        flat = t.offset + sum(t.strides[d] * v for d, v in enumerate(vals))
        flat = np.asarray(flat, dtype=np.int64)
    if dyn and tiles:
        oob = np.zeros(shape, dtype=bool)  # runtime indices: checked (or skipped) by the instruction
    return _with_ids(
        Tensor(
            t.alloc,
            shape,
            0,
            (1,) * ndim,
            0 if t.on_chip else -1,
            flat,
            oob if oob.any() else None,
            dyn,
            tuple(tiles),
        ),
        padded,
    )


def _with_ids(v: Tensor, exprs: list[IndexExpr]) -> Tensor:
    """Record which index variable runs along each axis of an advanced-indexed view (a matmul
    maps its mask's variables to contraction or output axes through them); views made otherwise
    leave the slot unset (read with ``getattr(t, "index_ids", None)``)."""
    ids = merged_ids(*exprs)
    if ids is not None:
        v.index_ids = ids
    return v


def _decline(t: Tensor, key: Any) -> None:
    return None


_FALLBACK: Callable[[Tensor, Any], Any] = index_view
#: the view :func:`view` builds itself, or None where it would fall back to :func:`index_view`: the
#: same code object run with ``_FALLBACK`` bound to :func:`_decline` (tests compare its views with
#: the general path's)
_fast_slices: Callable[[Tensor, Any], Tensor | None] = types.FunctionType(
    view.__code__, {**globals(), "_FALLBACK": _decline}, "_fast_slices"
)
