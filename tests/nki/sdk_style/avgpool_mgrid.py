"""NKI tutorial style: 2-D average pooling with a 5-D nl.mgrid view (legacy API)."""

import neuronxcc.nki as nki
import neuronxcc.nki.language as nl
import numpy as np


@nki.jit
def tensor_avgpool_kernel(in_tensor, pool_size):
    sz_cin, sz_hin, sz_win = in_tensor.shape
    sz_hout = sz_hin // pool_size
    sz_wout = sz_win // pool_size
    out_tensor = nl.ndarray((sz_cin, sz_hout, sz_wout), dtype=in_tensor.dtype, buffer=nl.shared_hbm)
    sz_p = sz_cin
    sz_pool = pool_size
    i0, i1, i2, i3, i4 = nl.mgrid[0:sz_p, 0 : sz_hin // sz_pool, 0:sz_pool, 0 : sz_win // sz_pool, 0:sz_pool]
    in_tile = nl.load(in_tensor)
    window_sum = nl.sum(in_tile[i0, sz_pool * i1 + i2, sz_pool * i3 + i4], axis=[2, 4])
    out_tile = window_sum / (pool_size * pool_size)
    nl.store(out_tensor, value=out_tile)
    return out_tensor


if __name__ == "__main__":
    pool = 2
    x = np.arange(8 * 8 * 8, dtype=np.float32).reshape(8, 8, 8)
    out = tensor_avgpool_kernel(x, pool)
    ref = x.reshape(8, 4, pool, 4, pool).mean(axis=(2, 4))
    assert np.allclose(out, ref), np.abs(out - ref).max()
    print("avgpool_mgrid: match")
