"""NKI tutorial style: LayerNorm with nl.mgrid, nisa.bn_stats/bn_aggr and nisa.activation
with scale and bias (legacy API)."""

import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np


@nki.jit
def nki_layernorm_kernel_v2(input_tensor, epsilon, gamma_vector, beta_vector):
    output_tensor = nl.ndarray(input_tensor.shape, dtype=input_tensor.dtype, buffer=nl.shared_hbm)
    assert input_tensor.shape[1] <= nl.tile_size.bn_stats_fmax
    num_rows = input_tensor.shape[0]
    hidden = input_tensor.shape[1]
    i_p_io, i_f_io = nl.mgrid[0:128, 0:hidden]
    i_p_param = nl.arange(1)[:, None]
    shift_scale = nl.load(gamma_vector.reshape((1, hidden))[i_p_param, i_f_io])
    bias_vec = nl.load(beta_vector.reshape((1, hidden))[i_p_param, i_f_io])
    shift_scale = shift_scale.broadcast_to((128, hidden))
    bias_vec = bias_vec.broadcast_to((128, hidden))
    for i in nl.affine_range((num_rows + 127) // 128):
        m = i * 128 + i_p_io < num_rows
        input_sb = nl.load(input_tensor[i * 128 + i_p_io, i_f_io], mask=m)
        bn = nisa.bn_stats(input_sb, mask=m, dtype=nl.float32)
        mean_var = nisa.bn_aggr(bn, mask=m)
        mean = mean_var[:, 0]
        var = mean_var[:, 1]
        rstd = nl.rsqrt(var + epsilon, mask=m)
        neg_mean_rstd = nl.multiply(nl.negative(mean, mask=m), rstd, mask=m)
        # (x - mean) * rstd = x * rstd + (-mean * rstd) on ScalarE
        norm = nisa.activation(op=nl.copy, data=input_sb, scale=rstd, bias=neg_mean_rstd, mask=m)
        out = nl.add(nl.multiply(norm, shift_scale, mask=m), bias_vec, mask=m)
        nl.store(output_tensor[i * 128 + i_p_io, i_f_io], value=out, mask=m)
    return output_tensor


if __name__ == "__main__":
    x = np.random.randn(200, 96).astype(np.float32)
    gamma = np.random.randn(96).astype(np.float32)
    beta = np.random.randn(96).astype(np.float32)
    out = nki_layernorm_kernel_v2(x, 1e-5, gamma, beta)
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    ref = (x - mu) / np.sqrt(var + 1e-5) * gamma + beta
    assert np.allclose(out, ref, atol=1e-4), np.abs(out - ref).max()
    print("layernorm_bn_stats: match")
