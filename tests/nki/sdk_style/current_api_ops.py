"""nki-library style (current `nki` API): dst-first nisa.dma_copy, nl.ds slices, nisa.memset,
nisa.nc_matmul(dst, ...), nisa.tensor_scalar with two ops, and an .ap() access pattern."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def scaled_matmul_kernel(lhsT, rhs):
    K, M = lhsT.shape
    _, N = rhs.shape
    out = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.shared_hbm)
    out_even = nl.ndarray((M, N // 2), dtype=nl.float32, buffer=nl.shared_hbm)
    out_fill = nl.ndarray((M, 8), dtype=nl.float32, buffer=nl.shared_hbm)

    lhs_sb = nl.ndarray((K, M), dtype=lhsT.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=lhs_sb, src=lhsT)
    rhs_sb = nl.ndarray((K, N), dtype=rhs.dtype, buffer=nl.sbuf)
    for j in nl.affine_range(N // 128):
        nisa.dma_copy(dst=rhs_sb[:, nl.ds(j * 128, 128)], src=rhs[:, nl.ds(j * 128, 128)])

    acc = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(dst=acc, stationary=lhs_sb, moving=rhs_sb)
    res = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_scalar(dst=res, data=acc, op0=nl.multiply, operand0=2.0, op1=nl.add, operand1=1.0)
    nisa.dma_copy(dst=out, src=res)

    # every other column: partition step N (the row), then [2, N/2] along the free dim
    even = nl.ndarray((M, N // 2), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=even, src=res.ap(pattern=[[N, M], [2, N // 2]], offset=0))
    nisa.dma_copy(dst=out_even, src=even)

    fill = nl.ndarray((M, 8), dtype=nl.float32, buffer=nl.sbuf)
    nisa.memset(dst=fill, value=0.5)
    nisa.dma_copy(dst=out_fill, src=fill)
    return out, out_even, out_fill


if __name__ == "__main__":
    lhsT = np.random.randn(128, 64).astype(nl.bfloat16)
    rhs = np.random.randn(128, 256).astype(nl.bfloat16)
    out, out_even, out_fill = scaled_matmul_kernel(lhsT, rhs)
    ref = (lhsT.astype(np.float32).T @ rhs.astype(np.float32)) * 2.0 + 1.0
    assert np.allclose(out, ref, rtol=1e-5, atol=1e-4), np.abs(out - ref).max()
    assert np.array_equal(out_even, out[:, ::2])
    assert np.all(out_fill == 0.5)
    print("current_api_ops: match")
