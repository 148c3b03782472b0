"""An instruction trnsim does not have ends in one line 'not simulated: nisa.<name>' with the
kernel's file:line, not an AttributeError traceback (issue 10 item 10)."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def future(a):
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    t = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=a)
    nisa.instruction_from_the_future(dst=t, src=t)
    return out


if __name__ == "__main__":
    future(np.ones((128, 4), np.float32))
