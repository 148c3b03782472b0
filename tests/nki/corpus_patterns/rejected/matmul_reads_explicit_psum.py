"""nc_matmul reads SBUF only (nki-semantics §2): a tile the kernel itself placed in PSUM as the
stationary operand is an error, not an implicit copy (err_unsupported_memory)."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def psum_operand(a, b):
    out = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.shared_hbm)
    p = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.psum)
    p[...] = nl.load(a)
    nl.store(out, value=nisa.nc_matmul(p, nl.load(b)))
    return out


if __name__ == "__main__":
    psum_operand(np.ones((128, 128), np.float32), np.ones((128, 128), np.float32))
