"""Rejected by the SDK: a PSUM accumulator for a 1024-wide moving tile is two banks
(expects size_of_dimension_exceed_arch_limit)."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def mm_kernel(lhsT, rhs):
    out = nl.ndarray((128, 1024), dtype=nl.float32, buffer=nl.shared_hbm)
    a = nl.ndarray((128, 128), dtype=lhsT.dtype, buffer=nl.sbuf)
    b = nl.ndarray((128, 1024), dtype=rhs.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=a, src=lhsT)
    nisa.dma_copy(dst=b, src=rhs)
    acc = nl.ndarray((128, 1024), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(dst=acc, stationary=a, moving=b)
    return out


if __name__ == "__main__":
    mm_kernel(np.ones((128, 128), nl.bfloat16), np.ones((128, 1024), nl.bfloat16))
