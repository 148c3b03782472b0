"""Issue 10 item 8 (MX, trn3): ``nc_matmul_mx`` on MXFP4 data packed on the host (uint16 HBM
tensors ``.view``ed as ``float4_e2m1fn_x4``, nki-api.md §4) with raw uint8 E8M0 scales, mixed
with an MXFP8 moving operand; a bf16 PSUM dst; ``accumulate=False`` then ``True``.

Reference from the spec only: lane j of a packed element is nibble j (bits 4j..4j+3); the value
is the e2m1 code times ``2^(byte - 127)`` of its 8-partition group; contraction over
(partition, lane); the bf16 dst rounds the fp32 sum to nearest even.
"""

import ml_dtypes
import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki

P, M, N = 64, 32, 128


@nki.jit(platform_target="trn3")
def fp4_matmul(s_words, s_scale, m_words, m_scale):
    out = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.shared_hbm)
    s_sb = nl.ndarray((P, M), dtype=nl.float4_e2m1fn_x4, buffer=nl.sbuf)
    m_sb = nl.ndarray((P, N), dtype=nl.float8_e4m3fn_x4, buffer=nl.sbuf)
    ss = nl.ndarray((P // 8, M), dtype=nl.uint8, buffer=nl.sbuf)
    ms = nl.ndarray((P // 8, N), dtype=nl.uint8, buffer=nl.sbuf)
    nisa.dma_copy(dst=s_sb, src=s_words.view(nl.float4_e2m1fn_x4))
    nisa.dma_copy(dst=m_sb, src=m_words.view(nl.float8_e4m3fn_x4))
    nisa.dma_copy(dst=ss, src=s_scale)
    nisa.dma_copy(dst=ms, src=m_scale)
    acc = nl.ndarray((M, N), dtype=nl.bfloat16, buffer=nl.psum)
    nisa.nc_matmul_mx(acc, s_sb, m_sb, ss, ms, accumulate=False)
    nisa.nc_matmul_mx(acc, s_sb, m_sb, ss, ms, accumulate=True)
    res = nl.ndarray((M, N), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=res, src=acc)
    nisa.dma_copy(dst=out, src=res)
    return out


if __name__ == "__main__":
    rng = np.random.default_rng(1)
    s_codes = rng.integers(0, 16, size=(P, M, 4)).astype(np.uint16)  # every e2m1 code
    s_words = (s_codes << (4 * np.arange(4, dtype=np.uint16))).sum(axis=-1).astype(np.uint16)
    m_vals = rng.standard_normal((P, N, 4)).astype(ml_dtypes.float8_e4m3fn)
    m_codes = m_vals.view(np.uint8).astype(np.uint32)
    m_words = (m_codes << (8 * np.arange(4, dtype=np.uint32))).sum(axis=-1).astype(np.uint32)
    s_scale = rng.integers(120, 134, size=(P // 8, M)).astype(np.uint8)
    m_scale = rng.integers(120, 134, size=(P // 8, N)).astype(np.uint8)
    out = fp4_matmul(s_words, s_scale, m_words, m_scale)
    s_val = s_codes.astype(np.uint8).view(ml_dtypes.float4_e2m1fn).astype(np.float64)
    s_val *= 2.0 ** (np.repeat(s_scale, 8, axis=0).astype(np.float64) - 127)[:, :, None]
    m_val = (
        m_vals.astype(np.float64)
        * 2.0 ** (np.repeat(m_scale, 8, axis=0).astype(np.float64) - 127)[:, :, None]
    )
    one = np.einsum("pmj,pnj->mn", s_val, m_val)
    # first matmul: fp32 sum then bf16 RNE; second: bf16(old) + fp32 sum, in fp32, then bf16 again
    first = one.astype(np.float32).astype(ml_dtypes.bfloat16)
    want = (first.astype(np.float32) + one.astype(np.float32)).astype(ml_dtypes.bfloat16).astype(np.float32)
    # the fp32 sums of 4P exact products may differ from float64 by 4P eps32 sum|terms|, which can
    # move a bf16 rounding by one bf16 ulp at most
    ulp = np.spacing(np.abs(want).astype(ml_dtypes.bfloat16)).astype(np.float32)
    ok = bool((np.abs(out - want) <= ulp).all()) and np.mean(out == want) > 0.99
    print("match" if ok else f"MISMATCH max {np.abs(out - want).max()} equal {np.mean(out == want)}")
    raise SystemExit(0 if ok else 1)
