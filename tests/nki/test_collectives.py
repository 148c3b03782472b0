"""Collectives between SPMD ranks (nki-semantics.md §8), values against numpy.

Each rank is one instance of ``kernel[n]``; rank r works on ``x[r]``. Reductions are computed in
fp32 in group order, so a float32 reference summed in the same order is exact; bf16 results are
the fp32 value rounded once (compared after the same rounding).
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest

from trnsim.nki import KernelError, trace_kernel
from trnsim.nki import current as nki
from trnsim.nki.current import collectives as ncc
from trnsim.nki.current import isa as nisa
from trnsim.nki.current import language as nl
from trnsim.nki.legacy import jit as legacy_jit
from trnsim.nki.legacy import language as lnl
from trnsim.nki.legacy import nccl
from trnsim.nki.trace import Engine

RANKS = 4


def _rank_tile(x: Any, r: int) -> Any:
    t = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=x[r])
    return t


@nki.jit
def all_reduce_sbuf(x: Any) -> Any:
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    t = _rank_tile(x, r)
    total = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.sbuf)
    ncc.all_reduce(srcs=[t], dsts=[total], replica_group=ncc.ReplicaGroup([list(range(RANKS))]), op=nl.add)
    nisa.dma_copy(dst=out[r], src=total)
    return out


def test_all_reduce_every_rank_gets_the_sum() -> None:
    x = np.random.default_rng(0).standard_normal((RANKS, 32, 16)).astype(np.float32)
    out = nki.simulate(all_reduce_sbuf[RANKS])(x)
    expected = ((x[0] + x[1]) + x[2]) + x[3]
    for r in range(RANKS):
        np.testing.assert_array_equal(out[r], expected)


def test_all_reduce_bf16_rounds_the_fp32_sum_once() -> None:
    x = np.random.default_rng(1).standard_normal((RANKS, 8, 16)).astype(ml_dtypes.bfloat16)
    out = nki.simulate(all_reduce_sbuf[RANKS])(x)
    f = x.astype(np.float32)
    expected = (((f[0] + f[1]) + f[2]) + f[3]).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(out[2], expected)


@nki.jit
def subgroups_max(x: Any) -> Any:
    """Two groups {0, 2} and {1, 3}: max within each."""
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    t = _rank_tile(x, r)
    m = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.sbuf)
    ncc.all_reduce(srcs=[t], dsts=[m], replica_group=[[0, 2], [1, 3]], op=nl.maximum)
    nisa.dma_copy(dst=out[r], src=m)
    return out


def test_replica_subgroups_reduce_separately() -> None:
    x = np.random.default_rng(2).standard_normal((RANKS, 4, 8)).astype(np.float32)
    out = nki.simulate(subgroups_max[RANKS])(x)
    np.testing.assert_array_equal(out[0], np.maximum(x[0], x[2]))
    np.testing.assert_array_equal(out[3], np.maximum(x[1], x[3]))


@nki.jit
def gather_scatter_permute(x: Any) -> tuple[Any, Any, Any, Any]:
    """HBM collectives: all_gather, reduce_scatter, all_to_all and a ring permute of x[r] ([8, 4])."""
    n, rows, cols = x.shape
    gathered = nl.ndarray((n, n * rows, cols), dtype=x.dtype, buffer=nl.shared_hbm)
    scattered = nl.ndarray((n, rows // n, cols), dtype=x.dtype, buffer=nl.shared_hbm)
    swapped = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    ring = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    group = [list(range(n))]
    ncc.all_gather(srcs=[x[r]], dsts=[gathered[r]], replica_group=group, collective_dim=0)
    ncc.reduce_scatter(srcs=[x[r]], dsts=[scattered[r]], replica_group=group, collective_dim=0, op=nl.add)
    ncc.all_to_all(srcs=[x[r]], dsts=[swapped[r]], replica_group=group, collective_dim=0)
    ncc.collective_permute_implicit(
        srcs_by_channel=[[x[r]]], dsts_by_channel=[[ring[r]]], replica_group=group
    )
    return gathered, scattered, swapped, ring


def test_gather_scatter_all_to_all_and_ring() -> None:
    x = np.random.default_rng(3).standard_normal((RANKS, 8, 4)).astype(np.float32)
    gathered, scattered, swapped, ring = nki.simulate(gather_scatter_permute[RANKS])(x)
    total = ((x[0] + x[1]) + x[2]) + x[3]
    for r in range(RANKS):
        np.testing.assert_array_equal(gathered[r], np.concatenate(list(x), axis=0))
        np.testing.assert_array_equal(scattered[r], total[2 * r : 2 * r + 2])
        # chunk r (rows 2r, 2r+1) of every source, in source order
        np.testing.assert_array_equal(
            swapped[r], np.concatenate([x[s][2 * r : 2 * r + 2] for s in range(RANKS)])
        )
        np.testing.assert_array_equal(ring[r], x[(r - 1) % RANKS])


@nki.jit
def permute_pairs(x: Any) -> Any:
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    ncc.collective_permute(srcs=[x[r]], dsts=[out[r]], source_target_pairs=[(0, 1), (1, 0), (2, 3), (3, 2)])
    return out


def test_collective_permute_swaps_pairs() -> None:
    x = np.arange(RANKS * 6, dtype=np.float32).reshape(RANKS, 2, 3)
    out = nki.simulate(permute_pairs[RANKS])(x)
    np.testing.assert_array_equal(out, x[[1, 0, 3, 2]])


@nki.jit
def send_to_peer(x: Any) -> Any:
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    r = nl.program_id(0)
    mine = _rank_tile(x, r)
    got = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.sbuf)
    nisa.sendrecv(src=mine, dst=got, send_to_rank=1 - r, recv_from_rank=1 - r, pipe_id=0)
    nisa.dma_copy(dst=out[r], src=got)
    return out


def test_sendrecv_exchanges_between_two_cores() -> None:
    x = np.random.default_rng(4).standard_normal((2, 16, 8)).astype(np.float32)
    out = nki.simulate(send_to_peer[2])(x)
    np.testing.assert_array_equal(out, x[[1, 0]])


@legacy_jit
def legacy_all_reduce(x: Any) -> Any:
    """Legacy nl.all_reduce over program axis 1 of a [2, 2] grid, and nccl.all_reduce over all four."""
    out = lnl.ndarray((2, 2, *x.shape[2:]), dtype=x.dtype, buffer=lnl.shared_hbm)
    both = lnl.ndarray((2, 2, *x.shape[2:]), dtype=x.dtype, buffer=lnl.shared_hbm)
    i, j = lnl.program_id(0), lnl.program_id(1)
    t = lnl.load(x[i, j])
    s = lnl.all_reduce(t, op=np.add, program_axes=[1])
    lnl.store(out[i, j], value=s)
    everyone = lnl.ndarray(t.shape, dtype=t.dtype, buffer=lnl.sbuf)
    nccl.all_reduce(op=np.add, srcs=[t], dsts=[everyone], replica_groups=[[0, 1, 2, 3]], dtype=t.dtype)
    lnl.store(both[i, j], value=everyone)
    return out, both


def test_legacy_all_reduce_over_program_axes_and_nccl() -> None:
    x = np.random.default_rng(5).standard_normal((2, 2, 8, 4)).astype(np.float32)
    out, both = legacy_all_reduce[2, 2](x)
    for i in range(2):
        for j in range(2):
            np.testing.assert_array_equal(out[i, j], x[i, 0] + x[i, 1])
            np.testing.assert_array_equal(both[i, j], ((x[0, 0] + x[0, 1]) + x[1, 0]) + x[1, 1])


def test_collective_without_ranks_is_one_clear_error() -> None:
    x = np.zeros((RANKS, 4, 4), np.float32)
    with pytest.raises(KernelError, match="multi-rank SPMD launch"):
        nki.simulate(all_reduce_sbuf)(x)


@nki.jit
def rank_skips_collective(x: Any) -> Any:
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    t = _rank_tile(x, r)
    if r != 3:  # host-side Python: rank 3 never arrives
        ncc.all_reduce(srcs=[t], dsts=[t], replica_group=[[0, 1, 2, 3]], op=nl.add)
    nisa.dma_copy(dst=out[r], src=t)
    return out


def test_missing_rank_is_a_deadlock_error() -> None:
    x = np.zeros((RANKS, 4, 4), np.float32)
    with pytest.raises(KernelError, match="collective deadlock"):
        nki.simulate(rank_skips_collective[RANKS])(x)


def test_dst_shape_checked_at_the_call() -> None:
    @nki.jit
    def bad(x: Any) -> Any:
        out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
        r = ncc.rank_id()
        ncc.all_gather(srcs=[x[r]], dsts=[out[r]], replica_group=[[0, 1, 2, 3]], collective_dim=0)
        return out

    with pytest.raises(KernelError, match="this collective writes"):
        nki.simulate(bad[RANKS])(np.zeros((RANKS, 4, 4), np.float32))


def test_trace_records_one_collective_per_rank() -> None:
    x = np.zeros((RANKS, 32, 16), np.float32)
    trace = trace_kernel(all_reduce_sbuf[RANKS], x, target="trn2")
    records = [i for i in trace.instructions if i.engine == Engine.COLLECTIVE]
    assert [i.program_id for i in records] == [(r,) for r in range(RANKS)]
    assert {i.attrs["meeting"] for i in records} == {"[0, 1, 2, 3]#0"}
    assert all(i.attrs["bytes"] == 32 * 16 * 4 and i.attrs["collective"] == "all_reduce" for i in records)


@nki.jit
def exchange_halves(x: Any) -> Any:
    """Each core writes its half of a shared_hbm buffer, waits at core_barrier, reads the other half."""
    buf = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    r = nl.program_id(0)
    nisa.dma_copy(dst=buf[r], src=_rank_tile(x, r))
    nisa.core_barrier(buf, (0, 1))
    nisa.dma_copy(dst=out[r], src=_rank_tile(buf, 1 - r))
    return out


def test_core_barrier_orders_the_two_cores() -> None:
    # Without the meeting, rank 0 would read rank 1's half before rank 1 wrote it (NaN).
    x = np.random.default_rng(6).standard_normal((2, 4, 8)).astype(np.float32)
    out = nki.simulate(exchange_halves[2])(x)
    np.testing.assert_array_equal(out, x[[1, 0]])
