"""Direct allocation: a 64-partition tile may start at partition 0 or 64 only
(nki-semantics §4); 32 is refused."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def bad_start(a):
    out = nl.ndarray((64, 8), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.ndarray(
        (nl.par_dim(64), 8), dtype=nl.float32, buffer=nki.compiler.sbuf.alloc(lambda i, p, f: (32, 0))
    )
    t[...] = nl.load(a)
    nl.store(out, value=t)
    return out


if __name__ == "__main__":
    bad_start(np.ones((64, 8), np.float32))
