"""A tensor method trnsim does not have: one 'not simulated: tensor.<name>' line."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def method(a):
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a).some_future_method())
    return out


if __name__ == "__main__":
    method(np.ones((128, 4), np.float32))
