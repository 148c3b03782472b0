"""Issue 10 item 8, current API (``import nki``) calls the public kernels make: nl.load_transpose2d,
Tensor.reshape(shape=), nl.broadcast_to(x, shape) positional, nl.ndarray with a positional buffer,
NKIObject dataclass-style configs, string dtypes a size helper parses, tensor_copy taking its
dtype from dst, nc_match_replace8 (nki-semantics §7)."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki

SIZES = {"float32": 4, "bfloat16": 2, "float16": 2, "float8_e4m3": 1}  # a library size helper


def dtype_size(dtype):
    return SIZES[str(dtype)]


class TileConfig(nl.NKIObject):
    rows: int = 128
    cols: int = 64
    dtype: str = nl.float32

    def __post_init__(self):
        self.bytes = self.rows * self.cols * dtype_size(self.dtype)


@nki.jit
def gaps(a, row, data, vals):
    cfg = TileConfig(cols=a.shape[0])
    assert cfg.bytes == 128 * 64 * 4 and dtype_size(a.dtype) == 4
    out = nl.ndarray((4, 128, 64), nl.float32, nl.shared_hbm)
    t = nl.load_transpose2d(a)  # a is [64, 128] -> [128, 64]
    flat = nl.ndarray((128, 64), nl.float32, nl.sbuf)
    nisa.tensor_copy(dst=flat, src=t)
    r = nl.load(row)  # [1, 64]
    b = nl.broadcast_to(r, (128, 64))
    nl.store(out[0], value=flat)
    nl.store(out[1], value=nl.add(flat, b))
    half = nl.ndarray((128, 64), nl.bfloat16, nl.sbuf)
    nisa.tensor_copy(dst=half, src=flat)  # output dtype from dst: rounds to bf16
    nl.store(out[2], value=nl.copy(half, dtype=nl.float32))
    d = nl.load(data)
    v = nl.load(vals)
    replaced = nl.ndarray(d.shape, nl.float32, nl.sbuf)
    idx = nl.ndarray((128, 8), nl.uint32, nl.sbuf)
    nisa.nc_match_replace8(dst=replaced, data=d, vals=v, imm=-1.0, dst_idx=idx)
    nl.store(out[3].reshape(shape=(128, 8, 8)), value=replaced.reshape(shape=(128, 8, 8)))
    return out


if __name__ == "__main__":
    a = np.random.rand(64, 128).astype(np.float32)
    row = np.random.rand(1, 64).astype(np.float32)
    data = np.random.permutation(128 * 64).astype(np.float32).reshape(128, 64)  # distinct values
    vals = data[:, [3, 9, 17, 20, 33, 41, 50, 63]].copy()
    out = gaps(a, row, data, vals)
    want_replaced = data.copy()
    want_replaced[:, [3, 9, 17, 20, 33, 41, 50, 63]] = -1.0
    ok = np.array_equal(out[0], a.T) and np.array_equal(out[1], a.T + row)
    ok &= np.array_equal(out[2], a.T.astype(nl.bfloat16).astype(np.float32))
    ok &= np.array_equal(out[3], want_replaced)
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
