"""all_to_all_v with recv_counts_known: a rank that expects more rows than its peer sends is one
KernelError line at the meeting (trnsim.nki.collectives_v; the check is trnsim's, the spec only
says the counts are read at run time)."""

import nki.collectives as ncc
import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki

R = 2


@nki.jit
def mismatch(x, meta):
    out = nl.ndarray((R, 4, 8), dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    src = nl.ndarray((4, 8), dtype=x.dtype, buffer=nl.private_hbm)
    nisa.dma_copy(dst=src, src=x[r])
    dst = nl.ndarray((4, 8), dtype=x.dtype, buffer=nl.private_hbm)
    ncc.all_to_all_v([src], [dst], [[0, 1]], meta[r], recv_counts_known=True)
    nisa.dma_copy(dst=out[r], src=dst)
    return out


if __name__ == "__main__":
    # rank 0 sends [1, 1] from displacements [0, 1] and expects [1, 2]; rank 1 sends [1, 1]
    meta = np.array([[1, 1, 0, 1, 1, 2], [1, 1, 0, 1, 1, 1]], np.int32)
    mismatch[R](np.zeros((R, 4, 8), np.float32), meta)
