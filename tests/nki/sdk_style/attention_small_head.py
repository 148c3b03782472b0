"""NKI fused self-attention tutorial style (small head size): QK^T into PSUM, row max and
exp on ScalarE with a bias, transposes on TensorE, PV accumulated in PSUM (legacy API)."""

import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np


@nki.jit
def attention_kernel(q_ref, k_ref, v_ref):
    """softmax(q k^T / sqrt(d)) v for q [S, d], k [S, d], v [S, d], S a multiple of 128, d <= 128."""
    seqlen, d_head = q_ref.shape
    out_ref = nl.ndarray((seqlen, d_head), dtype=q_ref.dtype, buffer=nl.shared_hbm)
    scale = 1.0 / float(np.sqrt(d_head))
    n_tiles = seqlen // 128
    # K^T resident in SBUF: [d, S]
    k_t = nl.ndarray((nl.par_dim(d_head), seqlen), dtype=nl.float32, buffer=nl.sbuf)
    v_sb = nl.ndarray((n_tiles, nl.par_dim(128), d_head), dtype=nl.float32, buffer=nl.sbuf)
    for j in nl.affine_range(n_tiles):
        k_tile = nl.load(k_ref[j * 128 : (j + 1) * 128, :])
        k_t[:, nl.ds(j * 128, 128)] = nl.copy(nisa.nc_transpose(k_tile), dtype=nl.float32)
        v_sb[j, :, :] = nl.load(v_ref[j * 128 : (j + 1) * 128, :])
    for i in nl.affine_range(n_tiles):
        q_tile = nl.load(q_ref[i * 128 : (i + 1) * 128, :])
        q_t = nl.copy(nisa.nc_transpose(q_tile), dtype=nl.float32)  # [d, 128]
        scores = nl.ndarray((nl.par_dim(128), seqlen), dtype=nl.float32, buffer=nl.psum)
        scores[...] = nisa.nc_matmul(q_t, k_t)  # q_t.T @ k_t = q k^T: [128, S]
        row_max = nisa.tensor_reduce(np.max, scores, axis=(1,), keepdims=True)
        neg_max = nl.multiply(row_max, -scale)
        probs = nisa.activation(op=nl.exp, data=scores, bias=neg_max, scale=scale)
        row_sum = nl.sum(probs, axis=1, keepdims=True)
        inv_sum = nl.reciprocal(row_sum)
        acc = nl.zeros((nl.par_dim(128), d_head), dtype=nl.float32, buffer=nl.psum)
        for j in nl.affine_range(n_tiles):
            p_t = nl.copy(nisa.nc_transpose(probs[:, nl.ds(j * 128, 128)]), dtype=nl.float32)
            acc += nisa.nc_matmul(p_t, v_sb[j, :, :])  # p_t.T @ v_j
        out_tile = nl.multiply(acc, inv_sum, dtype=q_ref.dtype)
        nl.store(out_ref[i * 128 : (i + 1) * 128, :], value=out_tile)
    return out_ref


if __name__ == "__main__":
    q = np.random.randn(256, 64).astype(np.float32)
    k = np.random.randn(256, 64).astype(np.float32)
    v = np.random.randn(256, 64).astype(np.float32)
    out = attention_kernel(q, k, v)
    s = q @ k.T / np.sqrt(64)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    ref = (p / p.sum(axis=1, keepdims=True)) @ v
    err = np.abs(out - ref).max()
    assert err < 1e-4, err
    print(f"attention_small_head: match (max abs error {err:.1e})")
