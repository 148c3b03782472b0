"""MX instructions exist on NeuronCore-v4 only (nki-api.md §3.5 "[v4]"): quantize_mx on a trn2
target is one KernelError line naming the target."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit(platform_target="trn2")
def quantize_on_trn2(a):
    src = nl.ndarray((128, 64), dtype=nl.bfloat16, buffer=nl.sbuf)
    nisa.dma_copy(dst=src, src=a)
    q = nl.ndarray((128, 16), dtype=nl.float8_e4m3fn_x4, buffer=nl.sbuf)
    s = nl.ndarray((16, 16), dtype=nl.uint8, buffer=nl.sbuf)
    nisa.quantize_mx(dst=q, src=src, dst_scale=s)
    return a


if __name__ == "__main__":
    quantize_on_trn2(np.ones((128, 64), np.float32).astype(nl.bfloat16))
