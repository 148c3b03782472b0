"""Issue 10 item 3: direct allocation as the attention_fwd_performance tutorial writes it
(``sb_mod = nki.compiler.sbuf.mod_alloc``, ``psum_mod(base_bank=0, num_bank_tiles=(8,))``):
block tensors placed by the modular formulas, with nl.ndarray and assignment (no initial values,
no hidden tensors), computing a blocked matmul; also ncc.sbuf.alloc with a callback."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki

sb_mod = nki.compiler.sbuf.mod_alloc
psum_mod = nki.compiler.psum.mod_alloc
NB = 4


@nki.jit
def blocked(aT, b):
    out = nl.ndarray((NB, 128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    a_sb = nl.ndarray(
        (NB, nl.par_dim(128), 128), dtype=aT.dtype, buffer=sb_mod(base_addr=0, num_free_tiles=(2,))
    )
    b_sb = nl.ndarray(
        (nl.par_dim(128), 512), dtype=b.dtype, buffer=nki.compiler.sbuf.alloc(lambda idx, p, f: (0, 1024))
    )
    acc = nl.ndarray(
        (NB, nl.par_dim(128), 512), dtype=nl.float32, buffer=psum_mod(base_bank=0, num_bank_tiles=(8,))
    )
    res = nl.ndarray(
        (NB, nl.par_dim(128), 512), dtype=nl.float32, buffer=sb_mod(base_addr=8192, num_free_tiles=(NB,))
    )
    b_sb[...] = nl.load(b)
    for i in nl.affine_range(NB):
        a_sb[i] = nl.load(aT[i])
        acc[i] = nisa.nc_matmul(a_sb[i], b_sb)
        res[i] = nl.copy(acc[i])
        nl.store(out[i], value=res[i])
    return out


if __name__ == "__main__":
    aT = np.random.rand(NB, 128, 128).astype(np.float32)
    b = np.random.rand(128, 512).astype(np.float32)
    out = blocked(aT, b)
    ref = np.einsum("ikm,kn->imn", aT.astype(np.float64), b)
    tol = 128 * np.finfo(np.float32).eps * ref.max()  # fp32 sums of 128 products in [0, 1)
    ok = np.abs(out - ref).max() <= tol
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
