"""The trace-time planners that size blocks from the SBUF budget, checked against hand
derivations."""

from __future__ import annotations

import pytest

pytest.importorskip("trnsim.nki.legacy", reason="the kernel layer trnsim.nki.legacy is not available yet")

from trnsim.errors import TrnsimError
from trnsim.kernels.matmul import MatmulTiles, block_sizes, plan_blocked_free, plan_fully_blocked
from trnsim.kernels.mlp import MlpPlan, plan_mlp
from trnsim.kernels.tiling import tile_size

TILES = MatmulTiles(k=128, m=128, n=512)


def test_fully_blocked_plan_at_the_issue_shape() -> None:
    """[4096×8192]@[8192×8192] bf16 with a 162,201-byte budget (0.9 × 176 KiB).

    With S M tiles per result super-block and BLOCK_N columns, reads are
    (K·N·(32/S) + K·M·(16/tn))·2 bytes = 128 MiB·32/S + 64 MiB·16/tn. The smallest footprint
    for given S and BLOCK_N (tk = 4, the minimum, and tm = 1) is
    2·S·BLOCK_N·4 + 2·BLOCK_N + 2·4·(BLOCK_N + 128)·2 = BLOCK_N·(8S + 18) + 2,048 ≤ 162,201, so
    the largest S (a divisor of 32) is: BLOCK_N = 4096 → S = 2 (2,176 MiB); 2048 → S = 4
    (1,280 MiB); 1024 → S = 16 (768 MiB); 512 → S = 32 (1,152 MiB). The minimum is S = 16,
    BLOCK_N = 1024: fixed 2·16·1024·4 + 2,048 = 133,120, leaving 29,081 ≥ 4·tk·(1024 + 128·tm):
    tk = 8 fails even for tm = 1, tk = 4 allows tm ≤ 6.2, so tm = 4 (a divisor of 16):
    133,120 + 16·1,536 = 157,696.
    """
    plan = plan_fully_blocked(8192, 4096, 8192, TILES, 2, 2, 162_201)
    assert (plan.tiles_in_super_m, plan.tiles_in_block_m, plan.tiles_in_block_n, plan.tiles_in_block_k) == (
        16,
        4,
        2,
        4,
    )
    assert plan.sbuf_bytes_per_partition == 157_696
    assert plan.hbm_read_bytes == (2 * 8192 * 8192 + 8 * 8192 * 4096) * 2


def test_fully_blocked_plan_prefers_wide_n_when_m_is_small() -> None:
    """M = 128: the result block is 2·1·BLOCK_N·4 bytes, so all N = 2048 columns fit (16 KiB) and
    both operands are read once: reads = (K·N + K·M)·2."""
    plan = plan_fully_blocked(1024, 128, 2048, TILES, 2, 2, 162_201)
    assert plan.tiles_in_block_n == 4
    assert plan.hbm_read_bytes == (1024 * 2048 + 1024 * 128) * 2


def test_fully_blocked_plan_keeps_k_blocks_deep() -> None:
    """M = 1024, K = 2048, N = 4096 bf16, budget 162,201. Reads are 16 MiB·⌈8/S⌉ + 4 MiB·⌈8/tn⌉;
    the footprint bound BLOCK_N·(8S + 18) + 2,048 ≤ 162,201 (as above) allows S = 8 (all of M) at
    BLOCK_N 1536 (tn = 3, an uneven split 3 + 3 + 2: 16 + 12 = 28 MiB) but not at 2048 (169,984);
    every even plan reads more (S = 8 at 1024: 32 MiB; S = 4 at 2048: 36 MiB). So S = 8, tn = 3:
    98,304 + 3,072 fixed, leaving 60,825 ≥ 4·tk·(1536 + 128·tm); the deepest K block wins the tie:
    tk = 16 fails even for tm = 1, tk = 8 allows tm ≤ 2.8, so tm = 2: 101,376 + 32·1,792 = 158,720."""
    plan = plan_fully_blocked(2048, 1024, 4096, TILES, 2, 2, 162_201)
    assert (plan.tiles_in_super_m, plan.tiles_in_block_m, plan.tiles_in_block_n, plan.tiles_in_block_k) == (
        8,
        2,
        3,
        8,
    )
    assert plan.sbuf_bytes_per_partition == 158_720
    assert plan.uneven_blocks == 1
    assert plan.hbm_read_bytes == (2048 * 4096 + 3 * 2048 * 1024) * 2


def test_fully_blocked_plan_charges_descriptor_cost_per_row() -> None:
    """The issue shape of the first test with a DMA descriptor cost of 384 bytes per contiguous run.

    S = 16, BLOCK_N = 1024, tk = 4 stay (every other S, BLOCK_N reads more, as above; S = 17 leaves
    no room for a K block). rhs rows are 1024·2 = 2,048-byte runs: 256 MiB · (1 + 384/2,048) =
    304 MiB. lhsT rows are tm·256 bytes: 512 MiB · (1 + 384/(256·tm)), lowest at the widest tm
    that fits: 133,120 + 16·(1024 + 128·tm) ≤ 162,201 gives tm ≤ 6.2, and 6 is a block size of 16
    tiles (⌈16/3⌉: blocks of 6 + 6 + 4, one uneven dimension): 512 · 1.25 = 640 MiB, total 944 MiB;
    SBUF 133,120 + 16·1,792 = 161,792. Without the descriptor cost tm = 4 wins (even blocks)."""
    plan = plan_fully_blocked(8192, 4096, 8192, TILES, 2, 2, 162_201, 384)
    assert (plan.tiles_in_super_m, plan.tiles_in_block_m, plan.tiles_in_block_n, plan.tiles_in_block_k) == (
        16,
        6,
        2,
        4,
    )
    assert (plan.sbuf_bytes_per_partition, plan.uneven_blocks) == (161_792, 1)
    assert plan.dma_cost_bytes == 944 * 2**20
    assert plan.hbm_read_bytes == (2 * 8192 * 8192 + 8 * 8192 * 4096) * 2


def test_block_sizes_are_divisors_and_balanced_splits() -> None:
    """11 tiles: divisors 1, 11; ⌈11/b⌉ for b = 1..11 gives 11, 6, 4, 3, 3, 2, 2, 2, 2, 2, 1."""
    assert block_sizes(11) == [1, 2, 3, 4, 6, 11]
    assert block_sizes(16) == [1, 2, 3, 4, 6, 8, 16]


def test_fully_blocked_plan_takes_any_m() -> None:
    """M = 16384 (a training step's tokens): the super-block keeps the footprint independent of M.
    In MiB, K·N·2 = 128 and K·M·2 = 256; the footprint bound above gives S = 2 at BLOCK_N 4096
    (128·64 + 256·2 = 8,704 MiB), S = 4 at 2048 (128·32 + 256·4 = 5,120), S = 16 at 1024
    (128·8 + 256·8 = 3,072), S = 32 at 512 (128·4 + 256·16 = 4,608): S = 16, BLOCK_N = 1024, rhs
    read 8 times and lhsT 8 times."""
    plan = plan_fully_blocked(8192, 16384, 8192, TILES, 2, 2, 162_201)
    assert (plan.tiles_in_super_m, plan.tiles_in_block_n) == (16, 2)
    assert plan.hbm_read_bytes == (8 * 8192 * 8192 + 8 * 8192 * 16384) * 2


def test_fully_blocked_plan_rejects_impossible_budget() -> None:
    with pytest.raises(TrnsimError, match="SBUF budget"):
        plan_fully_blocked(1024, 4096, 2048, TILES, 2, 2, 8_000)


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
