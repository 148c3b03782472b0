"""NKI tutorial style: tensor add over an SPMD grid with nl.arange and a mask (legacy API)."""

import neuronxcc.nki as nki
import neuronxcc.nki.language as nl
import numpy as np


@nki.jit
def nki_tensor_add_kernel_(a_input, b_input):
    c_output = nl.ndarray(a_input.shape, dtype=a_input.dtype, buffer=nl.shared_hbm)
    # each program handles a 128 x 512 tile
    offset_i_x = nl.program_id(0) * 128
    offset_i_y = nl.program_id(1) * 512
    ix = offset_i_x + nl.arange(128)[:, None]
    iy = offset_i_y + nl.arange(512)[None, :]
    m = ix < a_input.shape[0]
    a_tile = nl.load(a_input[ix, iy], mask=m)
    b_tile = nl.load(b_input[ix, iy], mask=m)
    c_tile = a_tile + b_tile
    nl.store(c_output[ix, iy], value=c_tile, mask=m)
    return c_output


if __name__ == "__main__":
    a = np.random.random_sample([200, 1024]).astype(np.float32)
    b = np.random.random_sample([200, 1024]).astype(np.float32)
    grid_x = (a.shape[0] + 127) // 128
    grid_y = a.shape[1] // 512
    c = nki_tensor_add_kernel_[grid_x, grid_y](a, b)
    assert np.allclose(c, a + b), "mismatch"
    print("tensor_add_spmd: match")
