"""Issue 10 item 8 (MX, trn3): ``nisa.quantize_mx`` turns bf16 tiles into MXFP8 (x4-packed
e4m3fn / e5m2 values and one E8M0 scale per 8 partitions x 4 values) and ``nisa.nc_matmul_mx``
multiplies two quantized tiles, contraction 4 x partitions, accumulating over K tiles in PSUM.

The numpy reference below is written from nki-semantics.md §7 only: scale
``2^(floor(log2 amax) - (Emax - 1))`` per 32-value group, values rounded to nearest even in the
element format, a zero group scaled 2^-127; packing lane j of element f = value 4f + j.
"""

import ml_dtypes
import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki

P, M, N, KT = 128, 64, 256, 2  # contraction per K tile = 4 * P = 512


@nki.jit(platform_target="trn3")
def mx_matmul(a, b):
    """a [KT, P, 4M], b [KT, P, 4N] bf16 (4 contraction values per partition, lane-major in free)."""
    out = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.shared_hbm)
    qa_out = nl.ndarray((P, M), dtype=nl.float8_e4m3fn_x4, buffer=nl.shared_hbm)
    sa_out = nl.ndarray((P // 8, M), dtype=nl.uint8, buffer=nl.shared_hbm)
    qb_out = nl.ndarray((P, N), dtype=nl.float8_e5m2_x4, buffer=nl.shared_hbm)
    sb_out = nl.ndarray((P // 8, N), dtype=nl.float8_e8m0fnu, buffer=nl.shared_hbm)
    acc = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.psum)
    for k in range(KT):
        a_sb = nl.ndarray((P, 4 * M), dtype=nl.bfloat16, buffer=nl.sbuf)
        b_sb = nl.ndarray((P, 4 * N), dtype=nl.bfloat16, buffer=nl.sbuf)
        nisa.dma_copy(dst=a_sb, src=a[k])
        nisa.dma_copy(dst=b_sb, src=b[k])
        qa = nl.ndarray((P, M), dtype=nl.float8_e4m3fn_x4, buffer=nl.sbuf)
        sa = nl.ndarray((P // 8, M), dtype=nl.uint8, buffer=nl.sbuf)
        qb = nl.ndarray((P, N), dtype=nl.float8_e5m2_x4, buffer=nl.sbuf)
        sb = nl.ndarray((P // 8, N), dtype=nl.float8_e8m0fnu, buffer=nl.sbuf)
        nisa.quantize_mx(dst=qa, src=a_sb, dst_scale=sa)
        nisa.quantize_mx(dst=qb, src=b_sb, dst_scale=sb)
        nisa.nc_matmul_mx(dst=acc, stationary=qa, moving=qb, stationary_scale=sa, moving_scale=sb)
        if k == KT - 1:
            nisa.dma_copy(dst=qa_out, src=qa)
            nisa.dma_copy(dst=sa_out, src=sa)
            nisa.dma_copy(dst=qb_out, src=qb)
            nisa.dma_copy(dst=sb_out, src=sb)
    res = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=res, src=acc)
    nisa.dma_copy(dst=out, src=res)
    return out, qa_out, sa_out, qb_out, sb_out


def ref_quantize(x, fmt, emax):
    """x [P, 4F] fp32 -> (element values [P, F, 4] in fmt, exponent [P/8, F])."""
    p, f = x.shape[0], x.shape[1] // 4
    g = x.reshape(p // 8, 8, f, 4)
    amax = np.abs(g).max(axis=(1, 3)).astype(np.float64)
    e = np.full(amax.shape, -127)
    nz = amax > 0
    e[nz] = np.floor(np.log2(amax[nz])).astype(int) - (emax - 1)
    scaled = g / (2.0**e)[:, None, :, None]
    q = scaled.astype(np.float32).astype(fmt)
    return q.reshape(p, f, 4), e


def packed(q):
    codes = q.view(np.uint8).astype(np.uint32)
    return codes[..., 0] | codes[..., 1] << 8 | codes[..., 2] << 16 | codes[..., 3] << 24


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((KT, P, 4 * M)) * 3.0).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((KT, P, 4 * N)).astype(ml_dtypes.bfloat16)
    a[KT - 1, 8:16, 0:4] = 0  # one all-zero group (in the tile stored back): scale 2^-127
    b[1, 0:8, 4:8] *= 1000  # a group with a large outlier
    out, qa, sa, qb, sb = mx_matmul(a, b)
    want = np.zeros((M, N))
    for k in range(KT):
        va, ea = ref_quantize(a[k].astype(np.float32), ml_dtypes.float8_e4m3fn, 8)
        vb, eb = ref_quantize(b[k].astype(np.float32), ml_dtypes.float8_e5m2, 15)
        deq_a = va.astype(np.float64) * (2.0 ** np.repeat(ea, 8, axis=0))[:, :, None]
        deq_b = vb.astype(np.float64) * (2.0 ** np.repeat(eb, 8, axis=0))[:, :, None]
        # contraction over (partition, lane): 4P values per K tile
        want += np.einsum("pmj,pnj->mn", deq_a, deq_b)
    ok_bits = (
        np.array_equal(qa.view(np.uint32), packed(va))
        and np.array_equal(sa.astype(np.int64), ea + 127)
        and np.array_equal(qb.view(np.uint32), packed(vb))
        and np.array_equal(sb.astype(np.float64), 2.0**eb)
        and sa[1, 0] == 0
    )
    # fp32 sum of 4P products per K tile (each product exact in fp32): |err| <= K_total * eps * sum|terms|
    terms = np.zeros((M, N))
    for k in range(KT):
        va, ea = ref_quantize(a[k].astype(np.float32), ml_dtypes.float8_e4m3fn, 8)
        vb, eb = ref_quantize(b[k].astype(np.float32), ml_dtypes.float8_e5m2, 15)
        deq_a = np.abs(va.astype(np.float64)) * (2.0 ** np.repeat(ea, 8, axis=0))[:, :, None]
        deq_b = np.abs(vb.astype(np.float64)) * (2.0 ** np.repeat(eb, 8, axis=0))[:, :, None]
        terms += np.einsum("pmj,pnj->mn", deq_a, deq_b)
    tol = KT * 4 * P * np.finfo(np.float32).eps * terms
    err = np.abs(out - want)
    ok = ok_bits and bool((err <= tol).all())
    print("match" if ok else f"MISMATCH bits={ok_bits} max err {err.max()} tol {tol.min()}")
    raise SystemExit(0 if ok else 1)
