"""`nisa.sequence_bounds` (legacy `(*, segment_ids)`, current `(dst, segment_ids)`): for packed
sequences, each position's segment start and (exclusive) end; padding id 0 gives (N, -1), so a
`start <= j < end` mask is empty for it."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def legacy_bounds(ids):
    out = nl.ndarray((1, 2, 12), dtype=nl.float32, buffer=nl.shared_hbm)
    nl.store(out, value=nisa.sequence_bounds(segment_ids=nl.load(ids)))
    return out


def current_bounds(ids):
    import nki.isa as cisa
    import nki.language as cnl

    @nki_current.jit
    def kernel(i):
        out = cnl.ndarray((1, 2, 12), dtype=cnl.int32, buffer=cnl.shared_hbm)
        t = cnl.ndarray((1, 12), dtype=cnl.int32, buffer=cnl.sbuf)
        cisa.dma_copy(dst=t, src=i)
        b = cnl.ndarray((1, 2, 12), dtype=cnl.int32, buffer=cnl.sbuf)
        cisa.sequence_bounds(dst=b, segment_ids=t)
        cisa.dma_copy(dst=out, src=b)
        return out

    return kernel(ids)


if __name__ == "__main__":
    import nki as nki_current

    ids = np.array([[1, 1, 1, 2, 2, 3, 3, 3, 3, 0, 0, 0]])
    want = np.array([[[0, 0, 0, 3, 3, 5, 5, 5, 5, 12, 12, 12], [3, 3, 3, 5, 5, 9, 9, 9, 9, -1, -1, -1]]])
    ok = np.array_equal(legacy_bounds(ids.astype(np.float32)), want)
    ok &= np.array_equal(current_bounds(ids.astype(np.int32)), want)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
