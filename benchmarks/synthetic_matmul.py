"""A hand-generated instruction trace shaped like a blocked NKI matmul (no kernel layer needed).

Used by ``core_speed.py`` to measure the performance model's own speed independently of
tracing. It mirrors the NKI tutorial's blocked kernel: for each block of ``bm`` x ``bn`` output
tiles, the stationary strips (K x bm·128) and moving strips (K x bn·512) are loaded once, every
(m, n) tile accumulates its K/128 matmuls in PSUM, VectorE evacuates PSUM to SBUF, and the block
is stored. Buffers rotate over a few allocations so that write-after-read dependencies appear
as they would with a compiler's multi-buffering. It is *not* a kernel-library trace.
"""

from __future__ import annotations

from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace, Operand, Region


def _sbuf(alloc: int, partitions: int, free: int, itemsize: int, dtype: str, byte_start: int = 0) -> Operand:
    nbytes = free * itemsize
    return Operand("t", MemorySpace.SBUF, (partitions, free), dtype, nbytes * partitions,
                   Region(alloc, 0, partitions, byte_start, byte_start + nbytes), nbytes, itemsize)


def _psum(alloc: int, free: int) -> Operand:
    return Operand("p", MemorySpace.PSUM, (128, free), "float32", 128 * free * 4,
                   Region(alloc, 0, 128, 0, free * 4), free * 4, 4)


def _hbm(alloc: int, rows: int, cols: int, row_bytes: int, itemsize: int, start: int) -> Operand:
    nbytes = rows * cols * itemsize
    return Operand("h", MemorySpace.HBM, (rows, cols), "bfloat16", nbytes,
                   Region(alloc, 0, 1, start, start + nbytes), cols * itemsize, itemsize)


def blocked_matmul_trace(
    m: int, k: int, n: int, target: str = "trn1", bm: int = 4, bn: int = 2
) -> KernelTrace:
    """Trace of C[m, n] = A[m, k] @ B[k, n] in bf16, blocked by ``bm`` x ``bn`` tiles."""
    trace = KernelTrace(kernel="synthetic_blocked_matmul", target=target)
    item = 2
    k_tiles, m_tiles, n_tiles = k // 128, m // 128, n // 512
    a_hbm, b_hbm, c_hbm = 1, 2, 3
    seq = 0

    def emit(engine: Engine, opcode: str, ins: tuple[Operand, ...], outs: tuple[Operand, ...]) -> None:
        nonlocal seq
        trace.append(Instruction(seq, engine, opcode, ins, outs, trace.kernel, "synthetic.py", 1))
        seq += 1

    block = 0
    for mb in range(0, m_tiles, bm):
        for nb in range(0, n_tiles, bn):
            rot = block % 2  # double-buffered strips
            a_alloc = 100 + rot
            b_alloc = 200 + rot
            c_alloc = 300 + rot
            for kt in range(k_tiles):
                for i in range(bm):
                    start = ((kt * 128) * m + (mb + i) * 128) * item
                    emit(Engine.DMA, "load", (_hbm(a_hbm, 128, 128, m * item, item, start),),
                         (_sbuf(a_alloc, 128, 128, item, "bfloat16", (kt * bm + i) * 256),))
                for j in range(bn):
                    start = ((kt * 128) * n + (nb + j) * 512) * item
                    emit(Engine.DMA, "load", (_hbm(b_hbm, 128, 512, n * item, item, start),),
                         (_sbuf(b_alloc, 128, 512, item, "bfloat16", (kt * bn + j) * 1024),))
            for i in range(bm):
                for j in range(bn):
                    bank = 400 + (i * bn + j) % 8
                    for kt in range(k_tiles):
                        emit(Engine.TENSOR, "nc_matmul",
                             (_sbuf(a_alloc, 128, 128, item, "bfloat16", (kt * bm + i) * 256),
                              _sbuf(b_alloc, 128, 512, item, "bfloat16", (kt * bn + j) * 1024)),
                             (_psum(bank, 512),))
                    emit(Engine.VECTOR, "tensor_copy", (_psum(bank, 512),),
                         (_sbuf(c_alloc, 128, 512, item, "bfloat16", (i * bn + j) * 1024),))
            for i in range(bm):
                for j in range(bn):
                    start = (((mb + i) * 128) * n + (nb + j) * 512) * item
                    tile = _sbuf(c_alloc, 128, 512, item, "bfloat16", (i * bn + j) * 1024)
                    emit(Engine.DMA, "store", (tile,), (_hbm(c_hbm, 128, 512, n * item, item, start),))
            block += 1
    return trace
