"""Distributed-kernel style: a row-parallel matmul whose partial products are summed with
nccl.all_reduce across two NeuronCores (legacy API, as nki-samples' collective kernels write it)."""

import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc.nki import nccl


@nki.jit
def row_parallel_matmul(x_t, w):
    """x_t [2, 128, 128] (rank r's K-shard of x^T), w [2, 128, 512] (rank r's K-shard of w)."""
    out = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    r = nl.program_id(0)
    xs = nl.load(x_t[r])
    ws = nl.load(w[r])
    partial = nl.copy(nisa.nc_matmul(xs, ws), dtype=nl.float32)
    total = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.sbuf)
    nccl.all_reduce(op=np.add, srcs=[partial], dsts=[total], replica_groups=[[0, 1]], dtype=nl.float32)
    nl.store(out, value=total)
    return out


if __name__ == "__main__":
    x_t = np.random.rand(2, 128, 128).astype(np.float32)
    w = np.random.rand(2, 128, 512).astype(np.float32)
    out = row_parallel_matmul[nl.nc(2)](x_t, w)
    ref = x_t[0].T @ w[0] + x_t[1].T @ w[1]
    # fp32 matmul of 128 products of values in [0, 1) per shard, summed over 2 shards: relative
    # rounding about 256 x 2^-24
    assert np.allclose(out, ref, rtol=256 * 2.0**-24 * 4, atol=0), np.abs(out - ref).max()
    print("collective_allreduce_spmd: match")
