"""SwiGLU MLP: ``out = (silu(x W_gate) ∘ (x W_up)) W_down``, fused in one kernel.

Shapes: ``x`` [T, H], ``w_gate`` and ``w_up`` [H, F], ``w_down`` [F, H]; returns [T, H] in the
input dtype. The intermediate ``h = silu(g) ∘ u`` is rounded to the input dtype (as a framework
would store it) and never leaves SBUF.

Algorithm, per block of ``TT`` tokens (``TT`` ∈ {512, 256, 128}, the largest that divides T and
fits the SBUF plan of :func:`plan_mlp`, with weight strips of 512, 256 or 128 columns):

1. the token rows are loaded and transposed on TensorE into ``X^T`` [H, TT] (H on partitions);
2. for each 128-wide slice ``f`` of F (weights loaded in strips of ``strip`` columns):
   ``G^T_f = W_gate[:, f]^T X^T`` and ``U^T_f`` accumulate over H in PSUM — the weight tile is
   the stationary operand, the tokens stream as the moving one, so the result comes out with F
   on partitions, which is exactly the stationary layout the down projection needs: no
   transpose of ``h`` at all. ScalarE computes ``silu(G^T)``, VectorE multiplies by ``U^T``;
3. ``out[tokens, c] = Σ_f h^T_f[:, tokens]^T W_down[f, c]`` accumulates in PSUM over F for
   each column chunk ``c`` of up to 512, one accumulator per 128 tokens.

Limits: T, H, F multiples of 128; SBUF must hold ``X^T`` and ``h^T`` for one token block
(``(H + F)·TT·bytes/128`` per partition) plus the weight strips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trnsim.kernels.tiling import KernelShapeError, require, require_multiple, require_rank, tile_size
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

#: Share of the per-partition SBUF the plan may fill; the rest is left to the instruction
#: temporaries (a few fp32 [128, ≤512] tiles).
SBUF_PLAN_FRACTION = 0.9
#: Token blocks and weight-strip widths tried, largest first (512 = the moving-tile limit).
TOKEN_BLOCKS = (512, 256, 128)
STRIPS = (512, 256, 128)


@dataclass(frozen=True, slots=True)
class MlpPlan:
    """Token block and weight-strip width of one :func:`swiglu_mlp` launch, and its SBUF use."""

    token_block: int
    strip: int
    sbuf_bytes_per_partition: int


def plan_mlp(tokens: int, hidden: int, ffn: int, in_bytes: int, budget_bytes_per_partition: int) -> MlpPlan:
    """The largest token block (fewest weight re-reads), then the widest strip, that fit the budget.

    Per partition: ``X^T`` (H/128·TT) and ``h^T`` (F/128·TT) and one row block (H) in the input
    dtype; the gate and up strips (2·H/128·strip) and the down-projection tile (512), both
    double-buffered (×2: the next load overlaps the current matmuls); the fp32 silu output (TT·4).
    Both sizes must divide ``tokens`` and ``ffn``.
    """
    for tt in TOKEN_BLOCKS:
        if tokens % tt:
            continue
        for strip in STRIPS:
            if ffn % strip:
                continue
            need = (
                (hidden // 128 + ffn // 128) * tt * in_bytes
                + hidden * in_bytes
                + 2 * (2 * (hidden // 128) * strip * in_bytes + 512 * in_bytes)
                + tt * 4
            )
            if need <= budget_bytes_per_partition:
                return MlpPlan(tt, strip, need)
    raise KernelShapeError(
        f"swiglu_mlp: hidden={hidden}, ffn={ffn} need more than the SBUF budget of "
        f"{budget_bytes_per_partition} bytes per partition even for 128-token blocks and 128-column strips"
    )


@jit
def swiglu_mlp(x: Any, w_gate: Any, w_up: Any, w_down: Any) -> Any:
    """Return ``(silu(x @ w_gate) * (x @ w_up)) @ w_down`` for x [T, H]."""
    kernel = "swiglu_mlp"
    require_rank(kernel, "x", x.shape, 2)
    t_size, hidden = (int(d) for d in x.shape)
    ffn = int(w_gate.shape[1]) if len(w_gate.shape) == 2 else -1
    for name, w, shape in (
        ("w_gate", w_gate, (hidden, ffn)),
        ("w_up", w_up, (hidden, ffn)),
        ("w_down", w_down, (ffn, hidden)),
    ):
        require(
            tuple(w.shape) == shape and w.dtype == x.dtype,
            kernel,
            f"'{name}' is {tuple(w.shape)} {w.dtype}; expected {shape} {x.dtype} for x {tuple(x.shape)}",
        )
    p = nl.tile_size.pmax
    require_multiple(kernel, "tokens (rows of x)", t_size, p)
    require_multiple(kernel, "hidden size", hidden, p)
    require_multiple(kernel, "ffn size", ffn, p)
    dt = x.dtype
    in_bytes = np.dtype(dt).itemsize
    budget = int(nl.tile_size.total_available_sbuf_size * SBUF_PLAN_FRACTION)
    plan = plan_mlp(t_size, hidden, ffn, in_bytes, budget)
    tt, strip = plan.token_block, plan.strip
    col = tile_size(hidden, nl.tile_size.gemm_moving_fmax, p)
    out = nl.ndarray((t_size, hidden), dtype=dt, buffer=nl.shared_hbm)

    for t in nl.affine_range(t_size // tt):
        _token_block(x, w_gate, w_up, w_down, out, t * tt, tt, strip, col)
    return out


# The loop bodies below are functions so that their tiles die when they return: the next
# iteration's tiles then take their place instead of adding to the live set (which the
# simulator checks against the SBUF and PSUM capacities).


def _token_block(
    x: Any, w_gate: Any, w_up: Any, w_down: Any, out: Any, row0: Any, tt: int, strip: int, col: int
) -> None:
    """The whole MLP for tokens ``[row0, row0 + tt)``."""
    p = nl.tile_size.pmax
    dt = x.dtype
    hidden, ffn = int(x.shape[1]), int(w_gate.shape[1])
    h_tiles, f_tiles, subs = hidden // p, ffn // p, tt // p
    x_t = nl.ndarray((h_tiles, nl.par_dim(p), tt), dtype=dt, buffer=nl.sbuf)
    for s in nl.affine_range(subs):
        rows = nl.load(x[row0 + s * p : row0 + (s + 1) * p, :])
        for kh in nl.affine_range(h_tiles):
            x_t[kh, :, s * p : (s + 1) * p] = nl.copy(
                nisa.nc_transpose(rows[:, kh * p : (kh + 1) * p]), dtype=dt
            )
    h_t = nl.ndarray((f_tiles, nl.par_dim(p), tt), dtype=dt, buffer=nl.sbuf)
    for fs in nl.affine_range(ffn // strip):
        wg = nl.ndarray((h_tiles, nl.par_dim(p), strip), dtype=dt, buffer=nl.sbuf)
        wu = nl.ndarray((h_tiles, nl.par_dim(p), strip), dtype=dt, buffer=nl.sbuf)
        for kh in nl.affine_range(h_tiles):
            wg[kh] = nl.load(w_gate[kh * p : (kh + 1) * p, fs * strip : (fs + 1) * strip])
            wu[kh] = nl.load(w_up[kh * p : (kh + 1) * p, fs * strip : (fs + 1) * strip])
        for fi in nl.affine_range(strip // p):
            h_t[fs * (strip // p) + fi] = _hidden_tile(wg, wu, x_t, fi, h_tiles, tt, dt)
    for c in nl.affine_range(hidden // col):
        _down_projection(h_t, w_down, out, row0, c * col, col, f_tiles, subs, dt)


def _hidden_tile(wg: Any, wu: Any, x_t: Any, fi: Any, h_tiles: int, tt: int, dt: Any) -> Any:
    """``h^T`` for the ``fi``-th 128 columns of the strip: ``silu(Wg^T X^T) ∘ (Wu^T X^T)``, [128, TT]."""
    p = nl.tile_size.pmax
    g_psum = nl.zeros((p, tt), dtype=nl.float32, buffer=nl.psum)
    u_psum = nl.zeros((p, tt), dtype=nl.float32, buffer=nl.psum)
    for kh in nl.affine_range(h_tiles):
        g_psum += nisa.nc_matmul(wg[kh, :, fi * p : (fi + 1) * p], x_t[kh])
        u_psum += nisa.nc_matmul(wu[kh, :, fi * p : (fi + 1) * p], x_t[kh])
    gate = nisa.activation(op=nl.silu, data=g_psum, dtype=nl.float32)
    return nisa.tensor_tensor(gate, u_psum, np.multiply, dtype=dt)


def _down_projection(
    h_t: Any, w_down: Any, out: Any, row0: Any, col0: Any, col: int, f_tiles: int, subs: int, dt: Any
) -> None:
    """``out[row0 : row0 + TT, col0 : col0 + col] = h W_down[:, cols]``, accumulated in PSUM over F."""
    p = nl.tile_size.pmax
    acc = nl.zeros((subs, nl.par_dim(p), col), dtype=nl.float32, buffer=nl.psum)
    for f in nl.affine_range(f_tiles):
        wd = nl.load(w_down[f * p : (f + 1) * p, col0 : col0 + col])
        for s in nl.affine_range(subs):
            acc[s] += nisa.nc_matmul(h_t[f, :, s * p : (s + 1) * p], wd)
    for s in nl.affine_range(subs):
        row = row0 + s * p
        nl.store(out[row : row + p, col0 : col0 + col], value=nl.copy(acc[s], dtype=dt))
