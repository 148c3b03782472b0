"""`nisa.dropout` (legacy: `dropout(data, prob)`, current: `dropout(dst, data, prob)`) and
`nl.dropout(x, rate)`, with a scalar or a [P, 1] probability: kept elements pass unchanged (no
rescaling, as the SDK describes both), the dropped fraction follows the probability."""

import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki


@nki.jit
def legacy_dropout(x, prob_rows):
    out = nl.ndarray((3, 128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    t = nl.load(x)
    p = nl.load(prob_rows)  # [128, 1]: 0.0 on even rows, 1.0 on odd rows
    nl.store(out[0], value=nisa.dropout(t, prob=0.5))
    nl.store(out[1], value=nisa.dropout(data=t, prob=p))
    nl.store(out[2], value=nl.dropout(t, rate=0.25))
    return out


def current_dropout(x):
    import nki.isa as cisa
    import nki.language as cnl

    @nki_current.jit
    def kernel(a):
        out = cnl.ndarray((128, 512), dtype=cnl.float32, buffer=cnl.shared_hbm)
        t = cnl.ndarray((128, 512), dtype=cnl.float32, buffer=cnl.sbuf)
        cisa.dma_copy(dst=t, src=a)
        d = cnl.ndarray((128, 512), dtype=cnl.float32, buffer=cnl.sbuf)
        cisa.dropout(dst=d, data=t, prob=0.75)
        cisa.dma_copy(dst=out, src=d)
        return out

    return kernel(x)


if __name__ == "__main__":
    import nki as nki_current

    x = (np.random.rand(128, 512) + 1.0).astype(np.float32)  # no zeros of its own
    rows = (np.arange(128) % 2).astype(np.float32).reshape(128, 1)
    out = legacy_dropout(x, rows)
    cur = current_dropout(x)
    n = x.size
    ok = True
    for got, rate in ((out[0], 0.5), (out[2], 0.25), (cur, 0.75)):
        kept = got != 0
        ok &= bool(np.array_equal(got[kept], x[kept]))  # survivors are not rescaled
        # dropped fraction within 5 binomial standard deviations of the rate
        ok &= abs((~kept).mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    ok &= bool(np.array_equal(out[1][0::2], x[0::2])) and not out[1][1::2].any()
    print("match" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
