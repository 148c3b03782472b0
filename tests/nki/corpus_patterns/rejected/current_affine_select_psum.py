"""Current API: affine_select needs dst and on_true_tile in SBUF (GpSimdE has no PSUM access;
no implicit copy, nki-semantics §2) -> err_unsupported_memory."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def select_psum(a):
    out = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.shared_hbm)
    a_sb = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=a_sb, src=a)
    acc = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(dst=acc, stationary=a_sb, moving=a_sb)
    res = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.sbuf)
    nisa.affine_select(
        dst=res, pattern=[[-1, 128]], channel_multiplier=1, on_true_tile=acc, on_false_value=0.0
    )
    nisa.dma_copy(dst=out, src=res)
    return out


if __name__ == "__main__":
    select_psum(np.ones((128, 128), np.float32))
