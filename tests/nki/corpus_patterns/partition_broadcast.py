"""Issue 10 item 5: nl.* element-wise ops broadcast a [1, 1] or [1, F] tile along the partition
dimension (flash-attention backward's "sink" tiles; nki-semantics §5: (128,512)+(1,512),
(128,512)+(1,1), (128,1)+(1,512))."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def sink(x, row, one, col):
    out = nl.ndarray((5, 128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.load(x)
    r = nl.load(row)  # [1, 512]
    s = nl.load(one)  # [1, 1]
    c = nl.load(col)  # [128, 1]
    nl.store(out[0], value=nl.add(t, r))
    nl.store(out[1], value=nl.subtract(t, s))
    nl.store(out[2], value=nl.multiply(c, r))
    nl.store(out[3], value=nl.maximum(s, t))
    nl.store(out[4], value=nl.exp(nl.subtract(r, t)))
    return out


if __name__ == "__main__":
    x = np.random.rand(128, 512).astype(np.float32)
    row = np.random.rand(1, 512).astype(np.float32)
    one = np.random.rand(1, 1).astype(np.float32)
    col = np.random.rand(128, 1).astype(np.float32)
    out = sink(x, row, one, col)
    exact = [x + row, x - one, col * row, np.maximum(one, x)]  # one fp32 op each: bit-exact
    ok = all(np.array_equal(out[i], exact[i]) for i in range(4))
    # exp on ScalarE in fp32: within a few fp32 ulp of numpy's exp
    ok &= np.allclose(out[4], np.exp(row - x), rtol=4 * np.finfo(np.float32).eps, atol=0)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
