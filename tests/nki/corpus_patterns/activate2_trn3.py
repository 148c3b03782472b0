"""Current `nisa.activate2(dst, op, data, imm0, imm1, op0, op1, relu_param=, reverse0=,
reduce_op=, reduce_res=)` (v4 ScalarE): `op((data op0 imm0) op1 imm1)` for the allowed ALU pairs,
prelu with its slope, and a max reduction."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit(platform_target="trn3")
def act2(x, col):
    out = nl.ndarray((3, 128, 256), dtype=nl.float32, buffer=nl.shared_hbm)
    mx = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.ndarray((128, 256), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=t, src=x)
    c = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=c, src=col)
    y = nl.ndarray((128, 256), dtype=nl.float32, buffer=nl.sbuf)
    r = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.activate2(y, nl.exp, t, c, 0.5, nl.multiply, nl.subtract, reduce_op=nl.maximum, reduce_res=r)
    nisa.dma_copy(dst=out[0], src=y)
    nisa.dma_copy(dst=mx, src=r)
    nisa.activate2(
        dst=y, op=nl.prelu, data=t, imm0=1.0, imm1=None, op0=nl.subtract, op1=nl.bypass, relu_param=0.1
    )
    nisa.dma_copy(dst=out[1], src=y)
    nisa.activate2(y, nl.copy, t, 2.0, None, nl.subtract, nl.bypass, reverse0=True)
    nisa.dma_copy(dst=out[2], src=y)
    return out, mx


if __name__ == "__main__":
    x = np.random.randn(128, 256).astype(np.float32)
    col = np.random.rand(128, 1).astype(np.float32)
    out, mx = act2(x, col)
    e = np.exp(x * col - np.float32(0.5))
    d = x - np.float32(1.0)
    eps = np.finfo(np.float32).eps
    ok = np.allclose(out[0], e, rtol=4 * eps, atol=0) and np.array_equal(mx[:, 0], out[0].max(axis=1))
    ok &= np.allclose(out[1], np.where(d > 0, d, np.float32(0.1) * d), rtol=eps, atol=0)
    ok &= np.array_equal(out[2], np.float32(2.0) - x)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
