"""Issue 10 item 8 (legacy constants): a kernel lays out direct-allocation addresses with
``nki.language.constants.sbuf_min_align`` and ``sizeinbytes`` (as the rmsnorm_quant constants
file does), and reads ``nl.tile_size.sbuf_min_align``. The value is trnsim's assumption (4 bytes,
hardware/data/neuroncore/*.toml: undocumented in the spec); the kernel only needs it to be the
same in both places and to make every address it builds legal."""

import neuronxcc.nki.language as nl
import neuronxcc.nki.language.constants as nlc
import numpy as np
from neuronxcc import nki


def aligned(n_bytes):
    align = nlc.sbuf_min_align
    return (n_bytes + align - 1) // align * align


@nki.jit
def two_buffers(a, b):
    assert nl.tile_size.sbuf_min_align == nlc.sbuf_min_align
    out = nl.ndarray((128, 3), dtype=nl.float32, buffer=nl.shared_hbm)
    # a 3-element bf16 row is 6 bytes: the next buffer starts at the next aligned address
    first = aligned(3 * nlc.sizeinbytes(nl.bfloat16))
    ta = nl.ndarray(
        (nl.par_dim(128), 3), dtype=nl.bfloat16, buffer=nki.compiler.sbuf.alloc(lambda i, p, f: (0, 0))
    )
    tb = nl.ndarray(
        (nl.par_dim(128), 3), dtype=nl.float32, buffer=nki.compiler.sbuf.alloc(lambda i, p, f: (0, first))
    )
    ta[...] = nl.load(a)
    tb[...] = nl.load(b)
    nl.store(out, value=nl.add(ta, tb))
    return out


if __name__ == "__main__":
    a = np.random.rand(128, 3).astype(np.float32)
    b = np.random.rand(128, 3).astype(np.float32)
    got = two_buffers(nl.static_cast(a, nl.bfloat16), b)
    want = nl.static_cast(a, nl.bfloat16).astype(np.float32) + b
    ok = np.array_equal(got, want)
    print("match" if ok else f"MISMATCH {np.abs(got - want).max()}")
    raise SystemExit(0 if ok else 1)
