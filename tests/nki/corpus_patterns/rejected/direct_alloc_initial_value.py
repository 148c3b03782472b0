"""Direct allocation: a tensor cannot be created with an initial value (nl.zeros), only
nl.ndarray then assignment (nki-semantics §4)."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def init_value(a):
    out = nl.ndarray((128, 8), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.zeros((nl.par_dim(128), 8), dtype=nl.float32, buffer=nki.compiler.sbuf.mod_alloc(base_addr=0))
    nl.store(out, value=t)
    return out


if __name__ == "__main__":
    init_value(np.ones((128, 8), np.float32))
