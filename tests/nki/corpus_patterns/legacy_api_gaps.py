"""Issue 10 item 8, legacy API calls public kernels make: nki.language.constants,
nki.isa.constants, nc_match_replace8 (the spec's tie-break example), private_api.do_while,
nl.loop_reduce, 4-D nl.mgrid with .z, nki.language.iterators.sync_program (nki-semantics §7)."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki
from neuronxcc.nki._private.private_api import do_while
from neuronxcc.nki.isa.constants import oob_mode
from neuronxcc.nki.language.constants import sizeinbytes
from neuronxcc.nki.language.iterators import sync_program


@nki.jit
def gaps(x, data, vals, grid4, cond):
    assert sizeinbytes(nl.bfloat16) == 2 and oob_mode.error is not None
    out = nl.ndarray((128, 16), dtype=nl.float32, buffer=nl.shared_hbm)
    idx_out = nl.ndarray((1, 8), dtype=nl.uint32, buffer=nl.shared_hbm)
    g_out = nl.ndarray((2, 3, 4, 5), dtype=nl.float32, buffer=nl.shared_hbm)
    acc = None
    for k in nl.affine_range(4):
        acc = nl.loop_reduce(nl.load(x[k]), op=np.add, loop_indices=[k])
    with sync_program():
        nl.store(out[:, 0:8], value=acc)
    d = nl.load(data)
    v = nl.load(vals)
    idx = nl.ndarray((1, 8), dtype=nl.uint32, buffer=nl.sbuf)
    replaced = nisa.nc_match_replace8(data=d, vals=v, imm=0.0, dst_idx=idx)
    nl.store(out[0:1, 8:16], value=nl.copy(replaced[:, 0:8], dtype=nl.float32))
    nl.store(idx_out, value=idx)
    w = nl.mgrid[0:2, 0:3, 0:4, 0:5]
    nl.store(g_out[w.p, w.x, w.y, w.z], value=nl.load(grid4[w.p, w.x, w.y, w.z]))
    c = nl.load(cond)
    with do_while(cond):  # one iteration: the body clears cond
        c[...] = 0
        nl.store(cond, value=c)
    return out, idx_out, g_out


if __name__ == "__main__":
    x = np.random.rand(4, 128, 8).astype(np.float32)
    data = np.array([[1, 2, 3, 4, 8, 8, 8, 8, 8, 8, 8]], np.float32)
    vals = np.array([[3, 8, 8, 8, 8, 8, 8, 8]], np.float32)
    grid4 = np.random.rand(2, 3, 4, 5).astype(np.float32)
    out, idx, g = gaps(x, data, vals, grid4, np.ones((1, 1), np.uint8))
    # fp32 sums of 4 values: numpy's left-to-right order, the same as the loop's
    ok = np.array_equal(out[:, 0:8], ((x[0] + x[1]) + x[2]) + x[3])
    ok &= idx.tolist() == [[2, 10, 9, 8, 7, 6, 5, 4]]  # nki-semantics §7's example
    ok &= out[0, 8:16].tolist() == [1, 2, 0, 4, 0, 0, 0, 0]  # 3 and the seven 8s replaced by 0
    ok &= np.array_equal(g, grid4)
    print("match" if ok else f"MISMATCH {idx} {out[0, 8:16]}")
    raise SystemExit(0 if ok else 1)
