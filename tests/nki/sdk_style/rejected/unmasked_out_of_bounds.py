"""Rejected by the SDK: a 128-row tile over a 200-row tensor without a mask
(expects tensor_access_out_of_bound)."""

import neuronxcc.nki as nki
import neuronxcc.nki.language as nl
import numpy as np


@nki.jit
def copy_kernel(a):
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    ix = nl.arange(128)[:, None]
    iy = nl.arange(a.shape[1])[None, :]
    for i in nl.affine_range(2):
        nl.store(out[i * 128 + ix, iy], value=nl.load(a[i * 128 + ix, iy]))
    return out


if __name__ == "__main__":
    copy_kernel(np.ones((200, 32), np.float32))
