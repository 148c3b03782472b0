"""NKI sample style: 2-D transpose on TensorE with nisa.nc_transpose and with a matmul
against nl.shared_identity_matrix (legacy API)."""

import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np


@nki.jit
def transpose_kernel(in_tensor):
    p, f = in_tensor.shape
    out_a = nl.ndarray((f, p), dtype=in_tensor.dtype, buffer=nl.shared_hbm)
    out_b = nl.ndarray((f, p), dtype=in_tensor.dtype, buffer=nl.shared_hbm)
    x = nl.load(in_tensor)
    t_psum = nisa.nc_transpose(x)  # TensorE by default: result in PSUM
    nl.store(out_a, value=nl.copy(t_psum, dtype=in_tensor.dtype))
    ident = nl.load(nl.shared_identity_matrix(p, dtype=in_tensor.dtype))
    t2 = nisa.nc_matmul(x, ident)  # x.T @ I
    nl.store(out_b, value=nl.copy(t2, dtype=in_tensor.dtype))
    return out_a, out_b


if __name__ == "__main__":
    x = np.random.randn(128, 64).astype(nl.bfloat16)
    a, b = transpose_kernel(x)
    ref = x.astype(np.float32).T
    assert np.array_equal(a.astype(np.float32), ref)
    assert np.array_equal(b.astype(np.float32), ref)
    print("transpose_identity: match")
