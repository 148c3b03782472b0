"""A tensor keeps the views its hot subscripts made (``t._views``, trnsim.nki.subscript).

``block[i, :, a:b]`` and ``block[i, j, a:b, c:d]`` again with the same ints and bounds return the view
made the first time; a block laid out like one subscripted before makes its views from the numbered
geometry of its layout (``subscript._LAYOUT_VIEWS``). A key that equals a kept one but holds other
classes (``True`` or ``np.int64(1)`` for ``1``, ``128.0`` for ``128``: equal, and hashed alike) or a
step must get what a tensor without kept views gets: the general path's view, or its error.
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
    assert subscript._LAYOUT_VIEWS  # (made through the views of the blocks laid out alike)


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


def _random_key(rng: Any, shape: tuple[int, ...]) -> Any:
    """``block[i, :, a:b]`` / ``block[i, j, a:b, c:d]``, mostly valid, some with bounds or indices of
    other classes (equal to the ints, hashed alike), out of range, or stepped."""
    def bound(size: int) -> Any:
        b = rng.choice((None, 0, size, rng.randrange(size + 1), rng.randrange(size + 1), size + 1, -1))
        if b is not None and rng.random() < 0.05:
            return rng.choice((float(b), np.int64(b), bool(b % 2)))
        return b

    def index(size: int) -> Any:
        i = rng.randrange(-1, size + 1) if rng.random() < 0.1 else rng.randrange(size)
        return rng.choice((float(i), np.int64(i), True)) if rng.random() < 0.05 else i

    def span(size: int) -> slice:
        lo = bound(size)
        hi = bound(size)
        if lo is not None and hi is not None and lo.__class__ is int and hi.__class__ is int and lo > hi:
            lo, hi = hi, lo
        return slice(lo, hi, 2 if rng.random() < 0.03 else None)

    *lead, p, f = shape
    return (*(index(n) for n in lead), span(p), span(f))


def _general(t: Any, key: Any) -> Any:
    """``t[key]`` by the general path alone (no kept views): the layout, or the error's message."""
    try:
        v = subscript.index_view(t, key)
    except Exception as error:
        return re.sub(r" at \S+:\d+", "", str(error))
    return (v.shape, v.offset, v.strides, v.paxis, v.alloc.alloc_id, v.flat is None, v.dyn, v.index_tiles)


_LAYOUT_FOUND: list[tuple[Any, Any, Any]] = []


def _block_makers() -> list[Any]:
    return [
        lambda: nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf),
        lambda: nl.ndarray((4, nl.par_dim(128), 512), nl.bfloat16, buffer=nl.sbuf),  # (the same layout)
        lambda: nl.ndarray((6, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)[2:6],  # (an offset)
        lambda: nl.ndarray((3, nl.par_dim(64), 96), nl.float32, buffer=nl.sbuf),
        lambda: nl.ndarray((2, 3, nl.par_dim(128), 64), nl.float32, buffer=nl.sbuf),
    ]


@jit
def _layout_subscripts(a: Any) -> Any:
    """Random subscripts of fresh and kept blocks of a few layouts, each against the general path;
    an exact-int key again on the same block must return the same view object."""
    import random

    rng = random.Random(7)
    makers = _block_makers()
    live: list[Any] = []
    made: dict[tuple[int, Any], Any] = {}
    for _ in range(2500):
        if not live or rng.random() < 0.15:
            live.append(makers[rng.randrange(len(makers))]())
            live = live[-6:]
        t = live[rng.randrange(len(live))]
        key = _random_key(rng, t.shape)
        if rng.random() < 0.15:
            key = key[0]  # (block[i]: one tile of the block)
        got = _outcome(t, key)
        if not isinstance(got, str):
            got = (*got[:4], got[4] == t.alloc.alloc_id, *got[5:])
        want = _general(t, key)
        if not isinstance(want, str):
            want = (*want[:4], want[4] == t.alloc.alloc_id, *want[5:])
        else:
            got = re.sub(r" at \S+:\d+", "", got) if isinstance(got, str) else got
        same = True
        plain = (key.__class__ is int and key >= 0) or (  # (what view keeps: exact ints, >= 0)
            key.__class__ is tuple
            and all(k.__class__ is int and k >= 0 for k in key[:-2])
            and all(b is None or (b.__class__ is int and b >= 0) for s in key[-2:] for b in (s.start, s.stop))
            and key[-1].step is None and key[-2].step is None
        )
        if not isinstance(want, str) and plain and (key.__class__ is tuple or len(t.shape) == 3):
            probe = (id(t), repr(key))
            v = subscript.view(t, key)
            if probe in made:
                same = made[probe][1] is v or made[probe][0] is not t  # (kept while t lives)
            made[probe] = (t, v)
        _LAYOUT_FOUND.append((key, got, want, same))
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out


