"""nc_matmul: float8_e4m3fn (v4) is a v4 (trn3) format: a trn2 matmul on it is an error
(nki-api.md §3.5, nki-semantics.md §7)."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit(platform_target="trn2")
def e4m3fn_on_trn2(a):
    s = nl.ndarray((128, 128), dtype=nl.float8_e4m3fn, buffer=nl.sbuf)
    m = nl.ndarray((128, 256), dtype=nl.float8_e4m3fn, buffer=nl.sbuf)
    nisa.memset(dst=s, value=0.0)
    nisa.memset(dst=m, value=0.0)
    acc = nl.ndarray((128, 256), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(acc, s, m)
    return a


if __name__ == "__main__":
    e4m3fn_on_trn2(np.ones((1, 1), np.float32))
