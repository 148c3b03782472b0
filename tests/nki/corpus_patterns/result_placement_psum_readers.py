"""Issue 10 item 2: results placed in PSUM by default, read where only SBUF is allowed, as the
public kernels do (nki-semantics §2): flash attention's ``affine_select(on_true_tile=qk_psum)``,
an ``nc_transpose`` (TensorE, so PSUM) result as ``nc_matmul``'s stationary operand, and an
``nl.transpose`` result as ``nl.matmul``'s moving operand. The legacy compiler inserts the copies
to SBUF; trnsim records them (charged in timing)."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki

N = 128


@nki.jit
def placements(q, k, v):
    out = nl.ndarray((3, N, N), dtype=nl.float32, buffer=nl.shared_hbm)
    q_t = nl.load(q)  # [d=N, seq=N]
    k_t = nl.load(k)
    qk_psum = nl.ndarray((N, N), dtype=nl.float32, buffer=nl.psum)
    qk_psum[...] += nisa.nc_matmul(q_t, k_t)  # q.T @ k
    i_q, i_k = nl.mgrid[0:N, 0:N]
    causal = nisa.affine_select(pred=(i_q - i_k >= 0), on_true_tile=qk_psum, on_false_value=-9984.0)
    nl.store(out[0], value=causal)
    # nc_transpose of a 128x128 tile runs on TensorE: the result lives in PSUM
    v_t = nl.load(v)
    vT = nisa.nc_transpose(v_t)
    nl.store(out[1], value=nl.copy(nisa.nc_matmul(vT, v_t), dtype=nl.float32))  # v @ v
    # nl.transpose result (PSUM) as nl.matmul's moving operand: q.T.T @ ... = k.T @ q.T
    qT = nl.transpose(q_t)
    nl.store(out[2], value=nl.copy(nl.matmul(k_t, qT), dtype=nl.float32))
    return out


if __name__ == "__main__":
    q = np.random.rand(N, N).astype(np.float32)
    k = np.random.rand(N, N).astype(np.float32)
    v = np.random.rand(N, N).astype(np.float32)
    out = placements(q, k, v)
    qk = q.T.astype(np.float64) @ k
    want0 = np.where(np.tril(np.ones((N, N), bool)), qk, -9984.0)
    want1 = v.astype(np.float64) @ v
    want2 = k.astype(np.float64) @ q.T  # nl.matmul(x, y) = x @ y
    # fp32 products accumulated over N=128 terms in [0,1): error <= N * eps32 * max
    tol = N * np.finfo(np.float32).eps * max(qk.max(), want1.max(), want2.max())
    errs = [np.abs(out[0] - want0).max(), np.abs(out[1] - want1).max(), np.abs(out[2] - want2).max()]
    ok = max(errs) <= tol
    print("match" if ok else f"MISMATCH {errs}")
    raise SystemExit(0 if ok else 1)