def test_views_by_layout_are_the_general_paths_on_random_subscripts() -> None:
    _LAYOUT_FOUND.clear()
    trace_kernel(_layout_subscripts, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    assert len(_LAYOUT_FOUND) == 2500
    errors = 0
    for key, got, want, same in _LAYOUT_FOUND:
        assert got == want, key
        assert same, key
        errors += isinstance(want, str)
    assert 100 < errors < 1500, errors


@jit
def _fresh_blocks(a: Any) -> Any:
    """A fresh block laid out like one subscripted before: its layout's dict, no new numbers."""
    seen = []
    for make in _block_makers():
        first = make()
        keys = [(1, slice(None), slice(0, 32)), (2, slice(None), slice(32, 64))]
        if len(first.shape) == 4:
            keys = [(1, 2, slice(None), slice(0, 32)), (0, 1, slice(0, 64), slice(None))]
        for key in keys:
            subscript.view(first, key)
        numbered = len(first._kept)
        fresh = make()
        views = [subscript.view(fresh, key) for key in keys]
        own = [v.alloc is fresh.alloc for v in views]
        equal = [_no_alloc(_outcome(fresh, key)) == _no_alloc(_general(fresh, key)) for key in keys]
        seen.append((fresh._kept is first._kept, len(first._kept) == numbered, own, equal))
    _FOUND.append(seen)
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out


def test_a_fresh_block_makes_its_views_from_its_layout_s_numbered_views() -> None:
    _FOUND.clear()
    trace_kernel(_fresh_blocks, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    (seen,) = _FOUND
    for shared, no_new_numbers, own, equal in seen:
        assert shared and no_new_numbers and all(own) and all(equal)


def test_a_full_layout_dict_is_replaced_and_its_numbers_keep_their_views(monkeypatch: Any) -> None:
    # Blocks of one layout share its dict; past _MAX_VIEWS numbers the one that fills it starts a new
    # dict and the others keep the old one: each block's kept views stay its own subscripts' (a new
    # subscript on block 0 after block 1 started the new dict must not get a view block 0 kept under
    # the same number in the old one).
    monkeypatch.setattr(subscript, "_MAX_VIEWS", 4)
    seen: list[Any] = []
    order = [(0, j) for j in range(4)] + [(1, 4), (0, 4), (1, 0), (0, 5), (1, 5), (0, 0), (2, 3), (2, 4)]
    order += [((j + rounds) % 3, j) for rounds in range(3) for j in range(14)]

    @jit
    def many(a: Any) -> Any:
        blocks = [nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf) for _ in range(3)]
        for b, j in order:
            t = blocks[b]
            v = subscript.view(t, (j % 4, slice(None), slice(j, j + 100)))
            seen.append((v.alloc is t.alloc, v.offset - t.offset, v.shape, (j % 4) * 512 + j, len(t._kept)))
        out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
        nl.store(out, value=nl.load(a))
        return out

    trace_kernel(many, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    assert len(seen) == len(order)
    assert max(n for *_, n in seen) <= 8
    for own, offset, shape, want, _ in seen:
        assert own and offset == want and shape == (128, 100)


_PARTS: list[tuple[int, Any, Any]] = []


@jit
def _key_parts(a: Any) -> Any:
    """Kept views of blocks of the same layouts made again three times (after the first, fresh blocks'
    views come from their layouts' numbers), each view's template key part as the view has it and as
    templates._key_part computes it. Two makers share a layout dict with different dtypes (their
    allocations' layouts differ: so do their parts)."""
    from trnsim.nki import templates

    keys3: list[Any] = [(i, slice(None), slice(32 * j, 32 * j + 32)) for i in range(3) for j in range(3)]
    keys3 += [0, 2]  # (block[i])
    keys4 = [(i, j, slice(None), slice(0, 32)) for i in range(2) for j in range(3)]
    for rounds in range(3):
        for make in _block_makers():
            t = make()
            for key in keys4 if len(t.shape) == 4 else keys3:
                v = subscript.view(t, key)
                got = v._key
                v._key = None
                _PARTS.append((rounds, got, templates._key_part(v)))
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out


def test_a_fresh_block_s_views_carry_their_template_key_parts() -> None:
    """A fresh block's view made from its layout's numbered views gets its part of a template key from
    the layout's entry (kept there per allocation layout), not from templates._key_part's tuple look-up
    when a templated call first takes it: the same part _key_part computes."""
    _PARTS.clear()
    trace_kernel(_key_parts, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    assert len(_PARTS) == 3 * (4 * 11 + 6)
    for rounds, got, want in _PARTS:
        assert want.__class__ is int
        assert got == want or (got is None and rounds == 0)
    assert all(got is not None for rounds, got, _ in _PARTS if rounds)
    assert len({want for _, _, want in _PARTS}) >= 8  # (dtypes, allocation shapes, view shapes)


_STARTED: list[bool] = []


@jit
def _blocks_in_a_loop(a: Any) -> Any:
    """Blocks made in a loop (the first by the checked path, the later ones replayed from its call
    template, some while the one before is still referred to), each filled by ``block[i] = ...``."""
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    held = []
    for n in range(40):
        block = nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)
        _STARTED.append(hasattr(block, "_kept"))
        for i in nl.affine_range(4):
            block[i] = nl.load(a)
        if n % 3 == 0:
            held.append(block)
    nl.store(out, value=nl.load(a))
    return out


def test_a_block_has_its_kept_views_before_its_first_subscript(monkeypatch: Any) -> None:
    """A block made by the checked path (Tensor.whole) or by a replayed template (templates._new_tile)
    gets its layout's kept views when it is made, so that its first ``block[i]`` finds them instead of
    catching an AttributeError (about 2.6 us each, a few hundred per launch of a blocked kernel)."""
    from trnsim.nki import templates

    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 2)
    _STARTED.clear()
    for _ in range(2):
        trace_kernel(_blocks_in_a_loop, np.zeros((128, 512), np.float32), target="trn1", timing_only=True)
    assert len(_STARTED) == 80 and all(_STARTED)
