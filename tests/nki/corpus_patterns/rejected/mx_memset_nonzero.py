"""memset of a packed x4 tile takes 0 only (nki-api.md §3.5 memset: "x4 dtypes: 0 only")."""

import nki.isa as nisa
import nki.language as nl
import numpy as np

import nki


@nki.jit(platform_target="trn3")
def fill_x4(a):
    t = nl.ndarray((32, 8), dtype=nl.float8_e4m3fn_x4, buffer=nl.sbuf)
    nisa.memset(dst=t, value=0)
    nisa.memset(dst=t, value=1.0)
    return a


if __name__ == "__main__":
    fill_x4(np.ones((1, 1), np.float32))
