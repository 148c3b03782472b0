"""A tiled matmul written for the current NKI API (NKI 0.2+: `import nki`, dst-first nisa).

Run it with trnsim:  trnsim kernel run examples/matmul_current.py --target trn2
"""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def matmul_kernel(lhsT, rhs):
    """result[M, N] = lhsT[K, M].T @ rhs[K, N], with K and M multiples of 128 and N of 512."""
    K, M = lhsT.shape
    _, N = rhs.shape
    result = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.shared_hbm)
    for m in nl.affine_range(M // 128):
        for n in nl.affine_range(N // 512):
            acc = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.psum)
            for k in nl.affine_range(K // 128):
                lhs_tile = nl.ndarray((128, 128), dtype=lhsT.dtype, buffer=nl.sbuf)
                rhs_tile = nl.ndarray((128, 512), dtype=rhs.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=lhs_tile, src=lhsT[k * 128 : (k + 1) * 128, m * 128 : (m + 1) * 128])
                nisa.dma_copy(dst=rhs_tile, src=rhs[k * 128 : (k + 1) * 128, n * 512 : (n + 1) * 512])
                nisa.nc_matmul(dst=acc, stationary=lhs_tile, moving=rhs_tile)
            out_tile = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.sbuf)
            nisa.tensor_copy(dst=out_tile, src=acc)
            nisa.dma_copy(dst=result[m * 128 : (m + 1) * 128, n * 512 : (n + 1) * 512], src=out_tile)
    return result


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    lhsT = rng.standard_normal((256, 128)).astype(nl.bfloat16)
    rhs = rng.standard_normal((256, 1024)).astype(nl.bfloat16)
    out = nki.simulate(matmul_kernel)(lhsT, rhs)
    ref = lhsT.astype(np.float32).T @ rhs.astype(np.float32)
    err = float(np.abs(out - ref).max())
    print(f"max abs error vs numpy: {err:.2e} (shape {out.shape})")
    raise SystemExit(0 if err < 1e-3 else 1)
