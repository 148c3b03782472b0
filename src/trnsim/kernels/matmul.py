"""Matrix multiplication from naive to fully blocked, after the NKI matmul tutorial.

All kernels compute ``result = lhsT.T @ rhs`` for ``lhsT`` [K, M] and ``rhs`` [K, N] in HBM:
the left operand arrives transposed because TensorE contracts over the partition axis of both
operands (layout constraint #1), so ``lhsT`` is the *stationary* operand and ``rhs`` the
*moving* one. Products accumulate in fp32; the result has the input dtype (bf16 for fp8 inputs,
since an fp8 result would discard most of the fp32 accumulation).

The family, in the order of the optimisations (each step keeps the previous ones):

1. :func:`matmul_naive` — one loop nest over (m, n, k) output/contraction tiles; every product
   lands in a fresh PSUM tile and is added into an fp32 SBUF accumulator on VectorE.
2. :func:`matmul_tiled` — the partial products accumulate in PSUM over K (one accumulation group
   per output tile), so VectorE only evacuates PSUM once per output tile.
3. :func:`matmul_hoisted` — the stationary column strip ``lhsT[:, m-tile]`` is loaded once per m
   and reused for every n; the moving tiles of one n strip are loaded together.
4. :func:`matmul_blocked_free` — blocks of several m and n tiles share their loaded strips;
   the moving operand is re-read once per m block instead of once per m tile. The block
   factors (2 × 2 as in the tutorial) shrink until the whole-K strips fit SBUF.
5. :func:`matmul_fully_blocked` — blocks over M, N and K with SBUF-resident blocks whose sizes
   are chosen from the SBUF capacity per partition (``nl.tile_size.total_available_sbuf_size``);
   each result super-block stays in SBUF across the K blocks and leaves in wide, coalesced
   stores. Any M, K (multiples of 128) and any N fit: moving tiles are 512 wide with a narrower
   last one, and a block size need not divide its dimension (the last block takes the rest), as
   the Neuron compiler tiles a GEMM whose sizes are not powers of two.

Shape limits: K and M multiples of 128 (a partial tile would still occupy the whole PE array:
callers pad); stages 1-4 take N ≤ 512 or a multiple of 128 (the moving tile is the largest
multiple of 128 ≤ 512 that divides N). Stages 3 and 4 keep whole-K strips in SBUF
(``K·(128 + 2·512)·bytes/128`` per partition for stage 3), so they stop at K ≈ 9k in bf16 on
trn1; stage 5 has no such limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trnsim.hardware.neuroncore_timing import load_timing
from trnsim.kernels.loops import tile_spans
from trnsim.kernels.tiling import KernelShapeError, require, require_multiple, require_rank, tile_size
from trnsim.nki import language_impl as nl_impl
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

#: Share of the per-partition SBUF the fully blocked kernel plans for; the rest is left to the
#: instruction temporaries (fp32 [128, 512] tiles of the PSUM evacuation and the store path).
SBUF_PLAN_FRACTION = 0.9
#: Fewest K tiles per K block. Each K block ends in one VectorE read-modify-write of the fp32
#: result tile per matmul group, and a [128, 512] fp32 add on VectorE takes about as long as two
#: or three bf16 moving tiles of 512 on TensorE; with at least 4 matmuls per group that work
#: stays below TensorE's. Shallower K blocks leave SBUF for taller result super-blocks, which cut
#: HBM reads: on the chip model at [4096x8192]@[8192x8192] bf16, 4 gives 6.7 ms (90 % of TensorE
#: peak, compute-bound) on trn1 against 9.53 ms (63 %, DMA-bound) with 8; trn2 is 7.70 ms either way.
MIN_TILES_IN_BLOCK_K = 4


@dataclass(frozen=True, slots=True)
class MatmulTiles:
    """Tile sizes of one matmul launch: K and M per stationary tile, N per moving tile."""

    k: int
    m: int
    n: int


def result_dtype(dtype: Any) -> Any:
    """The output dtype for inputs of ``dtype``: the same, except bf16 for 1-byte (fp8) inputs."""
    return nl.bfloat16 if np.dtype(dtype).itemsize == 1 else dtype


def check_matmul(kernel: str, lhsT: Any, rhs: Any, any_n: bool = False) -> tuple[int, int, int, MatmulTiles]:
    """Validate the operands of a matmul kernel; return ``(K, M, N, tiles)``.

    ``any_n``: the kernel takes any N, with moving tiles of the largest size (a narrower last
    tile); otherwise N beyond one tile must be a multiple of 128 and the moving tile divides it.
    """
    require_rank(kernel, "lhsT", lhsT.shape, 2)
    require_rank(kernel, "rhs", rhs.shape, 2)
    k, m = (int(d) for d in lhsT.shape)
    k2, n = (int(d) for d in rhs.shape)
    require(
        k == k2,
        kernel,
        f"contraction sizes differ: lhsT is [K={k}, M={m}] but rhs is [K={k2}, N={n}]",
    )
    require(
        lhsT.dtype == rhs.dtype,
        kernel,
        f"lhsT and rhs must share a dtype; got {lhsT.dtype} and {rhs.dtype}",
    )
    pmax = nl.tile_size.pmax
    tile_m = nl.tile_size.gemm_stationary_fmax
    tile_n = nl.tile_size.gemm_moving_fmax
    require_multiple(kernel, "K (rows of lhsT and rhs)", k, pmax)
    require_multiple(kernel, "M (columns of lhsT)", m, tile_m)
    if any_n:
        require(n > 0, kernel, f"N (columns of rhs) is {n}; it must be positive")
        return k, m, n, MatmulTiles(k=pmax, m=tile_m, n=min(n, tile_n))
    if n > tile_n:
        require_multiple(kernel, f"N (columns of rhs, > {tile_n})", n, pmax)
    return k, m, n, MatmulTiles(k=pmax, m=tile_m, n=tile_size(n, tile_n, pmax))


@jit
def matmul_naive(lhsT: Any, rhs: Any) -> Any:
    """Stage 1: a plain (m, n, k) loop; each product is summed on VectorE, not in PSUM."""
    k_size, m_size, n_size, t = check_matmul("matmul_naive", lhsT, rhs)
    out_dtype = result_dtype(lhsT.dtype)
    result = nl.ndarray((m_size, n_size), dtype=out_dtype, buffer=nl.shared_hbm)
    for m in nl.affine_range(m_size // t.m):
        for n in nl.affine_range(n_size // t.n):
            acc = nl.zeros((t.m, t.n), dtype=nl.float32, buffer=nl.sbuf)
            for k in nl.sequential_range(k_size // t.k):
                lhsT_tile = nl.load(lhsT[k * t.k : (k + 1) * t.k, m * t.m : (m + 1) * t.m])
                rhs_tile = nl.load(rhs[k * t.k : (k + 1) * t.k, n * t.n : (n + 1) * t.n])
                product = nisa.nc_matmul(lhsT_tile, rhs_tile)
                acc[...] = nisa.tensor_tensor(acc, product, np.add, dtype=nl.float32)
            out_tile = nl.copy(acc, dtype=out_dtype)
            nl.store(result[m * t.m : (m + 1) * t.m, n * t.n : (n + 1) * t.n], value=out_tile)
    return result


@jit
def matmul_tiled(lhsT: Any, rhs: Any) -> Any:
    """Stage 2: tiles over M, N, K with the K partial products accumulated in PSUM."""
    k_size, m_size, n_size, t = check_matmul("matmul_tiled", lhsT, rhs)
    out_dtype = result_dtype(lhsT.dtype)
    result = nl.ndarray((m_size, n_size), dtype=out_dtype, buffer=nl.shared_hbm)
    for m in nl.affine_range(m_size // t.m):
        for n in nl.affine_range(n_size // t.n):
            res_psum = nl.zeros((t.m, t.n), dtype=nl.float32, buffer=nl.psum)
            for k in nl.affine_range(k_size // t.k):
                lhsT_tile = nl.load(lhsT[k * t.k : (k + 1) * t.k, m * t.m : (m + 1) * t.m])
                rhs_tile = nl.load(rhs[k * t.k : (k + 1) * t.k, n * t.n : (n + 1) * t.n])
                res_psum += nisa.nc_matmul(lhsT_tile, rhs_tile)
            res_sb = nl.copy(res_psum, dtype=out_dtype)
            nl.store(result[m * t.m : (m + 1) * t.m, n * t.n : (n + 1) * t.n], value=res_sb)
    return result


@jit
def matmul_hoisted(lhsT: Any, rhs: Any) -> Any:
    """Stage 3: the stationary strip of each m is loaded once and reused across all n."""
    k_size, m_size, n_size, t = check_matmul("matmul_hoisted", lhsT, rhs)
    out_dtype = result_dtype(lhsT.dtype)
    result = nl.ndarray((m_size, n_size), dtype=out_dtype, buffer=nl.shared_hbm)
    k_tiles = k_size // t.k
    for m in nl.affine_range(m_size // t.m):
        lhsT_tiles = nl.ndarray((k_tiles, nl.par_dim(t.k), t.m), dtype=lhsT.dtype, buffer=nl.sbuf)
        for k in nl.affine_range(k_tiles):
            lhsT_tiles[k] = nl.load(lhsT[k * t.k : (k + 1) * t.k, m * t.m : (m + 1) * t.m])
        for n in nl.affine_range(n_size // t.n):
            rhs_tiles = nl.ndarray((k_tiles, nl.par_dim(t.k), t.n), dtype=rhs.dtype, buffer=nl.sbuf)
            for k in nl.affine_range(k_tiles):
                rhs_tiles[k] = nl.load(rhs[k * t.k : (k + 1) * t.k, n * t.n : (n + 1) * t.n])
            res_psum = nl.zeros((t.m, t.n), dtype=nl.float32, buffer=nl.psum)
            for k in nl.affine_range(k_tiles):
                res_psum += nisa.nc_matmul(lhsT_tiles[k], rhs_tiles[k])
            res_sb = nl.copy(res_psum, dtype=out_dtype)
            nl.store(result[m * t.m : (m + 1) * t.m, n * t.n : (n + 1) * t.n], value=res_sb)
    return result


#: SBUF per partition left for instruction temporaries (a loaded tile before it is placed in its
#: block, a PSUM evacuation tile) when a kernel sizes its blocks against the full capacity.
SBUF_TEMP_ALLOWANCE_BYTES = 16 * 1024


def plan_blocked_free(
    k_tiles: int,
    m_tiles: int,
    n_tiles: int,
    tiles: MatmulTiles,
    in_bytes: int,
    budget_bytes_per_partition: int,
    preferred_m: int,
    preferred_n: int,
) -> tuple[int, int]:
    """Block factors ``(bm, bn)`` for :func:`matmul_blocked_free`: at most the preferred ones.

    A block keeps whole-K strips: the stationary block needs ``L = bm·k_tiles·128·in_bytes`` and
    the moving block ``R = bn·k_tiles·512·in_bytes`` bytes per partition. A new block is
    allocated while the previous one of the same loop is still live, so the peak is
    ``max(2L + R, L + 2R)``. HBM reads are ``M·K`` plus ``K·N`` per m block, so the largest
    fitting ``bm`` wins, then the largest ``bn``; both must divide their tile counts.
    """

    def divisors(count: int, cap: int) -> list[int]:
        return [d for d in range(min(count, cap), 0, -1) if count % d == 0]

    for bm in divisors(m_tiles, preferred_m):
        for bn in divisors(n_tiles, preferred_n):
            stationary = bm * k_tiles * tiles.m * in_bytes
            moving = bn * k_tiles * tiles.n * in_bytes
            if max(2 * stationary + moving, stationary + 2 * moving) <= budget_bytes_per_partition:
                return bm, bn
    raise KernelShapeError(
        f"matmul_blocked_free: K={k_tiles * tiles.k} is too deep for whole-K strips in "
        f"{budget_bytes_per_partition} bytes of SBUF per partition; use matmul_fully_blocked"
    )


@jit
def matmul_blocked_free(lhsT: Any, rhs: Any, tiles_in_block_m: int = 2, tiles_in_block_n: int = 2) -> Any:
    """Stage 4: blocks of m and n tiles share their strips (fewer HBM re-reads of the moving operand).

    The block factors are at most the preferred ones, reduced until the strips fit SBUF
    (:func:`plan_blocked_free`).
    """
    k_size, m_size, n_size, t = check_matmul("matmul_blocked_free", lhsT, rhs)
    out_dtype = result_dtype(lhsT.dtype)
    result = nl.ndarray((m_size, n_size), dtype=out_dtype, buffer=nl.shared_hbm)
    k_tiles = k_size // t.k
    budget = nl.tile_size.total_available_sbuf_size - SBUF_TEMP_ALLOWANCE_BYTES
    bm_tiles, bn_tiles = plan_blocked_free(
        k_tiles,
        m_size // t.m,
        n_size // t.n,
        t,
        np.dtype(lhsT.dtype).itemsize,
        budget,
        tiles_in_block_m,
        tiles_in_block_n,
    )
    block_m, block_n = bm_tiles * t.m, bn_tiles * t.n
    for m in nl.affine_range(m_size // block_m):
        lhsT_tiles = nl.ndarray((bm_tiles, k_tiles, nl.par_dim(t.k), t.m), dtype=lhsT.dtype, buffer=nl.sbuf)
        for bm in nl.affine_range(bm_tiles):
            col = m * block_m + bm * t.m
            for k in nl.affine_range(k_tiles):
                lhsT_tiles[bm, k] = nl.load(lhsT[k * t.k : (k + 1) * t.k, col : col + t.m])
        for n in nl.affine_range(n_size // block_n):
            rhs_tiles = nl.ndarray((bn_tiles, k_tiles, nl.par_dim(t.k), t.n), dtype=rhs.dtype, buffer=nl.sbuf)
            for bn in nl.affine_range(bn_tiles):
                col = n * block_n + bn * t.n
                for k in nl.affine_range(k_tiles):
                    rhs_tiles[bn, k] = nl.load(rhs[k * t.k : (k + 1) * t.k, col : col + t.n])
            for bm in nl.affine_range(bm_tiles):
                for bn in nl.affine_range(bn_tiles):
                    res_psum = nl.zeros((t.m, t.n), dtype=nl.float32, buffer=nl.psum)
                    for k in nl.affine_range(k_tiles):
                        res_psum += nisa.nc_matmul(lhsT_tiles[bm, k], rhs_tiles[bn, k])
                    res_sb = nl.copy(res_psum, dtype=out_dtype)
                    row = m * block_m + bm * t.m
                    col = n * block_n + bn * t.n
                    nl.store(result[row : row + t.m, col : col + t.n], value=res_sb)
    return result


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """Block sizes of :func:`matmul_fully_blocked`, in tiles, and the SBUF they need per partition.

    ``tiles_in_super_m`` M tiles share one SBUF-resident result block; within it, stationary
    blocks of ``tiles_in_block_m`` tiles stream through. A size need not divide its tile count:
    the last block of a dimension then holds the remaining tiles (``uneven_blocks`` counts the
    dimensions where that happens).
    """

    tiles_in_super_m: int
    tiles_in_block_m: int
    tiles_in_block_n: int
    tiles_in_block_k: int
    sbuf_bytes_per_partition: int
    hbm_read_bytes: int
    uneven_blocks: int = 0
    #: HBM reads plus one descriptor's queue time per contiguous run loaded (what the plan minimises).
    dma_cost_bytes: int = 0


def block_sizes(count: int) -> list[int]:
    """Block sizes worth trying for ``count`` tiles, ascending: every divisor, and for each number of
    blocks ``b`` the smallest size that needs only ``b`` blocks (``ceil(count / b)``, the last block
    holding the rest). Other sizes need as many blocks as one of these and more SBUF."""
    return sorted({d for d in range(1, count + 1) if count % d == 0}
                  | {-(-count // b) for b in range(1, count + 1)})


def plan_fully_blocked(
    k_size: int,
    m_size: int,
    n_size: int,
    tiles: MatmulTiles,
    in_bytes: int,
    out_bytes: int,
    sbuf_budget_bytes_per_partition: int,
    run_overhead_bytes: float = 0.0,
) -> BlockPlan:
    """Choose block sizes for :func:`matmul_fully_blocked` from the SBUF budget.

    The result is computed in super-blocks of ``S`` M tiles × ``BLOCK_N`` columns, each resident
    in SBUF in fp32 across all K blocks. Per partition the kernel keeps a packed output row
    (``BLOCK_N · out_bytes``) and, double-buffered (×2: the next block is allocated while the
    current one is in use, so loads and stores overlap the matmuls), the result super-block
    (``S · BLOCK_N · 4``), one K block of moving tiles (``TK · BLOCK_N · in_bytes``) and one of
    stationary tiles (``TK · BLOCK_M · in_bytes``). HBM reads are ``K·N`` per super-block row
    (rhs once per ``S·128`` rows of M) plus ``K·M`` per n block (lhsT once per n block), times
    ``in_bytes``; a count of blocks is rounded up (the last block holds the remaining tiles).
    Each partition row of a loaded tile is one contiguous run (``BLOCK_N`` columns of rhs,
    ``BLOCK_M`` of lhsT) and costs its DMA queue ``run_overhead_bytes`` more (the descriptor cost
    of the DMA guide: runs under 2 KiB waste much of a queue), so the DMA cost is the reads times
    ``1 + run_overhead_bytes / run``. Among the block sizes of :func:`block_sizes` that fit the
    budget and have at least ``MIN_TILES_IN_BLOCK_K`` K tiles (or all of K), the plan with the
    lowest DMA cost wins; ties go to the plan with fewer uneven dimensions (equal blocks keep every
    block's loop the same), then to the larger K block (fewer SBUF read-modify-writes of the
    result), then the larger M block, then the larger super-block.
    """
    m_tiles, k_tiles = m_size // tiles.m, k_size // tiles.k
    n_tiles = -(-n_size // tiles.n)  # the last moving tile may be narrower
    min_tk = min(MIN_TILES_IN_BLOCK_K, k_tiles)

    best: BlockPlan | None = None
    best_key: tuple[float, int, int, int, int] | None = None
    for ts in block_sizes(m_tiles):
        for tn in block_sizes(n_tiles):
            block_n = tn * tiles.n
            fixed = 2 * ts * block_n * 4 + block_n * out_bytes
            rhs_reads = k_size * n_size * -(-m_tiles // ts) * in_bytes
            lhs_reads = k_size * m_size * -(-n_tiles // tn) * in_bytes
            reads = rhs_reads + lhs_reads
            rhs_cost = rhs_reads * (1 + run_overhead_bytes / (min(block_n, n_size) * in_bytes))
            for tk in (d for d in block_sizes(k_tiles) if d >= min_tk):
                for tm in block_sizes(ts):
                    sbuf = fixed + 2 * tk * (block_n + tm * tiles.m) * in_bytes
                    if sbuf > sbuf_budget_bytes_per_partition:
                        continue
                    cost = rhs_cost + lhs_reads * (1 + run_overhead_bytes / (tm * tiles.m * in_bytes))
                    uneven = (m_tiles % ts > 0) + (n_tiles % tn > 0) + (k_tiles % tk > 0) + (ts % tm > 0)
                    key = (cost, uneven, -tk, -tm, -ts)
                    if best_key is None or key < best_key:
                        best_key = key
                        best = BlockPlan(ts, tm, tn, tk, sbuf, reads, uneven, round(cost))
    if best is None:
        raise KernelShapeError(
            f"matmul_fully_blocked: even one 128-row result block with {min_tk} K tiles needs more than "
            f"the SBUF budget of {sbuf_budget_bytes_per_partition} bytes per partition"
        )
    return best


def dma_run_overhead_bytes() -> float:
    """Queue time of one DMA descriptor (one contiguous run) on the active target, in bytes.

    From the target's timing data (``descriptor_overhead_bytes``, after the DMA guide's advice of
    runs of at least 2 KiB, ideally 4 KiB, per partition), as a kernel author plans with it.
    """
    return float(load_timing(nl_impl.spec_now().name).dma.descriptor_overhead_bytes.value)


@jit
def matmul_fully_blocked(lhsT: Any, rhs: Any) -> Any:
    """Stage 5: blocks over M, N, K sized from the SBUF capacity; result blocks stay in SBUF.

    N need not be a multiple of the moving tile: the last moving tile is narrower. Blocks need not
    divide their dimensions: the last block of each holds the remaining tiles.
    """
    k_size, m_size, n_size, t = check_matmul("matmul_fully_blocked", lhsT, rhs, any_n=True)
    out_dtype = result_dtype(lhsT.dtype)
    result = nl.ndarray((m_size, n_size), dtype=out_dtype, buffer=nl.shared_hbm)
    budget = int(nl.tile_size.total_available_sbuf_size * SBUF_PLAN_FRACTION)
    plan = plan_fully_blocked(
        k_size, m_size, n_size, t, np.dtype(lhsT.dtype).itemsize, np.dtype(out_dtype).itemsize, budget,
        dma_run_overhead_bytes(),
    )
    for row0, rows in tile_spans(m_size, plan.tiles_in_super_m * t.m):
        for col0, cols in tile_spans(n_size, plan.tiles_in_block_n * t.n):
            _result_block(lhsT, rhs, result, row0, col0, rows // t.m, cols, plan, t)
    return result


def _result_block(
    lhsT: Any, rhs: Any, result: Any, row0: Any, col0: Any, ts: int, cols: int, plan: BlockPlan,
    t: MatmulTiles,
) -> None:
    """Compute ``result[row0 : row0 + ts·128, col0 : col0 + cols]`` over all K blocks.

    A function so that the result block dies on return, before the next one is allocated. ``cols``
    is at most ``tiles_in_block_n`` moving tiles; the last tile may be narrower.
    """
    tm, tk = min(plan.tiles_in_block_m, ts), plan.tiles_in_block_k
    tn = -(-cols // t.n)
    out_dtype = result.dtype
    k_size = int(lhsT.shape[0])
    # fp32 accumulators for the whole result block, resident across the K blocks.
    result_tiles = nl.zeros((ts, tn, nl.par_dim(t.m), t.n), dtype=nl.float32, buffer=nl.sbuf)
    # The K loop carries the accumulation in result_tiles: keep it in program order.
    for k0, k_rows in tile_spans(k_size, tk * t.k, sequential=True):
        kt = k_rows // t.k
        rhs_tiles = nl.ndarray((kt, nl.par_dim(t.k), cols), dtype=rhs.dtype, buffer=nl.sbuf)
        for bk in nl.affine_range(kt):
            row = k0 + bk * t.k
            rhs_tiles[bk] = nl.load(rhs[row : row + t.k, col0 : col0 + cols])
        for m0, m_cols in tile_spans(ts * t.m, tm * t.m):
            mt = m_cols // t.m
            lhsT_tiles = nl.ndarray((kt, nl.par_dim(t.k), m_cols), dtype=lhsT.dtype, buffer=nl.sbuf)
            for bk in nl.affine_range(kt):
                row = k0 + bk * t.k
                lhsT_tiles[bk] = nl.load(lhsT[row : row + t.k, row0 + m0 : row0 + m0 + m_cols])
            for n0, width in tile_spans(cols, t.n):
                for bm in nl.affine_range(mt):
                    res_psum = nl.zeros((t.m, width), dtype=nl.float32, buffer=nl.psum)
                    for bk in nl.affine_range(kt):
                        res_psum += nisa.nc_matmul(
                            lhsT_tiles[bk, :, bm * t.m : (bm + 1) * t.m],
                            rhs_tiles[bk, :, n0 : n0 + width],
                        )
                    acc = result_tiles[m0 // t.m + bm, n0 // t.n, :, :width]
                    result_tiles[m0 // t.m + bm, n0 // t.n, :, :width] = nisa.tensor_tensor(
                        acc, res_psum, np.add, dtype=nl.float32
                    )
    # Coalesce the tiles of one row into a [128, cols] tile: one wide store each.
    for mt_i in nl.affine_range(ts):
        packed = nl.ndarray((nl.par_dim(t.m), cols), dtype=out_dtype, buffer=nl.sbuf)
        for n0, width in tile_spans(cols, t.n):
            packed[:, n0 : n0 + width] = nl.copy(result_tiles[mt_i, n0 // t.n, :, :width], dtype=out_dtype)
        row = row0 + mt_i * t.m
        nl.store(result[row : row + t.m, col0 : col0 + cols], value=packed)
