"""NKI sample style: row softmax with nl.max, nisa.activation(exp, bias=-max) and
nl.reciprocal (legacy API)."""

import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np


@nki.jit
def softmax_kernel(in_tensor):
    out_tensor = nl.ndarray(in_tensor.shape, dtype=in_tensor.dtype, buffer=nl.shared_hbm)
    rows = in_tensor.shape[0]
    for i in nl.affine_range(rows // 128):
        x = nl.load(in_tensor[i * 128 : (i + 1) * 128, :])
        row_max = nl.max(x, axis=[1], keepdims=True)
        neg_max = nl.negative(row_max)
        e = nisa.activation(op=nl.exp, data=x, bias=neg_max, scale=1.0)
        total = nl.sum(e, axis=[1], keepdims=True)
        inv = nl.reciprocal(total)
        y = nl.multiply(e, inv, dtype=in_tensor.dtype)
        nl.store(out_tensor[i * 128 : (i + 1) * 128, :], value=y)
    return out_tensor


if __name__ == "__main__":
    x = (np.random.randn(256, 64) * 4).astype(np.float32)
    out = softmax_kernel(x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    ref = e / e.sum(axis=1, keepdims=True)
    assert np.allclose(out, ref, atol=1e-6), np.abs(out - ref).max()
    print("softmax_fused: match")
