"""The trace-time planners that size blocks from the SBUF budget, checked against hand
derivations."""

from __future__ import annotations

import pytest

pytest.importorskip("trnsim.nki.legacy", reason="the kernel layer trnsim.nki.legacy is not available yet")

from trnsim.errors import TrnsimError
from trnsim.kernels.matmul import MatmulTiles, plan_fully_blocked
from trnsim.kernels.mlp import plan_token_block
from trnsim.kernels.tiling import tile_size

TILES = MatmulTiles(k=128, m=128, n=512)


def test_fully_blocked_plan_at_the_issue_shape() -> None:
    """[4096×8192]@[8192×8192] bf16 with a 135,168-byte budget (0.75 × 176 KiB).

    Reads are K·N + K·M·(N/BLOCK_N) bytes·2, so the widest BLOCK_N that fits wins. The fp32
    result block costs (M/128)·BLOCK_N·4 = 128·BLOCK_N bytes: BLOCK_N = 1024 needs 131,072 +
    2,048 (packed output row) + at least 2·(1024 + 128) for one K tile = 135,424 > 135,168, so
    BLOCK_N = 512 (65,536 + 1,024). The K and M blocks then need tk·2·(512 + 128·tm) ≤ 68,608;
    the largest tk (a divisor of 64 K tiles) is 32 with tm ≤ 4.375, so tm = 4:
    65,536 + 1,024 + 32·2·(512 + 512) = 132,096 bytes.
    """
    plan = plan_fully_blocked(8192, 4096, 8192, TILES, 2, 2, 135_168)
    assert (plan.tiles_in_block_m, plan.tiles_in_block_n, plan.tiles_in_block_k) == (4, 1, 32)
    assert plan.sbuf_bytes_per_partition == 132_096
    # rhs once (8192·8192·2) + lhsT once per n block (16 × 8192·4096·2).
    assert plan.hbm_read_bytes == 8192 * 8192 * 2 + 16 * 8192 * 4096 * 2


def test_fully_blocked_plan_prefers_wide_n_when_m_is_small() -> None:
    """M = 128: the result block is 1·BLOCK_N·4 bytes, so all N = 2048 columns fit (8 KiB) and
    lhsT is read once: reads = (K·N + K·M)·2."""
    plan = plan_fully_blocked(1024, 128, 2048, TILES, 2, 2, 135_168)
    assert plan.tiles_in_block_n == 4
    assert plan.hbm_read_bytes == (1024 * 2048 + 1024 * 128) * 2


def test_fully_blocked_plan_rejects_impossible_budget() -> None:
    with pytest.raises(TrnsimError, match="SBUF budget"):
        plan_fully_blocked(1024, 4096, 2048, TILES, 2, 2, 10_000)


def test_swiglu_token_block() -> None:
    """H = 3072, F = 8192, bf16, 512-column strips, budget 135,168 bytes.

    TT = 512: (24 + 64)·512·2 + 3072·2 + 2·24·512·2 + 512·2 + 512·4 = 90,112 + 6,144 + 49,152 +
    1,024 + 2,048 = 148,480 > budget. TT = 256: 45,056 + 6,144 + 49,152 + 1,024 + 1,024 = 102,400.
    """
    assert plan_token_block(8192, 3072, 8192, 512, 2, 135_168) == 256
    assert plan_token_block(128, 3072, 8192, 512, 2, 135_168) == 128


def test_tile_size_picks_largest_divisor() -> None:
    assert tile_size(384, 512, 128) == 384  # fits one tile
    assert tile_size(1536, 512, 128) == 512
    assert tile_size(640, 512, 128) == 128  # 640 = 5·128: no larger multiple of 128 divides it
    assert tile_size(49152, 512, 128) == 512
