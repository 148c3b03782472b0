"""`nisa.dma_copy(..., oob_mode=nisa.oob_mode.skip)` gathering HBM rows by an index tile: rows
whose index is out of bounds are not moved, so the destination keeps what it held (zeros here);
both APIs (legacy `a[ix[i_p, 0], i_f]`, current `.ap(vector_offset=)`). trnsim once moved row 0
for every out-of-bounds index."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def legacy_gather(table, idx):
    out = nl.ndarray((128, 64), dtype=nl.float32, buffer=nl.shared_hbm)
    ix = nl.load(idx)
    rows = nl.zeros((128, 64), dtype=nl.float32)
    i_p = nl.arange(128)[:, None]
    i_f = nl.arange(64)[None, :]
    nisa.dma_copy(dst=rows, src=table[ix[i_p, 0], i_f], oob_mode=nisa.oob_mode.skip)
    nl.store(out, rows)
    return out


def current_gather(table, idx):
    import nki.isa as cisa
    import nki.language as cnl

    @nki_current.jit
    def kernel(t, i):
        out = cnl.ndarray((128, 64), dtype=cnl.float32, buffer=cnl.shared_hbm)
        ix = cnl.ndarray((128, 1), dtype=cnl.int32, buffer=cnl.sbuf)
        cisa.dma_copy(dst=ix, src=i)
        rows = cnl.ndarray((128, 64), dtype=cnl.float32, buffer=cnl.sbuf)
        cisa.memset(dst=rows, value=0.0)
        cisa.dma_copy(
            dst=rows, src=t.ap([[64, 128], [1, 64]], vector_offset=ix), oob_mode=cisa.oob_mode.skip
        )
        cisa.dma_copy(dst=out, src=rows)
        return out

    return kernel(table, idx)


if __name__ == "__main__":
    import nki as nki_current

    table = np.random.rand(100, 64).astype(np.float32)
    idx = np.random.randint(0, 200, (128, 1)).astype(np.int32)  # about half out of bounds
    want = np.where(idx < 100, table[np.minimum(idx[:, 0], 99)], np.float32(0))
    ok = np.array_equal(legacy_gather(table, idx), want)
    ok &= np.array_equal(current_gather(table, idx), want)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
