"""Current RNG instructions (statistical fidelity, nki-api.md §3.5): `rand2(dst, min, max)` is
uniform in [min, max), `rng(dst)` uniform over [0, 1) / an integer dtype's range, and
`rand_get_state` + `rand_set_state` replay the same stream."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit(platform_target="trn3")
def draws():
    out = nl.ndarray((4, 128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    bits = nl.ndarray((128, 512), dtype=nl.uint8, buffer=nl.shared_hbm)
    seed = nl.ndarray((1, 1), dtype=nl.uint32, buffer=nl.sbuf)
    nisa.memset(dst=seed, value=1234)
    nisa.set_rng_seed(seed)
    t = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.sbuf)
    nisa.rand2(dst=t, min=-2.0, max=3.0)
    nisa.dma_copy(dst=out[0], src=t)
    nisa.rng(dst=t)
    nisa.dma_copy(dst=out[1], src=t)
    u = nl.ndarray((128, 512), dtype=nl.uint8, buffer=nl.sbuf)
    nisa.rng(u, engine=nisa.gpsimd_engine)
    nisa.dma_copy(dst=bits, src=u)
    state = nl.ndarray((1, 4), dtype=nl.uint32, buffer=nl.sbuf)
    nisa.rand_get_state(dst=state)
    nisa.rand2(t, 0.0, 1.0)
    nisa.dma_copy(dst=out[2], src=t)
    nisa.rand_set_state(state)
    nisa.rand2(t, 0.0, 1.0)
    nisa.dma_copy(dst=out[3], src=t)
    return out, bits


if __name__ == "__main__":
    out, bits = draws()
    n = out[0].size
    # uniform on [a, b): mean (a+b)/2, sd (b-a)/sqrt(12); the sample mean within 5 standard errors
    ok = out[0].min() >= -2.0 and out[0].max() < 3.0
    ok &= abs(out[0].mean() - 0.5) < 5 * (5.0 / np.sqrt(12)) / np.sqrt(n)
    ok &= out[1].min() >= 0.0 and out[1].max() < 1.0 and abs(out[1].mean() - 0.5) < 5 / np.sqrt(12 * n)
    ok &= abs(bits.mean() - 127.5) < 5 * (256 / np.sqrt(12)) / np.sqrt(n) and bits.max() > 250
    ok &= np.array_equal(out[2], out[3])
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
