"""Issue 10 item 11: ``kernel[grid](...)`` returns the kernel's outputs (a tuple for several),
also when only some instances return them; arguments that are array-likes (torch CPU tensors
in harnesses written for torch) are accepted through ``.numpy()`` / ``__array__`` and inputs the
kernel writes are updated in place. A small stand-in class plays the torch tensor."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


class FakeTorchTensor:
    """Enough of torch.Tensor's CPU interface: .numpy() shares memory, as torch's does."""

    def __init__(self, array):
        self._array = array

    def numpy(self):
        return self._array


class ArrayOnly:
    """An array-like with __array__ only."""

    def __init__(self, array):
        self._array = array

    def __array__(self, dtype=None, copy=None):
        return self._array


@nki.jit
def rows_twice(x, scratch):
    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    lse = nl.ndarray((x.shape[0], 1), dtype=x.dtype, buffer=nl.shared_hbm)
    i = nl.program_id(0)
    rows = x.shape[0] // nl.num_programs(0)
    t = nl.load(x[i * rows : (i + 1) * rows, :])
    nl.store(out[i * rows : (i + 1) * rows, :], value=nl.multiply(t, 2.0))
    nl.store(lse[i * rows : (i + 1) * rows, :], value=nl.sum(t, axis=[1], keepdims=True))
    nl.store(scratch[i * rows : (i + 1) * rows, :], value=t)  # an input written in place
    if i == 0:  # only the first instance returns (the others fall through)
        return out, lse
    return None


if __name__ == "__main__":
    x = np.random.rand(256, 16).astype(np.float32)
    scratch = np.zeros_like(x)
    got = rows_twice[2](FakeTorchTensor(x), FakeTorchTensor(scratch))
    ok = isinstance(got, tuple) and len(got) == 2
    out, lse = got
    ok &= np.array_equal(out, 2 * x) and np.array_equal(scratch, x)
    # fp32 sum of 16 values in [0, 1): within 16 * eps32 * 16 of the float64 sum
    ok &= np.abs(lse[:, 0] - x.astype(np.float64).sum(axis=1)).max() <= 16 * 16 * np.finfo(np.float32).eps
    out2, _ = nki.simulate_kernel(rows_twice[2], ArrayOnly(x), np.zeros_like(x))
    ok &= np.array_equal(out2, 2 * x)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
