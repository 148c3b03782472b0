"""`nl.gather_flattened(data, indices)` (both APIs) and the current `nisa.nc_n_gather(dst, data,
indices)`: per partition, a take over the flattened free dims with uint32 indices; the result has
the indices' shape and the data's dtype (copies: exact)."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def legacy_gather(data, idx):
    out = nl.ndarray((128, 4, 8), dtype=nl.bfloat16, buffer=nl.shared_hbm)
    t = nl.load(data)  # [128, 16, 32] bf16
    nl.store(out, value=nl.gather_flattened(t, nl.load(idx)))
    return out


def current_gather(data, idx):
    import nki.isa as cisa
    import nki.language as cnl

    @nki_current.jit
    def kernel(d, i):
        out = cnl.ndarray((2, 128, 4, 8), dtype=cnl.float32, buffer=cnl.shared_hbm)
        t = cnl.ndarray((128, 512), dtype=cnl.float32, buffer=cnl.sbuf)
        cisa.dma_copy(dst=t, src=d.reshape((128, 512)))
        ix = cnl.ndarray((128, 4, 8), dtype=cnl.uint32, buffer=cnl.sbuf)
        cisa.dma_copy(dst=ix, src=i)
        g = cnl.ndarray((128, 4, 8), dtype=cnl.float32, buffer=cnl.sbuf)
        cisa.nc_n_gather(dst=g, data=t, indices=ix)
        cisa.dma_copy(dst=out[0], src=g)
        cisa.dma_copy(dst=out[1], src=cnl.gather_flattened(t, ix))
        return out

    return kernel(data, idx)


if __name__ == "__main__":
    import ml_dtypes

    import nki as nki_current

    data = np.random.rand(128, 16, 32).astype(np.float32)
    idx = np.random.randint(0, 512, size=(128, 4, 8)).astype(np.uint32)
    want = np.take_along_axis(data.reshape(128, 512), idx.reshape(128, 32).astype(np.int64), axis=1)
    want = want.reshape(128, 4, 8)
    bf = data.astype(ml_dtypes.bfloat16)
    got_bf = legacy_gather(bf, idx)
    ok = np.array_equal(np.asarray(got_bf, np.float32), want.astype(ml_dtypes.bfloat16).astype(np.float32))
    cur = current_gather(data, idx)
    ok &= np.array_equal(cur[0], want) and np.array_equal(cur[1], want)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
