"""PSUM accumulation state per element (nki-semantics §3) when it is kept as one state for a whole
tile until a partial view is written or read (trnsim.nki.engines.execute: ``mm_state`` an int)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trnsim.kernels import registry
from trnsim.nki import current as nki
from trnsim.nki import simulate as nki_simulate
from trnsim.nki import templates
from trnsim.nki.current import isa as nisa
from trnsim.nki.current import language as nl
from trnsim.nki.engines import execute


@nki.jit
def _partial_groups(x: Any, y: Any) -> Any:
    out = nl.ndarray((4, 12), dtype=nl.float32, buffer=nl.shared_hbm)
    s = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.sbuf)
    m = nl.ndarray((4, 8), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=s, src=x)
    nisa.dma_copy(dst=m, src=y)
    acc = nl.ndarray((4, 8), dtype=nl.float32, buffer=nl.psum)  # never written: NaN
    nisa.nc_matmul(dst=acc[:, 0:4], stationary=s, moving=s)  # left half: opens a group
    nisa.nc_matmul(dst=acc, stationary=s, moving=m)  # adds on the left, overwrites the right
    left = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=left, src=acc[:, 0:4])  # a read closes the left half's group
    nisa.nc_matmul(dst=acc, stationary=s, moving=m)  # overwrites the left, adds on the right
    whole = nl.ndarray((4, 8), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=whole, src=acc)
    nisa.dma_copy(dst=out[:, 0:4], src=left)
    nisa.dma_copy(dst=out[:, 4:12], src=whole)
    return out


def test_partial_views_keep_the_state_per_element() -> None:
    x = np.arange(16, dtype=np.float32).reshape(4, 4) % 5  # small integers: every sum is exact
    y = np.arange(32, dtype=np.float32).reshape(4, 8) % 7
    p = x.T @ x
    q = x.T @ y
    got = nki.simulate(_partial_groups)(x, y)
    np.testing.assert_array_equal(got[:, 0:4], p + q[:, 0:4])
    np.testing.assert_array_equal(got[:, 4:8], q[:, 0:4])
    np.testing.assert_array_equal(got[:, 8:12], 2 * q[:, 4:8])


def _bits(x: Any) -> bytes:
    return bytes(np.ascontiguousarray(np.asarray(x)).view(np.uint8))


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("name", ["matmul_tiled", "matmul_hoisted"])
def test_whole_tile_shortcuts_store_the_per_element_paths_bits(
    name: str, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``acc += nc_matmul(...)`` onto a whole PSUM tile adds or copies its storage directly
    (execute.retarget_write) and keeps one state per tile; with that shortcut off every state is
    per element and the generic write runs: same bits."""
    entry = registry.get(name)
    args = entry.make_args({"m": 256, "k": 512, "n": 1024}, dtype, np.random.default_rng(11))
    fast = nki_simulate(entry.kernel, *args, target="trn2")
    monkeypatch.setattr(execute, "_whole", lambda t: False)
    monkeypatch.setattr(templates, "_KEPT", {})  # (the first launch's templates: not replayed)
    generic = nki_simulate(entry.kernel, *args, target="trn2")
    assert _bits(fast) == _bits(generic)
