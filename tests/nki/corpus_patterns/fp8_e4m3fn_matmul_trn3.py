"""nc_matmul on OCP float8_e4m3fn operands (v4, nki-api.md §3.5): products of exact fp8 values
summed in fp32 PSUM, against a float64 reference (|err| <= K * eps32 * sum|terms|)."""

import ml_dtypes
import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki

K, M, N = 128, 64, 256


@nki.jit(platform_target="trn3")
def fp8_matmul(aT, b):
    out = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.shared_hbm)
    s = nl.ndarray((K, M), dtype=nl.float8_e4m3fn, buffer=nl.sbuf)
    m = nl.ndarray((K, N), dtype=nl.float8_e4m3fn, buffer=nl.sbuf)
    nisa.dma_copy(dst=s, src=aT)
    nisa.dma_copy(dst=m, src=b)
    acc = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(acc, s, m)
    res = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=res, src=acc)
    nisa.dma_copy(dst=out, src=res)
    return out


if __name__ == "__main__":
    rng = np.random.default_rng(7)
    aT = np.clip(rng.standard_normal((K, M)) * 150, -448, 448).astype(ml_dtypes.float8_e4m3fn)
    b = rng.standard_normal((K, N)).astype(ml_dtypes.float8_e4m3fn)
    out = fp8_matmul(aT, b)
    a64, b64 = aT.astype(np.float64), b.astype(np.float64)
    want = a64.T @ b64
    tol = K * np.finfo(np.float32).eps * (np.abs(a64).T @ np.abs(b64))
    ok = bool((np.abs(out - want) <= tol).all()) and np.abs(a64).max() > 240  # beyond e4m3's range
    print("match" if ok else f"MISMATCH {np.abs(out - want).max()}")
    raise SystemExit(0 if ok else 1)
