"""Current `nisa.tensor_scalar_cumulative(dst, src, op0, op1, imm0, imm1=None)`: per partition
`reg = op1(op0(x_i, imm0), reg); dst_i = reg` over the flattened free dims (a scaled cumsum and
a running max), the register starting at op1's identity or at imm1."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def running(x, col):
    out = nl.ndarray((3, 128, 4, 32), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.ndarray((128, 4, 32), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=x)
    c = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=c, src=col)
    for k, (op0, op1, imm0, imm1) in enumerate(
        ((nl.multiply, nl.add, 0.5, None), (nl.multiply, nl.maximum, c, None), (nl.add, nl.add, 1.0, 10.0))
    ):
        r = nl.ndarray((128, 4, 32), dtype=nl.float32, buffer=nl.sbuf)
        nisa.tensor_scalar_cumulative(dst=r, src=t, op0=op0, op1=op1, imm0=imm0, imm1=imm1)
        nisa.dma_copy(dst=out[k], src=r)
    return out


if __name__ == "__main__":
    x = np.random.randn(128, 4, 32).astype(np.float32)
    col = np.random.rand(128, 1).astype(np.float32)
    out = running(x, col)
    flat = x.reshape(128, 128)
    # sequential fp32 accumulation in the same order as the register: numpy's cumsum on fp32
    # adds left to right too, so the two agree to rounding of 128 terms
    want = (
        np.cumsum(flat * np.float32(0.5), axis=1, dtype=np.float32),
        np.maximum.accumulate(flat * col, axis=1),
        np.float32(10.0) + np.cumsum(flat + np.float32(1.0), axis=1, dtype=np.float32),
    )
    tol = 128 * np.finfo(np.float32).eps
    ok = np.allclose(out[0].reshape(128, 128), want[0], rtol=tol, atol=tol)
    ok &= np.array_equal(out[1].reshape(128, 128), want[1])
    ok &= np.allclose(out[2].reshape(128, 128), want[2], rtol=tol, atol=tol * 10)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
