"""``if tile:`` has no trace-time value: the compiler's err_ambiguous_tensor_truth_value
(nki-semantics §6)."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def truthy(x):
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    t = nl.load(x)
    if t:
        t = nl.exp(t)
    nl.store(out, value=t)
    return out


if __name__ == "__main__":
    truthy(np.ones((128, 4), np.float32))
