"""Value mode's shared load copies (trnsim.nki.templates._replay_copy, runtime.writable_storage).

A replayed ``nl.load`` of an HBM view that an earlier replay copied shares that copy (read-only)
instead of copying the strided rows again. The values must be those of a fresh copy at every load:
a tile written later gets its own copy first, and a write into HBM (the loaded tensor itself, an
argument that is the same array, a dtype view of it) drops the copies of the memory it reaches.
Each kernel's outputs are compared with the checked path's (templates off: no sharing), with
sharing off (``LOAD_COPIES_MAX = 0``) and with numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trnsim.kernels import registry
from trnsim.nki import runtime, simulate, templates
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

REPS = 4


@jit
def _written_tiles(a: Any) -> Any:
    """Two loads of one view per iteration; the first tile is written in place, the second not."""
    out = nl.ndarray((REPS, 128, 64), dtype=a.dtype, buffer=nl.shared_hbm)
    kept = nl.ndarray((REPS, 128, 64), dtype=a.dtype, buffer=nl.shared_hbm)
    for i in nl.sequential_range(REPS):
        t = nl.load(a[0:128, 0:64])
        u = nl.load(a[0:128, 0:64])
        t[...] = nl.add(t, 1.0)  # (written into the tile: it must not reach u's or later loads')
        nl.store(out[i], value=t)
        nl.store(kept[i], value=u)
    return out, kept


@jit
def _stores_into_source(a: Any) -> Any:
    """Each iteration loads a view of ``a``, then stores into that view: the next load sees it."""
    out = nl.ndarray((REPS, 128, 64), dtype=a.dtype, buffer=nl.shared_hbm)
    for i in nl.sequential_range(REPS):
        t = nl.load(a[0:128, 0:64])
        nl.store(out[i], value=t)
        nl.store(a[0:128, 0:64], value=nl.add(t, 1.0))
    return out


@jit
def _aliased_arguments(a: Any, b: Any) -> Any:
    """``a`` and ``b`` are one array: a store into ``b`` changes what the next load of ``a`` reads."""
    out = nl.ndarray((REPS, 128, 64), dtype=a.dtype, buffer=nl.shared_hbm)
    for i in nl.sequential_range(REPS):
        t = nl.load(a[0:128, 0:64])
        nl.store(out[i], value=t)
        nl.store(b[0:128, 0:64], value=nl.add(t, 1.0))
    return out


def _input() -> np.ndarray:
    return np.random.default_rng(3).standard_normal((256, 128)).astype(np.float32)


def _run(kernel: Any, same_array: bool) -> list[np.ndarray]:
    a = _input()
    out = simulate(kernel, a, a) if same_array else simulate(kernel, a)
    return [np.asarray(x).copy() for x in (out if isinstance(out, tuple) else (out,))] + [a]


@pytest.mark.parametrize(
    ("kernel", "same_array"),
    [(_written_tiles, False), (_stores_into_source, False), (_aliased_arguments, True)],
    ids=["written-tiles", "stores-into-source", "aliased-arguments"],
)
def test_shared_load_copies_give_fresh_copies_values(
    kernel: Any, same_array: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared: list[int] = []
    replay = templates._replay_copy

    def counted(sim: Any, tpl: Any, values: Any) -> Any:
        result = replay(sim, tpl, values)
        if not result.alloc.storage.flags.writeable:
            shared.append(id(result.alloc.storage))
        return result

    monkeypatch.setattr(templates, "_replay_copy", counted)
    got = _run(kernel, same_array)
    assert shared, "no load shared a kept copy"
    with monkeypatch.context() as m:
        m.setattr(templates, "LOAD_COPIES_MAX", 0)
        unshared = _run(kernel, same_array)
    with monkeypatch.context() as m:
        m.setattr(runtime, "CACHE_TEMPLATES", False)
        checked = _run(kernel, same_array)
    for g, u, c in zip(got, unshared, checked, strict=True):
        assert g.tobytes() == u.tobytes() == c.tobytes()
    a = _input()[0:128, 0:64]
    if kernel is _written_tiles:
        out, kept, _ = got
        assert all(np.array_equal(out[i], a + np.float32(1)) for i in range(REPS))
        assert all(np.array_equal(kept[i], a) for i in range(REPS))
    else:
        out, final = got[0], got[-1]
        expected = a.copy()
        for i in range(REPS):
            assert np.array_equal(out[i], expected)
            expected = expected + np.float32(1)
        assert np.array_equal(final[0:128, 0:64], expected)


def test_matmul_tiled_loads_share_their_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiled matmul loads each stationary block once per moving block and each moving block once
    per stationary block: from the second replay of a view on, its loads share one copy; the product
    is the same as with every load copying."""
    entry = registry.get("matmul_tiled")
    args = entry.make_args({"m": 512, "k": 512, "n": 1024}, "bfloat16", np.random.default_rng(5))
    arrays: list[Any] = []
    replay = templates._replay_copy

    def kept(sim: Any, tpl: Any, values: Any) -> Any:
        result = replay(sim, tpl, values)
        arrays.append(result.alloc.storage)
        return result

    monkeypatch.setattr(templates, "_replay_copy", kept)
    got = simulate(entry.kernel, *args, target="trn1")
    distinct = len({id(x) for x in arrays})
    assert len(arrays) > 2 * distinct  # (K x M and K x N blocks, loaded 2 and 4 times each)
    monkeypatch.setattr(templates, "LOAD_COPIES_MAX", 0)
    assert np.asarray(simulate(entry.kernel, *args, target="trn1")).tobytes() == np.asarray(got).tobytes()


def test_writable_storage_unshares_tiles_and_drops_reached_copies() -> None:
    """A read-only (shared) tile storage is replaced by a writable copy of it; a write into HBM drops
    the kept copies of its own allocation and of any source sharing its memory, none other."""
    tile = runtime.Allocation(1, runtime.Buffer.SBUF, np.dtype(np.float32), (2, 3), 2, 3, "", None, 0)
    shared = np.arange(6, dtype=np.float32)
    shared.flags.writeable = False
    tile.storage = shared
    storage = runtime.writable_storage(tile)
    assert storage is tile.storage and storage is not shared and storage.flags.writeable
    assert storage.tobytes() == shared.tobytes()
    assert runtime.writable_storage(tile) is storage  # (its own now: no second copy)

    base = np.zeros(64, np.float32)
    other = np.zeros(64, np.float32)
    f32 = np.dtype(np.float32)
    hbm = runtime.Allocation(5, runtime.Buffer.SHARED_HBM, f32, (64,), 1, 64, "a", base[:32], 0)
    sim = runtime.Simulation.__new__(runtime.Simulation)
    copy = np.zeros(4, np.float32)
    sim.loaded = {5: (base[:32], {(0, 1): copy}), 6: (base[16:], {(0, 1): copy}), 7: (other, {(0, 1): copy})}
    sim.loaded_bytes = 3 * copy.nbytes
    token = runtime._ACTIVE.set(sim)
    try:
        runtime.writable_storage(hbm)
    finally:
        runtime._ACTIVE.reset(token)
    assert list(sim.loaded) == [7] and sim.loaded_bytes == copy.nbytes
