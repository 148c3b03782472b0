"""Direct allocation: an SBUF byte address must be a multiple of sbuf_min_align
(nki-semantics.md §4; the value is undocumented: trnsim's assumed 4 bytes, from its data file)."""

import neuronxcc.nki.compiler as ncc
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def misaligned(a):
    out = nl.ndarray((128, 8), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.ndarray((nl.par_dim(128), 8), dtype=nl.float32, buffer=ncc.sbuf.alloc(lambda idx, p, f: (0, 6)))
    t[...] = nl.load(a)
    nl.store(out, value=t)
    return out


if __name__ == "__main__":
    misaligned(np.ones((128, 8), np.float32))
