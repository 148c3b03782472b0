"""private_api.do_while whose body leaves cond non-zero would repeat: a Python ``with`` block
runs once, so trnsim says it cannot replay it (one 'not simulated' line)."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki
from neuronxcc.nki._private.private_api import do_while


@nki.jit
def loops(cond):
    with do_while(cond):
        nl.store(cond, value=nl.load(cond))
    return cond


if __name__ == "__main__":
    loops(np.ones((1, 1), np.uint8))
