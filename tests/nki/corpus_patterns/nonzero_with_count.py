"""Current `nisa.nonzero_with_count(dst, src, index_offset=, padding_val=)` (v3+): on partitions
0, 16, ..., 112 the indices of the nonzero elements (+ offset), padding, and the count in column F;
the other partitions keep what they held."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def compact(x):
    out = nl.ndarray((128, 65), dtype=nl.int32, buffer=nl.shared_hbm)
    t = nl.ndarray((128, 64), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=x)
    r = nl.ndarray((128, 65), dtype=nl.int32, buffer=nl.sbuf)
    nisa.memset(dst=r, value=7)
    nisa.nonzero_with_count(dst=r, src=t, index_offset=100, padding_val=-1)
    nisa.dma_copy(dst=out, src=r)
    return out


if __name__ == "__main__":
    x = np.where(np.random.rand(128, 64) < 0.3, np.random.rand(128, 64), 0).astype(np.float32)
    got = compact(x)
    want = np.full((128, 65), 7, np.int64)
    for p in range(0, 128, 16):
        nz = np.flatnonzero(x[p])
        want[p] = -1
        want[p, : nz.size] = nz + 100
        want[p, 64] = nz.size
    ok = np.array_equal(got, want)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
