"""SPMD tensor addition, written for the Neuron SDK's legacy NKI (neuronxcc.nki).

Run it with trnsim (no Trainium needed):  trnsim kernel run examples/tensor_add.py
"""

import neuronxcc.nki as nki
import neuronxcc.nki.language as nl
import numpy as np


@nki.jit
def nki_tensor_add_kernel(a_input, b_input):
    """Add two [M, N] tensors; each SPMD instance handles one 128 x 512 tile."""
    c_output = nl.ndarray(a_input.shape, dtype=a_input.dtype, buffer=nl.shared_hbm)

    # this instance's tile
    offset_i_x = nl.program_id(0) * 128
    offset_i_y = nl.program_id(1) * 512

    ix = offset_i_x + nl.arange(128)[:, None]
    iy = offset_i_y + nl.arange(512)[None, :]

    a_tile = nl.load(a_input[ix, iy])
    b_tile = nl.load(b_input[ix, iy])
    c_tile = a_tile + b_tile
    nl.store(c_output[ix, iy], value=c_tile)
    return c_output


def nki_tensor_add(a_input, b_input):
    """Launch one instance per 128 x 512 tile."""
    grid_x = a_input.shape[0] // 128
    grid_y = a_input.shape[1] // 512
    return nki_tensor_add_kernel[grid_x, grid_y](a_input, b_input)


if __name__ == "__main__":
    a = np.random.default_rng(0).random((256, 1024)).astype(nl.bfloat16)
    b = np.random.default_rng(1).random((256, 1024)).astype(nl.bfloat16)

    output_nki = nki_tensor_add(a, b)
    output_np = (a.astype(np.float32) + b.astype(np.float32)).astype(nl.bfloat16)

    allclose = np.allclose(output_np.astype(np.float32), output_nki.astype(np.float32))
    print(f"NKI and NumPy match: {allclose} (shape {output_nki.shape}, dtype {output_nki.dtype})")
    raise SystemExit(0 if allclose else 1)
