"""The subscript fast path builds the same views as the general basic-indexing path.

``_fast_slices`` unrolls ``block[i, :, a:b]`` on a [T, P, F] block (the hot subscript of blocked
kernels) and ``t[a:b, c:d]`` on 2-D tensors (SBUF tiles, HBM inputs) and loops over other
plain-slice keys; both must give the view ``_basic`` gives, and
decline (None) whatever they do not cover, so that the general path reports it.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from trnsim.nki import subscript, trace_kernel
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

_SEEN: list[tuple[Any, Any, Any]] = []
_WHOLE: list[tuple[Any, Any, Any]] = []


def _outcome(index: Any, t: Any, key: Any) -> Any:
    """The view's layout, or the error's message."""
    try:
        return _layout(index(t, key))
    except Exception as error:
        return str(error)


def _item(rng: random.Random, size: int) -> Any:
    def bound() -> int:  # mostly near the edges, where the checks are
        return rng.choice((-1, 0, 1, size - 1, size, size + 1, rng.randrange(size)))

    kind = rng.random()
    if kind < 0.2:
        return bound()  # an int, sometimes out of range
    if kind < 0.3:
        return slice(None)
    lo = rng.choice((None, bound(), bound()))
    hi = rng.choice((None, bound(), bound()))
    return slice(lo, hi, rng.choice((None, None, None, 2)))


def _span(rng: random.Random, size: int) -> slice:
    """A plain slice, its bounds mostly near the edges."""
    lo = rng.choice((None, 0, 1, size - 1, size, rng.randrange(size)))
    hi = rng.choice((None, size, size + 1, -1, rng.randrange(size + 1)))
    return slice(lo, hi)


@jit
def _views(a: Any) -> Any:
    """Subscripts a [4, P128, 512] SBUF block with random keys; records fast and general views."""
    block = nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)
    tile = nl.ndarray((128, 512), nl.float32, buffer=nl.sbuf)
    block4 = nl.ndarray((2, 3, nl.par_dim(128), 64), nl.float32, buffer=nl.sbuf)
    rng = random.Random(0)
    for _ in range(6000):
        t = rng.choice((block, block, block, tile, a, block4))
        key = tuple(_item(rng, n) for n in t.shape)
        if t is block4 and rng.random() < 0.5:  # block4[i, j, a:b, c:d], the accumulator tile
            key = (rng.randrange(-1, 3), rng.randrange(-1, 4), _span(rng, 128), _span(rng, 64))
        if rng.random() < 0.1:
            key = key[:-1]
        elif rng.random() < 0.2:  # leading ints only: one tile of a block (block[i], block4[i, j])
            key = key[: rng.randrange(len(key))]
        if rng.random() < 0.15:  # Ellipsis / None: the general path, whole key as written
            at = rng.randrange(len(key) + 1)
            key = (*key[:at], rng.choice((Ellipsis, None)), *key[at:])
        _WHOLE.append((key, _outcome(subscript.view, t, key), _outcome(subscript.index_view, t, key)))
        fast = subscript._fast_slices(t, key)
        try:
            slow = subscript._basic(t, subscript._expand_key(t, key))
        except Exception:  # an invalid subscript the general path reports
            slow = None
        _SEEN.append((key, fast, slow))
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out


def _layout(view: Any) -> tuple[Any, ...]:
    return (view.shape, view.offset, view.strides, view.paxis, view.alloc.alloc_id, view.flat is None)


def test_fast_views_equal_the_general_ones() -> None:
    _SEEN.clear()
    _WHOLE.clear()
    trace_kernel(_views, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    taken = 0
    for key, fast, slow in _SEEN:
        if fast is None:
            continue
        taken += 1
        assert slow is not None, key
        assert _layout(fast) == _layout(slow), key
    unrolled = sum(
        1 for key, fast, _ in _SEEN
        if fast is not None and len(key) == 3 and key[0].__class__ is int and key[1].__class__ is slice
    )
    two_d = sum(
        1 for key, fast, _ in _SEEN if fast is not None and len(fast.alloc.shape) == 2 and len(key) == 2
    )
    leading = sum(
        1 for key, fast, _ in _SEEN
        if fast is not None and len(key) < fast.alloc.partition_axis + 1 and len(fast.alloc.shape) >= 3
        and all(k.__class__ is int for k in key)
    )
    four_d = sum(
        1 for key, fast, _ in _SEEN
        if fast is not None and len(key) == 4 and key[2].__class__ is slice and key[3].__class__ is slice
    )
    assert taken > 300 and unrolled > 30 and two_d > 30 and leading > 30 and four_d > 30, (
        taken, unrolled, two_d, leading, four_d
    )


def test_subscripts_equal_the_general_path_with_every_key() -> None:
    """``t[key]`` (the fast path, falling back with the key as written) equals ``index_view``'s
    view or error, also for keys with ``...`` and ``None``."""
    _WHOLE.clear()
    trace_kernel(_views, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    assert len(_WHOLE) == 6000
    special = [k for k, _, _ in _WHOLE if any(i is Ellipsis or i is None for i in k)]
    assert len(special) > 300
    for key, got, want in _WHOLE:
        assert got == want, key


def test_getitem_takes_two_parameters() -> None:
    """``Tensor.__getitem__`` is :func:`subscript.view` itself with exactly (tensor, key): CPython
    3.11 turns ``t[key]`` into an inline frame push only for a two-parameter ``__getitem__``."""
    from trnsim.nki.tensor import Tensor

    assert Tensor.__getitem__ is subscript.view
    assert subscript.view.__code__.co_argcount == 2
    assert subscript._fast_slices.__code__ is subscript.view.__code__
