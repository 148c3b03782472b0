"""The current API's NkiTensor view methods (nki-api.md §3.3): `permute`, `slice`, `select`,
`broadcast`, `expand_dim`, `squeeze_dim`, `reshape_dim`, `flatten_dims`, `rearrange`, `is_contiguous` — views
over the same storage, read by tensor_copy / dma_copy and compared with numpy (exact: copies)."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


def _copy_out(view, shape):
    t = nl.ndarray(shape, dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=t, src=view)
    out = nl.ndarray(shape, dtype=nl.float32, buffer=nl.shared_hbm)
    nisa.dma_copy(dst=out, src=t)
    return out


@nki.jit
def views(a, col):
    x = nl.ndarray((128, 4, 64), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=x, src=a)
    c = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=c, src=col)
    assert x.is_contiguous() and not x.permute((0, 2, 1)).is_contiguous()
    outs = (
        _copy_out(x.permute((0, 2, 1)), (128, 64, 4)),
        _copy_out(x.slice(2, 8, 40, 2), (128, 4, 16)),
        _copy_out(x.select(1, 3), (128, 64)),
        _copy_out(c.broadcast(1, 32), (128, 32)),
        _copy_out(c.expand_dim(1).broadcast(1, 3).squeeze_dim(2), (128, 3)),
        _copy_out(x.reshape_dim(2, (8, -1)), (128, 4, 8, 8)),
        _copy_out(x.flatten_dims(1, 2), (128, 256)),
        _copy_out(x.rearrange("p a (b c)", "p c a b", fixed_sizes={"c": 4}), (128, 4, 4, 16)),
        _copy_out(x.rearrange("p a b", "p (a b)"), (128, 256)),
    )
    # HBM views feed a DMA directly
    h = nl.ndarray((64, 128), dtype=nl.float32, buffer=nl.shared_hbm)
    nisa.dma_copy(dst=h, src=a.reshape((128, 256)).slice(0, 0, 64).slice(1, 0, 256, 2))
    return (*outs, h)


if __name__ == "__main__":
    a = np.random.rand(128, 4, 64).astype(np.float32)
    col = np.random.rand(128, 1).astype(np.float32)
    got = views(a, col)
    want = (
        a.transpose(0, 2, 1),
        a[:, :, 8:40:2],
        a[:, 3, :],
        np.broadcast_to(col, (128, 32)),
        np.broadcast_to(col, (128, 3)),
        a.reshape(128, 4, 8, 8),
        a.reshape(128, 256),
        a.reshape(128, 4, 16, 4).transpose(0, 3, 1, 2),
        a.reshape(128, 256),
        a.reshape(128, 256)[:64, ::2],
    )
    ok = all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
