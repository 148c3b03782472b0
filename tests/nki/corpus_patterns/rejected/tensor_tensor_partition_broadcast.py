"""nisa.tensor_tensor does not broadcast (nki-semantics §5): [128, 512] with [1, 512] is the
compiler's err_num_partition_mismatch; nl.add would broadcast."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def no_broadcast(x, row):
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nisa.tensor_tensor(nl.load(x), nl.load(row), op=nl.add))
    return out


if __name__ == "__main__":
    no_broadcast(np.ones((128, 512), np.float32), np.ones((1, 512), np.float32))
