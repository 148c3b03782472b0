"""Current `nisa.topk(val_dst, idx_dst, src, n)` (GpSimdE, bf16 as MoE routers use it): the n
largest values per partition, descending, and their indices."""

import ml_dtypes
import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def route(logits):
    vals = nl.ndarray((128, 4), dtype=nl.bfloat16, buffer=nl.shared_hbm)
    idxs = nl.ndarray((128, 4), dtype=nl.uint32, buffer=nl.shared_hbm)
    t = nl.ndarray((128, 64), dtype=nl.bfloat16, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=logits)
    v = nl.ndarray((128, 4), dtype=nl.bfloat16, buffer=nl.sbuf)
    i = nl.ndarray((128, 4), dtype=nl.uint32, buffer=nl.sbuf)
    nisa.topk(v, i, t, 4)
    nisa.dma_copy(dst=vals, src=v)
    nisa.dma_copy(dst=idxs, src=i)
    return vals, idxs


if __name__ == "__main__":
    # distinct values (a permutation of 64 bf16-exact numbers per row): no ties to break
    logits = np.stack([np.random.permutation(64) for _ in range(128)]).astype(ml_dtypes.bfloat16)
    vals, idxs = route(logits)
    x = logits.astype(np.float32)
    want_idx = np.argsort(-x, axis=1)[:, :4]
    ok = np.array_equal(idxs, want_idx)
    ok &= np.array_equal(vals.astype(np.float32), np.take_along_axis(x, want_idx, axis=1))
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
