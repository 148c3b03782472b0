"""Legacy `nl.var(x, axis)` (listed with the reductions in nki-api.md §2.2): the population
variance along free axes, integers reduced in fp32 like `nl.mean`."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def variances(x, ints):
    out = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.shared_hbm)
    out3 = nl.ndarray((128, 1, 1), dtype=nl.float32, buffer=nl.shared_hbm)
    outi = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.load(x)
    nl.store(out, value=nl.var(t, axis=1))
    nl.store(out3, value=nl.var(t.reshape((128, 16, 32)), axis=[1, 2], keepdims=True))
    nl.store(outi, value=nl.var(nl.load(ints), axis=1))
    return out, out3, outi


if __name__ == "__main__":
    x = np.random.rand(128, 512).astype(np.float32)
    ints = np.random.randint(-50, 50, size=(128, 64)).astype(np.int32)
    v, v3, vi = variances(x, ints)
    ref = x.astype(np.float64).var(axis=1)
    # fp32 two-pass variance over 512 elements: a few hundred fp32 ulp at most
    tol = 512 * np.finfo(np.float32).eps
    ok = np.allclose(v[:, 0], ref, rtol=tol) and np.allclose(v3[:, 0, 0], ref, rtol=tol)
    ok &= np.allclose(vi[:, 0], ints.astype(np.float64).var(axis=1), rtol=64 * np.finfo(np.float32).eps)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
