"""Dim 0 of an on-chip NkiTensor is its partition dim: a view cannot move it (nki-api.md §3.3)."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit
def bad(a):
    x = nl.ndarray((128, 64), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=x, src=a)
    y = nl.ndarray((64, 128), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=y, src=x.permute((1, 0)))
    return a


bad(np.zeros((128, 64), np.float32))
