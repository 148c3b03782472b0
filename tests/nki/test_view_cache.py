"""A tensor keeps the views its hot subscripts made (``t._views``, trnsim.nki.subscript).

``block[i, :, a:b]`` and ``block[i, j, a:b, c:d]`` again with the same ints and bounds return the view
made the first time. A key that equals a kept one but holds other classes (``True`` or ``np.int64(1)``
for ``1``, ``128.0`` for ``128``: equal, and hashed alike) or a step must get what a tensor without
kept views gets: the general path's view, or its error.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from trnsim.nki import subscript, trace_kernel
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

_FOUND: list[tuple[Any, Any, Any, bool]] = []


def _outcome(t: Any, key: Any) -> Any:
    """The view's layout, or the error's message."""
    try:
        v = subscript.view(t, key)
    except Exception as error:
        return str(error)
    return (v.shape, v.offset, v.strides, v.paxis, v.alloc.alloc_id, v.flat is None, v.dyn, v.index_tiles)


#: keys equal to a kept one (the first of each list) in value, not in meaning
_KEYS3: list[Any] = [
    (1, slice(None), slice(0, 128)),
    (True, slice(None), slice(0, 128)),
    (np.int64(1), slice(None), slice(0, 128)),
    (1, slice(None), slice(0, 128.0)),
    (1, slice(None), slice(0.0, 128)),
    (1, slice(0, 128), slice(np.int32(0), 128)),
    (1, slice(None), slice(0, 128, 1)),
    (1.0, slice(None), slice(0, 128)),
]
_KEYS4: list[Any] = [
    (1, 2, slice(None), slice(0, 32)),
    (1, True, slice(None), slice(0, 32)),
    (np.int64(1), 2, slice(None), slice(0, 32)),
    (1, 2, slice(None), slice(0, 32.0)),
    (1, 2, slice(None, 128.0), slice(0, 32)),
    (1, 2, slice(None), slice(0, 32, 1)),
    (1, 2.0, slice(None), slice(0, 32)),
]


@jit
def _subscripts(a: Any) -> Any:
    """Each key twice on a block with kept views, and once on a fresh block without any."""
    for make, keys in (
        (lambda: nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf), _KEYS3),
        (lambda: nl.ndarray((2, 3, nl.par_dim(128), 64), nl.float32, buffer=nl.sbuf), _KEYS4),
    ):
        kept = make()
        first = subscript.view(kept, keys[0])
        for key in keys:
            got = (_outcome(kept, key), _outcome(kept, key))
            fresh = make()
            want = _outcome(fresh, key)
            # (the fresh block's allocation differs: compare the layouts without it)
            _FOUND.append((key, got, want, subscript.view(kept, keys[0]) is first))
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out


def _no_alloc(outcome: Any) -> Any:
    return outcome if isinstance(outcome, str) else outcome[:4] + outcome[5:]


def test_kept_views_are_the_views_and_errors_of_the_general_path() -> None:
    _FOUND.clear()
    trace_kernel(_subscripts, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    assert len(_FOUND) == len(_KEYS3) + len(_KEYS4)
    errors = 0
    for key, (once, again), want, same in _FOUND:
        assert same, key  # the kept view comes back
        assert _no_alloc(once) == _no_alloc(again) == _no_alloc(want), key
        errors += isinstance(want, str)
    assert errors >= 4  # the float bounds and indices are refused, kept view or not


def test_a_tensor_keeps_a_bounded_number_of_views(monkeypatch: Any) -> None:
    monkeypatch.setattr(subscript, "_MAX_VIEWS", 8)
    seen: list[Any] = []

    @jit
    def many(a: Any) -> Any:
        block = nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)
        for rounds in range(2):
            for j in range(20):
                v = block[j % 4, :, j : j + 100]
                seen.append((rounds, j, v.offset, v.shape, len(block._views)))
        out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
        nl.store(out, value=nl.load(a))
        return out

    trace_kernel(many, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    assert max(n for *_, n in seen) <= 8
    for _, j, offset, shape, _ in seen:
        assert (offset, shape) == ((j % 4) * 512 + j, (128, 100))


_TILE_KEYS: list[Any] = [
    (i, slice(a0, a1), slice(b0, b1))
    for i in (0, 1, 3)
    for a0, a1 in ((None, None), (0, 128), (16, 64), (None, 32))
    for b0, b1 in ((None, None), (0, 128), (128, 256), (100, None), (500, 512), (256, 256))
]


@jit
def _alike_blocks(a: Any) -> Any:
    """``block[i, :, a:b]`` on blocks laid out alike (a later one's views come from the first's), some
    of them views of a bigger block (an offset of their own), each against the general path."""
    makers = [
        lambda: nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf),
        lambda: nl.ndarray((4, nl.par_dim(128), 512), nl.bfloat16, buffer=nl.sbuf),
        lambda: nl.ndarray((6, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)[2:6],
    ]
    for make in makers:
        first = make()
        for key in _TILE_KEYS:
            subscript.view(first, key)
        for _ in range(2):
            block = make()
            for key in _TILE_KEYS:
                v = subscript.view(block, key)
                general = subscript.index_view(block, key)
                _FOUND.append((key, _outcome(block, key), (general.shape, general.offset, general.strides,
                               general.paxis, general.alloc.alloc_id, general.flat is None, general.dyn,
                               general.index_tiles), v.alloc is block.alloc))
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out


def test_views_of_a_block_laid_out_like_another_are_the_general_paths() -> None:
    _FOUND.clear()
    trace_kernel(_alike_blocks, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    assert len(_FOUND) == 3 * 2 * len(_TILE_KEYS)
    for key, got, want, own in _FOUND:
        assert own, key
        assert got == want, key
    assert subscript._TILE_VIEWS  # (made through the views of the blocks laid out alike)


def test_a_step_of_any_class_takes_the_general_path() -> None:
    """An unhashable step is no key of the kept views: the general path's error, as without them."""
    seen: list[tuple[Any, Any]] = []

    def general(t: Any, key: Any) -> Any:
        try:
            subscript.index_view(t, key)
        except Exception as error:
            return str(error)
        return None

    @jit
    def stepped(a: Any) -> Any:
        block = nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)
        subscript.view(block, (1, slice(None), slice(0, 128)))  # (a kept view)
        for key in ((1, slice(None), slice(0, 128, [1])), (1, slice(None, None, [1]), slice(0, 128))):
            seen.append((_outcome(block, key), general(block, key)))
        out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
        nl.store(out, value=nl.load(a))
        return out

    trace_kernel(stepped, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    assert len(seen) == 2
    for got, want in seen:  # (the same message; the line of each call differs)
        assert isinstance(want, str) and isinstance(got, str)
        assert re.sub(r" at \S+:\d+", "", got) == re.sub(r" at \S+:\d+", "", want)


def test_equal_shapes_are_handed_out_as_one_object_with_their_item_classes() -> None:
    # Memoised block views and templates' output operands hand out one object per shape (the chip
    # model's cost key compares them by identity first); a shape whose items are of other classes
    # (an nl.par_dim, equal to its int and hashed alike) keeps its own object and classes.
    from trnsim.nki.tensor import ParDim, shared_shape

    plain = shared_shape((128, 96))
    assert shared_shape(tuple([128, 96])) is plain
    with_par_dim = shared_shape((ParDim(128), 96))
    assert with_par_dim is not plain and type(with_par_dim[0]) is ParDim
    assert type(shared_shape((128, 96))[0]) is int


def test_a_blocked_kernel_s_equal_operand_shapes_are_one_object() -> None:
    from trnsim.kernels import registry

    entry = registry.get("matmul_fully_blocked")
    args = entry.make_args({"m": 512, "k": 1024, "n": 2048}, "bfloat16")
    trace = trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
    # (the first nl.zeros is the checked call a template learns from: its own operand; the block
    # views' shapes are shared from the first)
    for opcode, side, first in (("nc_matmul", "inputs", 0), ("memset", "outputs", 1)):
        ops = [op for i in trace.instructions if i.opcode == opcode for op in getattr(i, side)][first:]
        shapes = [op.shape for op in ops]
        assert len(shapes) > 8
        assert len({id(s) for s in shapes}) == len(set(shapes))
