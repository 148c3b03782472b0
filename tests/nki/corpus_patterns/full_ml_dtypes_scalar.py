"""Issue 10 item 6: nl.full / memset with an ml_dtypes scalar fill value (a bfloat16 value, as
kernels compute ``-inf`` or a scale in the tile's dtype) is converted to the tile's dtype."""

import ml_dtypes
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def fills(x):
    out = nl.ndarray((5, 128, 8), dtype=nl.float32, buffer=nl.shared_hbm)
    a = nl.full((128, 8), ml_dtypes.bfloat16(1.5), dtype=nl.bfloat16)
    b = nl.full((128, 8), np.float16(-2.25), dtype=nl.float32)
    c = nl.full((128, 8), ml_dtypes.bfloat16(-np.inf), dtype=nl.float32, buffer=nl.sbuf)
    d = nl.ndarray((128, 8), dtype=nl.bfloat16, buffer=nl.sbuf)
    d[...] = ml_dtypes.bfloat16(3.0)
    nl.store(out[0], value=nl.copy(a, dtype=nl.float32))
    nl.store(out[1], value=b)
    nl.store(out[2], value=c)
    nl.store(out[3], value=nisa.tensor_copy(d, dtype=nl.float32))
    e = nl.multiply(a, ml_dtypes.bfloat16(2.0))  # a typed scalar keeps its dtype: bf16 * bf16
    assert e.dtype == nl.bfloat16
    nl.store(out[4], value=nl.copy(e, dtype=nl.float32))
    return out


if __name__ == "__main__":
    out = fills(np.zeros((1, 1), np.float32))
    want = np.stack([np.full((128, 8), v, np.float32) for v in (1.5, -2.25, -np.inf, 3.0, 3.0)])
    ok = np.array_equal(out, want)
    print("match" if ok else f"MISMATCH {out[:, 0, 0]}")
    raise SystemExit(0 if ok else 1)
