"""Issue 10 item 7, current API: ``nc_matmul(dst, ..., accumulate=None)`` overwrites on the first
matmul write of a location and adds afterwards, per element (here a group opened on half the
partitions first); ``accumulate=False`` restarts a group; a tensor_copy read closes it."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki

K, M, N = 256, 128, 128


@nki.jit
def groups(aT, b):
    out = nl.ndarray((3, M, N), dtype=nl.float32, buffer=nl.shared_hbm)
    acc = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.psum)
    a_sb = nl.ndarray((128, M), dtype=aT.dtype, buffer=nl.sbuf)
    b_sb = nl.ndarray((128, N), dtype=b.dtype, buffer=nl.sbuf)
    res = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.sbuf)
    # group on the first 64 output rows only, then over all rows: rows 64.. start from zero
    nisa.dma_copy(dst=a_sb, src=aT[0:128, :])
    nisa.dma_copy(dst=b_sb, src=b[0:128, :])
    nisa.nc_matmul(dst=acc[0:64, :], stationary=a_sb[:, 0:64], moving=b_sb)
    for k in range(K // 128):
        nisa.dma_copy(dst=a_sb, src=aT[k * 128 : (k + 1) * 128, :])
        nisa.dma_copy(dst=b_sb, src=b[k * 128 : (k + 1) * 128, :])
        nisa.nc_matmul(dst=acc, stationary=a_sb, moving=b_sb)
    nisa.tensor_copy(dst=res, src=acc)
    nisa.dma_copy(dst=out[0], src=res)
    # after the read, accumulate=None starts a new group: one K tile only
    nisa.nc_matmul(dst=acc, stationary=a_sb, moving=b_sb)
    nisa.tensor_copy(dst=res, src=acc)
    nisa.dma_copy(dst=out[1], src=res)
    # accumulate=False overwrites even inside an open group
    nisa.nc_matmul(dst=acc, stationary=a_sb, moving=b_sb, accumulate=True)
    nisa.nc_matmul(dst=acc, stationary=a_sb, moving=b_sb, accumulate=False)
    nisa.tensor_copy(dst=res, src=acc)
    nisa.dma_copy(dst=out[2], src=res)
    return out


if __name__ == "__main__":
    aT = np.random.rand(K, M).astype(np.float32)
    b = np.random.rand(K, N).astype(np.float32)
    out = groups(aT, b)
    full = aT.T.astype(np.float64) @ b
    first_rows = full.copy()
    first_rows[0:64] += aT[0:128, 0:64].T.astype(np.float64) @ b[0:128]
    last = aT[128:256].T.astype(np.float64) @ b[128:256]
    tol = K * np.finfo(np.float32).eps * first_rows.max()
    errs = [np.abs(out[0] - first_rows).max(), np.abs(out[1] - last).max(), np.abs(out[2] - last).max()]
    ok = max(errs) <= tol
    print("match" if ok else f"MISMATCH {errs}")
    raise SystemExit(0 if ok else 1)
