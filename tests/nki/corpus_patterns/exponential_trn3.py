"""Current `nisa.exponential(dst, src, max_value=, reduce_res=, reduce_init=)` (v4, VectorE):
`exp(src - max)` with a [P, 1] or scalar max and the row sum, as softmax kernels use it."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit(platform_target="trn3")
def softmax_rows(x):
    out = nl.ndarray((2, 128, 256), dtype=nl.float32, buffer=nl.shared_hbm)
    sums = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.ndarray((128, 256), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=x)
    mx = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_reduce(dst=mx, op=nl.maximum, data=t, axis=1)
    e = nl.ndarray((128, 256), dtype=nl.float32, buffer=nl.sbuf)
    s = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.exponential(dst=e, src=t, max_value=mx, reduce_res=s, reduce_init=1.0)
    nisa.dma_copy(dst=out[0], src=e)
    nisa.dma_copy(dst=sums, src=s)
    e2 = nl.ndarray((128, 256), dtype=nl.float32, buffer=nl.sbuf)
    nisa.exponential(e2, t)  # max_value defaults to 0.0
    nisa.dma_copy(dst=out[1], src=e2)
    return out, sums


if __name__ == "__main__":
    x = np.random.randn(128, 256).astype(np.float32)
    out, sums = softmax_rows(x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    eps = np.finfo(np.float32).eps
    ok = np.allclose(out[0], e, rtol=4 * eps, atol=0) and np.allclose(out[1], np.exp(x), rtol=4 * eps, atol=0)
    # fp32 sum of 256 terms in [0, 1] plus 1.0
    ok &= np.allclose(sums[:, 0], e.astype(np.float64).sum(axis=1) + 1.0, rtol=256 * eps)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
