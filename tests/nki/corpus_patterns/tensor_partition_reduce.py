"""`nisa.tensor_partition_reduce`: GpSimdE reduction across partitions into a [1, F...] tile
(legacy `(op, data)`, current `(dst, op, data)` with `nl.average`)."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def legacy_reduce(x, bits):
    out = nl.ndarray((2, 1, 32, 4), dtype=nl.float32, buffer=nl.shared_hbm)
    outb = nl.ndarray((1, 64), dtype=nl.int32, buffer=nl.shared_hbm)
    t = nl.load(x)  # [128, 32, 4]
    nl.store(out[0], value=nisa.tensor_partition_reduce(np.add, t))
    nl.store(out[1], value=nisa.tensor_partition_reduce(op=np.max, data=t))
    nl.store(outb, value=nisa.tensor_partition_reduce(np.bitwise_or, nl.load(bits)))
    return out, outb


def current_average(x):
    import nki.isa as cisa
    import nki.language as cnl

    @nki_current.jit
    def kernel(a):
        out = cnl.ndarray((1, 128), dtype=cnl.float32, buffer=cnl.shared_hbm)
        t = cnl.ndarray((64, 128), dtype=cnl.float32, buffer=cnl.sbuf)
        cisa.dma_copy(dst=t, src=a)
        r = cnl.ndarray((1, 128), dtype=cnl.float32, buffer=cnl.sbuf)
        cisa.tensor_partition_reduce(dst=r, op=cnl.average, data=t)
        cisa.dma_copy(dst=out, src=r)
        return out

    return kernel(x)


if __name__ == "__main__":
    import nki as nki_current

    x = np.random.rand(128, 32, 4).astype(np.float32)
    bits = np.random.randint(0, 2**20, size=(128, 64)).astype(np.int32)
    y = np.random.rand(64, 128).astype(np.float32)
    out, outb = legacy_reduce(x, bits)
    avg = current_average(y)
    tol = 128 * np.finfo(np.float32).eps  # fp32 sum of 128 terms in some order
    ok = np.allclose(out[0, 0], x.astype(np.float64).sum(0), rtol=tol)
    ok &= np.array_equal(out[1, 0], x.max(0))
    ok &= np.array_equal(outb[0], np.bitwise_or.reduce(bits, axis=0))
    ok &= np.allclose(avg[0], y.astype(np.float64).mean(0), rtol=64 * np.finfo(np.float32).eps)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
