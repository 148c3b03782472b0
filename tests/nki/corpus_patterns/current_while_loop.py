"""Current API `nl.while_loop(init, body_fun)` (NKI 0.6): a device do-while driven by a register
the body reloads from memory (here a countdown kept in SBUF); the register error message points
kernels to it, and it did not exist."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def countdown(a, n):
    out = nl.ndarray((128, 64), dtype=nl.float32, buffer=nl.shared_hbm)
    acc = nl.ndarray((128, 64), dtype=nl.float32, buffer=nl.sbuf)
    nisa.memset(dst=acc, value=0.0)
    x = nl.ndarray((128, 64), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=x, src=a)
    left = nl.ndarray((1, 1), dtype=nl.int32, buffer=nl.sbuf)
    nisa.dma_copy(dst=left, src=n)
    cond = nisa.register_alloc(1)

    def body(c):
        nisa.tensor_tensor(dst=acc, data1=acc, data2=x, op=nl.add)
        nisa.tensor_scalar(dst=left, data=left, op0=nl.subtract, operand0=1)
        nisa.register_load(c, left)
        return c

    nl.while_loop(cond, body)
    nisa.dma_copy(dst=out, src=acc)
    return out


if __name__ == "__main__":
    a = np.random.rand(128, 64).astype(np.float32)
    out = countdown(a, np.array([[5]], np.int32))
    want = a + a + a + a + a  # five fp32 adds in this order: exact
    ok = np.array_equal(out, want)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
