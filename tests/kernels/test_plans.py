"""The trace-time planners that size blocks from the SBUF budget, checked against hand
derivations."""

from __future__ import annotations

import pytest

pytest.importorskip("trnsim.nki.legacy", reason="the kernel layer trnsim.nki.legacy is not available yet")

from trnsim.errors import TrnsimError
from trnsim.kernels.matmul import MatmulTiles, plan_blocked_free, plan_fully_blocked
from trnsim.kernels.mlp import MlpPlan, plan_mlp
from trnsim.kernels.tiling import tile_size

TILES = MatmulTiles(k=128, m=128, n=512)


def test_fully_blocked_plan_at_the_issue_shape() -> None:
    """[4096×8192]@[8192×8192] bf16 with a 162,201-byte budget (0.9 × 176 KiB).

    Reads are (K·N + K·M·N/BLOCK_N)·2 bytes, so the widest BLOCK_N that fits wins. The fp32
    result block, double-buffered, costs 2·(M/128)·BLOCK_N·4 = 256·BLOCK_N bytes: BLOCK_N = 1024
    needs 262,144 (too much); BLOCK_N = 512 needs 131,072 + 1,024 (packed output row) = 132,096,
    leaving 30,105 for the double-buffered K blocks, 2·tk·(512 + 128·tm)·2 bytes:
    tk·(512 + 128·tm) ≤ 7,526. tk = 16 cannot fit tm = 1 (10,240); tk = 8 allows tm ≤ 3.3, and
    the largest divisor of the 32 M tiles below that is 2: 132,096 + 4·8·768 = 156,672 bytes.
    """
    plan = plan_fully_blocked(8192, 4096, 8192, TILES, 2, 2, 162_201)
    assert (plan.tiles_in_block_m, plan.tiles_in_block_n, plan.tiles_in_block_k) == (2, 1, 8)
    assert plan.sbuf_bytes_per_partition == 156_672
    # rhs once (8192·8192·2) + lhsT once per n block (16 × 8192·4096·2).
    assert plan.hbm_read_bytes == 8192 * 8192 * 2 + 16 * 8192 * 4096 * 2


def test_fully_blocked_plan_prefers_wide_n_when_m_is_small() -> None:
    """M = 128: the result block is 2·1·BLOCK_N·4 bytes, so all N = 2048 columns fit (16 KiB) and
    lhsT is read once: reads = (K·N + K·M)·2."""
    plan = plan_fully_blocked(1024, 128, 2048, TILES, 2, 2, 162_201)
    assert plan.tiles_in_block_n == 4
    assert plan.hbm_read_bytes == (1024 * 2048 + 1024 * 128) * 2


def test_fully_blocked_plan_keeps_k_blocks_deep() -> None:
    """M = 1024, K = 2048, N = 4096 bf16, budget 162,201. BLOCK_N = 4096 needs 2·8·4096·4 =
    262,144 (too much). BLOCK_N = 2048 needs 131,072 + 4,096, leaving 27,033 — less than the
    minimum 4 double-buffered K tiles, 4·4·(2048 + 128) = 34,816. BLOCK_N = 1024: 65,536 + 2,048,
    leaving 94,617 ≥ 4·tk·(1024 + 128·tm); tk = 16 (all of K) allows tm ≤ 3.5, so tm = 2:
    67,584 + 64·1,280 = 149,504 bytes, and lhsT is read 4 times."""
    plan = plan_fully_blocked(2048, 1024, 4096, TILES, 2, 2, 162_201)
    assert (plan.tiles_in_block_m, plan.tiles_in_block_n, plan.tiles_in_block_k) == (2, 2, 16)
    assert plan.sbuf_bytes_per_partition == 149_504
    assert plan.hbm_read_bytes == (2048 * 4096 + 4 * 2048 * 1024) * 2


def test_fully_blocked_plan_rejects_impossible_budget() -> None:
    with pytest.raises(TrnsimError, match="SBUF budget"):
        plan_fully_blocked(1024, 4096, 2048, TILES, 2, 2, 10_000)


def test_blocked_free_plan_shrinks_to_fit() -> None:
    """K = 8192 (64 tiles) bf16, budget 180,224 − 16,384 = 163,840 bytes.

    L = bm·64·128·2 = bm·16,384 and R = bn·64·512·2 = bn·65,536. (2, 2): L + 2R = 294,912, too
    much; (2, 1): max(2·32,768 + 65,536, 32,768 + 131,072) = 163,840 — fits exactly.
    At K = 1024 the tutorial's (2, 2) fits easily (L + 2R = 4,096 + 32,768).
    """
    assert plan_blocked_free(64, 32, 16, TILES, 2, 163_840, 2, 2) == (2, 1)
    assert plan_blocked_free(8, 4, 4, TILES, 2, 163_840, 2, 2) == (2, 2)
    with pytest.raises(TrnsimError, match="too deep"):
        plan_blocked_free(256, 32, 16, TILES, 2, 163_840, 2, 2)


def test_swiglu_plan() -> None:
    """H = 3072, F = 8192, bf16, budget 162,201 bytes.

    TT = 512, strip 512: (24 + 64)·512·2 + 3072·2 + 2·(2·24·512·2 + 512·2) + 512·4
    = 90,112 + 6,144 + 100,352 + 2,048 = 198,656 > budget. Strip 256: the strip term halves to
    2·(24,576 + 1,024) = 51,200, total 149,504: fits.
    """
    assert plan_mlp(8192, 3072, 8192, 2, 162_201) == MlpPlan(512, 256, 149_504)
    # 384 tokens: 512 does not divide it, 256 neither; 128 does.
    assert plan_mlp(384, 3072, 8192, 2, 162_201).token_block == 128
    with pytest.raises(TrnsimError, match="SBUF budget"):
        plan_mlp(128, 8192, 28672, 2, 50_000)


def test_tile_size_picks_largest_divisor() -> None:
    assert tile_size(384, 512, 128) == 384  # fits one tile
    assert tile_size(1536, 512, 128) == 512
    assert tile_size(640, 512, 128) == 128  # 640 = 5·128: no larger multiple of 128 divides it
    assert tile_size(49152, 512, 128) == 512
