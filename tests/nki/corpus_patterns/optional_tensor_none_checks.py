"""Issue 10 item 4: host-side Python on optional tensor arguments, as public kernels write it:
``if bias != None``, ``== None``, ``is None`` are trace-time checks, not tile operations
(nki-semantics §6)."""

# ruff: noqa: E711, SIM108, SIM201  (the public kernels' spelling is the point)

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def add_bias(x, bias=None, out_tensor=None):
    if out_tensor != None:
        out = out_tensor
    else:
        out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
    t = nl.load(x)
    if bias is not None and not (bias == None):
        t = nl.add(t, nl.load(bias))
    assert t != None and t is not None
    nl.store(out, value=t)
    return out


if __name__ == "__main__":
    x = np.random.rand(128, 32).astype(np.float32)
    b = np.random.rand(128, 32).astype(np.float32)
    given = np.zeros_like(x)
    ok = np.array_equal(add_bias(x), x)
    ok &= np.array_equal(add_bias(x, b), x + b)  # fp32 add of fp32 values: exact as numpy's
    ok &= np.array_equal(add_bias(x, None, given), x)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
