"""Direct allocation forbids APIs that create hidden tensors: nl.matmul without
transpose_x=True inserts a TensorE transpose (nki-semantics §4)."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def hidden(a):
    out = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.ndarray((nl.par_dim(128), 128), dtype=nl.float32, buffer=nki.compiler.sbuf.mod_alloc(base_addr=0))
    t[...] = nl.load(a)
    nl.store(out, value=nl.matmul(t, t))
    return out


if __name__ == "__main__":
    hidden(np.ones((128, 128), np.float32))
