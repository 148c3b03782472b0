"""Issue 10 item 7: ``psum[...] += nisa.nc_matmul(...)`` into a freshly allocated (uninitialised)
PSUM nl.ndarray, as the RMSNorm-QKV kernel does: the first matmul of an accumulation group
overwrites, so the sum starts from zero (nki-semantics §3). Explicit zeroing (nl.zeros, a memset
by assignment) gives the same sum; a PSUM tile reused across output tiles starts a new group
after it has been read."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki

K, M, N = 512, 128, 256


@nki.jit
def qkv_like(xT, w):
    out = nl.ndarray((4, M, N), dtype=nl.float32, buffer=nl.shared_hbm)
    fresh = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.psum)  # uninitialised
    zeroed = nl.zeros((M, N), dtype=nl.float32, buffer=nl.psum)
    memset = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.psum)
    memset[...] = 0.0
    for k in nl.affine_range(K // 128):
        x_t = nl.load(xT[k * 128 : (k + 1) * 128, :])
        w_t = nl.load(w[k * 128 : (k + 1) * 128, :])
        fresh += nisa.nc_matmul(x_t, w_t)
        zeroed += nisa.nc_matmul(x_t, w_t)
        memset[...] += nl.matmul(x_t, w_t, transpose_x=True)
    nl.store(out[0], value=fresh)
    nl.store(out[1], value=zeroed)
    nl.store(out[2], value=memset)
    # the same accumulator reused: after the read above, the next group starts from zero
    for k in nl.affine_range(K // 128):
        fresh += nisa.nc_matmul(
            nl.load(xT[k * 128 : (k + 1) * 128, :]), nl.load(w[k * 128 : (k + 1) * 128, :])
        )
    nl.store(out[3], value=fresh)
    return out


if __name__ == "__main__":
    xT = np.random.rand(K, M).astype(np.float32)
    w = np.random.rand(K, N).astype(np.float32)
    out = qkv_like(xT, w)
    ref = xT.T.astype(np.float64) @ w
    # fp32 accumulation over K=512 products in [0,1): |error| <= K * eps32 * sum|terms| (loose bound)
    tol = K * np.finfo(np.float32).eps * ref.max()
    ok = not np.isnan(out).any() and all(np.abs(out[i] - ref).max() <= tol for i in range(4))
    print("match" if ok else f"MISMATCH {[float(np.nanmax(np.abs(out[i] - ref))) for i in range(4)]}")
    raise SystemExit(0 if ok else 1)
