"""Python operators on legacy tiles (the operator table of trnsim.nki.tensor): each maps to its
nl.* element-wise op, reflected forms put the scalar first, in-place forms write the tile."""

import neuronxcc.nki.language as nl
import numpy as np
from neuronxcc import nki

OPS = [
    ("a + b", lambda a, b: a + b),
    ("2 + a", lambda a, b: 2 + a),
    ("a - b", lambda a, b: a - b),
    ("2 - a", lambda a, b: 2 - a),
    ("a * b", lambda a, b: a * b),
    ("3 * a", lambda a, b: 3 * a),
    ("a / b", lambda a, b: a / b),
    ("1 / b", lambda a, b: 1 / b),
    ("a ** 2", lambda a, b: a**2),
    ("a < b", lambda a, b: a < b),
    ("a <= b", lambda a, b: a <= b),
    ("a > b", lambda a, b: a > b),
    ("a >= b", lambda a, b: a >= b),
    ("a == b", lambda a, b: a == b),
    ("a != b", lambda a, b: a != b),
    ("-a", lambda a, b: -a),
]
INT_OPS = [
    ("i << 2", lambda i: i << 2),
    ("i >> 1", lambda i: i >> 1),  # a logical shift (nki-api.md: "no arithmetic right shift")
    ("i & 6", lambda i: i & 6),
    ("i | 9", lambda i: i | 9),
    ("i ^ 5", lambda i: i ^ 5),
    ("~i", lambda i: ~i),
]


@nki.jit
def operators(a, b, i):
    out = nl.ndarray((len(OPS) + 4, 128, 16), dtype=nl.float32, buffer=nl.shared_hbm)
    iout = nl.ndarray((len(INT_OPS), 128, 16), dtype=nl.int32, buffer=nl.shared_hbm)
    ta, tb, ti = nl.load(a), nl.load(b), nl.load(i)
    for k, (_, fn) in enumerate(OPS):
        nl.store(out[k], value=nl.copy(fn(ta, tb), dtype=nl.float32))
    acc = nl.load(a)
    for k, step in enumerate(("+=", "-=", "*=", "/=")):
        if step == "+=":
            acc += tb
        elif step == "-=":
            acc -= 0.5
        elif step == "*=":
            acc *= tb
        else:
            acc /= 2.0
        nl.store(out[len(OPS) + k], value=acc)
    for k, (_, fn) in enumerate(INT_OPS):
        nl.store(iout[k], value=fn(ti))
    return out, iout


if __name__ == "__main__":
    rng = np.random.default_rng(5)
    a = rng.uniform(0.5, 2.0, (128, 16)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, (128, 16)).astype(np.float32)
    b[:, 0] = a[:, 0]  # some equal elements for == / !=
    i = rng.integers(-50, 50, (128, 16)).astype(np.int32)
    out, iout = operators(a, b, i)
    want = [np.asarray(fn(a, b), np.float32) for _, fn in OPS]
    acc = a.copy()
    half, two = np.float32(0.5), np.float32(2)
    for step in (lambda x: x + b, lambda x: x - half, lambda x: x * b, lambda x: x / two):
        acc = step(acc).astype(np.float32)
        want.append(acc)
    # fp32 element-wise ops: divide and power may differ from numpy by one rounding (1 ulp)
    bad = [
        name
        for (name, _), got, w in zip(OPS + [("in-place", None)] * 4, out, want, strict=True)
        if not np.allclose(got, w, rtol=np.finfo(np.float32).eps, atol=0)
    ]
    int_want = [fn(i) for _, fn in INT_OPS]
    int_want[1] = (i.view(np.uint32) >> 1).view(np.int32)
    for (name, _), got, w in zip(INT_OPS, iout, int_want, strict=True):
        if not np.array_equal(got, w):
            bad.append(name)
    print("match" if not bad else f"MISMATCH {bad}")
    raise SystemExit(0 if not bad else 1)
