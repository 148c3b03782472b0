"""`nisa.dma_transpose` beyond 2-D (nki-api.md §2.4 / §3.5: axes (1, 0), (2, 1, 0), (3, 1, 2, 0)),
legacy (returns a tile) and current (into `dst` of the permuted shape): a permuting copy, exact."""

import ml_dtypes
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def legacy_transposes(a3, a4):
    o3 = nl.ndarray((8, 4, 16), dtype=nl.bfloat16, buffer=nl.shared_hbm)
    o4 = nl.ndarray((8, 4, 2, 16), dtype=nl.bfloat16, buffer=nl.shared_hbm)
    nl.store(o3, value=nisa.dma_transpose(a3, axes=(2, 1, 0)))
    nl.store(o4, value=nisa.dma_transpose(a4, axes=(3, 1, 2, 0)))
    return o3, o4


def current_transpose(a3):
    import nki.isa as cisa
    import nki.language as cnl

    @nki_current.jit
    def kernel(a):
        out = cnl.ndarray((8, 4, 16), dtype=cnl.bfloat16, buffer=cnl.shared_hbm)
        t = cnl.ndarray((8, 4, 16), dtype=cnl.bfloat16, buffer=cnl.sbuf)
        cisa.dma_transpose(dst=t, src=a, axes=(2, 1, 0))
        cisa.dma_copy(dst=out, src=t)
        return out

    return kernel(a3)


if __name__ == "__main__":
    import nki as nki_current

    a3 = np.random.rand(16, 4, 8).astype(ml_dtypes.bfloat16)
    a4 = np.random.rand(16, 4, 2, 8).astype(ml_dtypes.bfloat16)
    o3, o4 = legacy_transposes(a3, a4)
    ok = np.array_equal(o3, a3.transpose(2, 1, 0)) and np.array_equal(o4, a4.transpose(3, 1, 2, 0))
    ok &= np.array_equal(current_transpose(a3), a3.transpose(2, 1, 0))
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
