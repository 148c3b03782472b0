"""Scatter-add into HBM rows picked by an index tile where rows repeat (MoE-style token
combine): legacy `nl.atomic_rmw(dst[idx[i_p, 0], i_f], value, np.add)` and
`nisa.dma_copy(dst=..., src=..., dst_rmw_op=np.add)`. Every contribution to a repeated row adds
(each descriptor is its own read-modify-write); trnsim once kept only the last one."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def combine(acc_in, rows, idx):
    out0 = nl.ndarray((16, 64), dtype=nl.float32, buffer=nl.shared_hbm)
    out1 = nl.ndarray((16, 64), dtype=nl.float32, buffer=nl.shared_hbm)
    i_p = nl.arange(128)[:, None]
    i_f = nl.arange(64)[None, :]
    start = nl.load(acc_in)
    nl.store(out0, value=start)
    nl.store(out1, value=start)
    ix = nl.load(idx)  # [128, 1] int32 in [0, 16): every row repeats about 8 times
    v = nl.load(rows)
    nl.atomic_rmw(out0[ix[i_p, 0], i_f], value=v, op=np.add)
    nisa.dma_copy(dst=out1[ix[i_p, 0], i_f], src=v, dst_rmw_op=np.add)
    return out0, out1


if __name__ == "__main__":
    acc_in = np.random.rand(16, 64).astype(np.float32)
    rows = np.random.rand(128, 64).astype(np.float32)
    idx = np.random.randint(0, 16, size=(128, 1)).astype(np.int32)
    want = acc_in.copy()
    for p in range(128):  # sequential fp32 adds in partition order, as the descriptors run
        want[idx[p, 0]] += rows[p]
    out = combine(acc_in, rows, idx)
    ok = np.array_equal(out[0], want) and np.array_equal(out[1], want)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
