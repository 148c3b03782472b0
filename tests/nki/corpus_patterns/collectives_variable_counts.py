"""Issue 10 (collectives, run-time counts): ``nki.collectives.all_gather_v`` and ``all_to_all_v``
across 4 SPMD ranks, counts and displacements read from each rank's metadata tensor (rows of dim
0; layout as trnsim.nki.collectives_v documents, after MPI's Allgatherv/Alltoallv).

Reference from that layout only: rank s's rows land at its displacement on the receivers; rows
nothing lands on keep their earlier contents (here -1).
"""

import nki.collectives as ncc
import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki

R, ROWS, COLS = 4, 8, 16
GATHER_COUNTS = [3, 1, 4, 2]  # rows rank s contributes
# SEND[s][j]: rows rank s sends to rank j (from sdispl SDISPL[s][j] of its src)
SEND = np.array([[1, 2, 0, 1], [2, 0, 1, 1], [0, 3, 2, 0], [1, 1, 1, 2]])
SDISPL = np.array([[0, 2, 4, 5], [1, 3, 3, 6], [0, 0, 3, 5], [6, 4, 2, 0]])
RDISPL_GATHER = [6, 0, 1, 9]  # has_rdispls: blocks placed out of order in a 16-row dst


@nki.jit
def variable(x, fill, gather_meta, gather_meta_known, a2a_meta):
    group = ncc.ReplicaGroup([list(range(R))])
    r = ncc.rank_id()
    g_out = nl.ndarray((R, 10, COLS), dtype=x.dtype, buffer=nl.shared_hbm)
    g2_out = nl.ndarray((R, 16, COLS), dtype=x.dtype, buffer=nl.shared_hbm)
    a_out = nl.ndarray((R, 12, COLS), dtype=x.dtype, buffer=nl.shared_hbm)
    src = nl.ndarray((ROWS, COLS), dtype=x.dtype, buffer=nl.private_hbm)
    nisa.dma_copy(dst=src, src=x[r])
    gathered = nl.ndarray((10, COLS), dtype=x.dtype, buffer=nl.private_hbm)
    nisa.dma_copy(dst=gathered, src=fill[r, 0:10, :])
    ncc.all_gather_v([src], [gathered], group, gather_meta[r])
    nisa.dma_copy(dst=g_out[r], src=gathered)
    placed = nl.ndarray((16, COLS), dtype=x.dtype, buffer=nl.private_hbm)
    nisa.dma_copy(dst=placed, src=fill[r, 0:16, :])
    ncc.all_gather_v([src], [placed], group, gather_meta_known[r], recv_counts_known=True, has_rdispls=True)
    nisa.dma_copy(dst=g2_out[r], src=placed)
    received = nl.ndarray((12, COLS), dtype=x.dtype, buffer=nl.private_hbm)
    nisa.dma_copy(dst=received, src=fill[r, 0:12, :])
    ncc.all_to_all_v([src], [received], group, a2a_meta[r], recv_counts_known=True)
    nisa.dma_copy(dst=a_out[r], src=received)
    return g_out, g2_out, a_out


if __name__ == "__main__":
    x = np.random.default_rng(3).standard_normal((R, ROWS, COLS)).astype(np.float32)
    fill = np.full((R, 16, COLS), -1.0, np.float32)  # rows nothing lands on keep this
    gather_meta = np.array([[c] for c in GATHER_COUNTS], np.int32)
    gather_meta_known = np.array([[c, *GATHER_COUNTS, *RDISPL_GATHER] for c in GATHER_COUNTS], np.int32)
    a2a_meta = np.array([[*SEND[s], *SDISPL[s], *SEND[:, s]] for s in range(R)], np.int32)
    g_out, g2_out, a_out = variable[R](x, fill, gather_meta, gather_meta_known, a2a_meta)
    ok = True
    for j in range(R):
        want = fill[j, :10].copy()
        row = 0
        for s, c in enumerate(GATHER_COUNTS):
            want[row : row + c] = x[s, :c]
            row += c
        want2 = fill[j, :16].copy()
        for s, c in enumerate(GATHER_COUNTS):
            want2[RDISPL_GATHER[s] : RDISPL_GATHER[s] + c] = x[s, :c]
        want3 = fill[j, :12].copy()
        row = 0
        for s in range(R):
            c = SEND[s][j]
            want3[row : row + c] = x[s, SDISPL[s][j] : SDISPL[s][j] + c]
            row += c
        ok &= np.array_equal(g_out[j], want) and np.array_equal(g2_out[j], want2)
        ok &= np.array_equal(a_out[j], want3)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
