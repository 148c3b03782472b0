"""NKI LayerNorm tutorial (v2) style: bn_stats over 512-wide chunks of the hidden dim, the last
chunk masked; nisa.tensor_scalar with two ops; arange indices and row masks (legacy API)."""

import math

import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np


@nki.jit
def nki_layernorm_kernel_v2(input_tensor, epsilon, gamma_vector, beta_vector):
    output_tensor = nl.ndarray(input_tensor.shape, dtype=input_tensor.dtype, buffer=nl.shared_hbm)
    i_p_io = nl.arange(128)[:, None]
    i_f_io = nl.arange(input_tensor.shape[1])[None, :]
    i_p_param = nl.arange(1)[:, None]
    shift_scale_tensor = nl.load(gamma_vector.reshape((1, input_tensor.shape[1]))[i_p_param, i_f_io])
    bias_tensor = nl.load(beta_vector.reshape((1, input_tensor.shape[1]))[i_p_param, i_f_io])
    for i in nl.affine_range(math.ceil(input_tensor.shape[0] / 128)):
        input_sb = nl.load(
            input_tensor[i * 128 + i_p_io, i_f_io], mask=(i * 128 + i_p_io < input_tensor.shape[0])
        )
        bn_stats_f_size = nl.tile_size.bn_stats_fmax
        num_chunks = math.ceil(input_tensor.shape[1] / bn_stats_f_size)
        stats_results = nl.ndarray((128, 6 * num_chunks), dtype=np.float32)
        for j in nl.affine_range(num_chunks):
            i_f = nl.arange(bn_stats_f_size)[None, :]
            i_p = nl.arange(128)[:, None]
            i_stats = nl.arange(6)[None, :]
            stats_results[i_p, j * 6 + i_stats] = nisa.bn_stats(
                input_sb[i_p, j * bn_stats_f_size + i_f],
                mask=(j * bn_stats_f_size + i_f < input_tensor.shape[1]),
                dtype=np.float32,
            )
        mean_var = nisa.bn_aggr(stats_results)
        mean = mean_var[i_p_io, 0]
        var = mean_var[i_p_io, 1]
        rstd = nl.rsqrt(var + epsilon)
        output_sb = nl.ndarray((128, input_tensor.shape[1]), dtype=np.float32)
        output_sb[...] = nisa.tensor_scalar(
            data=input_sb, op0=np.subtract, operand0=mean, op1=np.multiply, operand1=rstd
        )
        scale_shift = shift_scale_tensor.broadcast_to((128, shift_scale_tensor.shape[1]))
        bias_b = bias_tensor.broadcast_to((128, bias_tensor.shape[1]))
        output_sb[...] = nl.multiply(output_sb, scale_shift)
        output_sb[...] = nl.add(output_sb, bias_b)
        nl.store(
            output_tensor[i * 128 + i_p_io, i_f_io],
            value=output_sb,
            mask=(i * 128 + i_p_io < input_tensor.shape[0]),
        )
    return output_tensor


if __name__ == "__main__":
    x = np.random.randn(200, 600).astype(np.float32)
    g = np.random.randn(600).astype(np.float32)
    b = np.random.randn(600).astype(np.float32)
    out = nki_layernorm_kernel_v2(x, 1e-5, g, b)
    ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5) * g + b

    err = np.abs(out - ref).max()
    assert err < 1e-4, err
    print(f"layernorm_bn_stats_chunks: match (max abs error {err:.1e})")
