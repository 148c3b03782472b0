"""A call with arguments the simulated signature does not take ends in one 'not simulated' line
(here the current tensor_copy, which has no dtype: nki-semantics §7), not a TypeError traceback."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def copy_dtype(a):
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    t = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.sbuf)
    u = nl.ndarray(a.shape, dtype=nl.bfloat16, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=a)
    nisa.tensor_copy(dst=u, src=t, dtype=nl.bfloat16)
    return out


if __name__ == "__main__":
    copy_dtype(np.ones((128, 4), np.float32))
