"""quantize_mx needs a partition count that is a multiple of 32 (nki-semantics.md §7 MX)."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit(platform_target="trn3")
def quantize_48(a):
    src = nl.ndarray((48, 64), dtype=nl.bfloat16, buffer=nl.sbuf)
    nisa.dma_copy(dst=src, src=a)
    q = nl.ndarray((48, 16), dtype=nl.float8_e4m3fn_x4, buffer=nl.sbuf)
    s = nl.ndarray((6, 16), dtype=nl.uint8, buffer=nl.sbuf)
    nisa.quantize_mx(dst=q, src=src, dst_scale=s)
    return a


if __name__ == "__main__":
    quantize_48(np.ones((48, 64), np.float32).astype(nl.bfloat16))
