"""nc_matmul_mx tiles rows only (nki-api.md §3.5): a column tile position is one KernelError line."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit(platform_target="trn3")
def column_tiled(a):
    s = nl.ndarray((32, 32), dtype=nl.float8_e4m3fn_x4, buffer=nl.sbuf)
    m = nl.ndarray((32, 64), dtype=nl.float8_e4m3fn_x4, buffer=nl.sbuf)
    ss = nl.ndarray((4, 32), dtype=nl.uint8, buffer=nl.sbuf)
    ms = nl.ndarray((4, 64), dtype=nl.uint8, buffer=nl.sbuf)
    for t in (s, m, ss, ms):
        nisa.memset(dst=t, value=0)
    acc = nl.ndarray((32, 64), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul_mx(acc, s, m, ss, ms, tile_position=(0, 32), tile_size=(32, 32))
    return a


if __name__ == "__main__":
    column_tiled(np.ones((1, 1), np.float32))
