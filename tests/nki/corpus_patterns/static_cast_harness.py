"""Issue 10 item 1: a sample-unit-test harness casts host arrays with nl.static_cast outside any
kernel (to bf16 / fp8 inputs, and the output back to fp32 for the reference comparison)."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def scale_kernel(a):
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nl.multiply(nl.load(a), 2.0, dtype=a.dtype))
    return out


if __name__ == "__main__":
    x = np.random.rand(128, 64).astype(np.float32)
    a = nl.static_cast(x, nl.bfloat16)
    assert a.dtype == nl.bfloat16 and a.shape == x.shape
    # round to nearest even, as ml_dtypes' astype does (nki-semantics §1)
    ties = nl.static_cast(np.array([1.00390625, 1.01171875], np.float32), nl.bfloat16)
    assert nl.static_cast(ties, np.float32).tolist() == [1.0, 1.015625]
    over = nl.static_cast(np.array([300.0, 241.0]), nl.float8_e4m3)
    assert np.isinf(float(over[0])) and float(over[1]) == 240.0
    assert nl.static_cast(np.array([500.0]), "float8_e4m3fn").astype(np.float32)[0] != 448.0
    out = nki.simulate_kernel(scale_kernel, a)
    out32 = nl.static_cast(out, np.float32)
    assert out32.dtype == np.float32
    # doubling is exact in bf16: the result equals the doubled bf16 input bit for bit
    ok = np.array_equal(out32, 2.0 * a.astype(np.float32))
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
