"""Kernel-library figures: simulator speed and accuracy per kernel, and the matmul family at
the issue's shape.

Run: ``PYTHONPATH=src python benchmarks/kernels_bench.py [--big]``

1. Each registry kernel in value mode on a small shape: wall time of ``nki.simulate`` and the
   worst error against the NumPy reference, in units of the output dtype's unit roundoff.
2. The matmul family traced in timing-only mode (trn1, bf16): instruction counts, TensorE
   matmuls, HBM bytes read, and each figure as a ratio to the naive kernel. With ``--big`` at
   [4096×8192]@[8192×8192] (the chip model's benchmark shape), else at [1024×2048]@[2048×4096].
3. With ``--training``: every operation traced at the shapes of one AFM-on-device layer
   (model dim 3072, 24 query / 8 KV heads of 128, FFN 8192, vocabulary 49152) for 4096 tokens,
   to show the kernels accept training shapes and what a timing-only trace of each costs.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

import numpy as np

from trnsim import nki
from trnsim.kernels import registry
from trnsim.nki.trace import Engine, MemorySpace

UNIT_ROUNDOFF = {"float32": 2.0**-24, "bfloat16": 2.0**-8, "float8_e4m3": 2.0**-4}

ATTENTION = {"batch": 1, "heads": 4, "kv_heads": 2, "seq_q": 512, "seq_k": 512, "head_dim": 128}
SMALL = {
    "add": {"rows": 512, "cols": 2048},
    "add_spmd": {"rows": 512, "cols": 2048},
    "transpose": {"rows": 512, "cols": 512},
    "softmax": {"rows": 512, "cols": 2048},
    "rmsnorm": {"rows": 512, "hidden": 1024},
    "layernorm": {"rows": 512, "hidden": 1024},
    "flash_attention_fwd": ATTENTION,
    "flash_attention_bwd": ATTENTION,
    "swiglu_mlp": {"tokens": 512, "hidden": 512, "ffn": 1024},
    "adamw": {"numel": 128 * 4096},
    "cross_entropy": {"tokens": 256, "vocab": 8192},
}
MATMUL_SMALL = {"m": 512, "k": 512, "n": 1024}


def _tuple(x: Any) -> tuple[Any, ...]:
    return x if isinstance(x, tuple) else (x,)


def _err_u(got: Any, ref: Any) -> float:
    g = np.asarray(got).astype(np.float64)
    r = np.asarray(ref).astype(np.float64)
    name = next(n for n, d in registry.DTYPES.items() if d == np.asarray(got).dtype)
    return float(np.max(np.abs(g - r) / (UNIT_ROUNDOFF[name] * (np.abs(r) + np.abs(r).mean()))))


def value_mode_table() -> None:
    print("kernel                 dtype     shape                                   sim_s  worst_err_u")
    rng = np.random.default_rng(0)
    cases = {**SMALL, **{n: MATMUL_SMALL for n in registry.MATMUL_FAMILY}}
    for name, shape in cases.items():
        entry = registry.get(name)
        for dtype in ("float32", "bfloat16"):
            args = entry.make_args(shape, dtype, rng=rng)
            start = time.perf_counter()
            got = _tuple(nki.simulate(entry.kernel, *args, target="trn1", grid=entry.grid()))
            elapsed = time.perf_counter() - start
            ref = _tuple(entry.reference(*args))
            worst = max(_err_u(g, r) for g, r in zip(got, ref, strict=True))
            shape_s = ",".join(f"{k}={v}" for k, v in shape.items())
            print(f"{name:22s} {dtype:9s} {shape_s[:38]:38s} {elapsed:6.2f}  {worst:10.2f}")


def matmul_family_table(big: bool) -> None:
    shape = {"m": 4096, "k": 8192, "n": 8192} if big else {"m": 1024, "k": 2048, "n": 4096}
    print(f"\nmatmul family, timing-only trace on trn1, bf16, m={shape['m']} k={shape['k']} n={shape['n']}")
    print("kernel                 instructions  nc_matmul  vector_ops  hbm_read_MiB  trace_s  read/naive")
    base_read = None
    for name in registry.MATMUL_FAMILY:
        entry = registry.get(name)
        args = entry.make_args(shape, "bfloat16")
        start = time.perf_counter()
        trace = nki.trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
        elapsed = time.perf_counter() - start
        engines = Counter(i.engine for i in trace.instructions)
        matmuls = sum(1 for i in trace.instructions if i.opcode == "nc_matmul")
        read = sum(
            op.nbytes
            for i in trace.instructions
            if i.engine == Engine.DMA
            for op in i.inputs
            if op.space == MemorySpace.HBM
        )
        base_read = base_read or read
        print(
            f"{name:22s} {len(trace):12d}  {matmuls:9d}  {engines[Engine.VECTOR]:10d}  "
            f"{read / 2**20:12.1f}  {elapsed:7.2f}  {read / base_read:10.3f}"
        )


TRAINING = {
    "rmsnorm": {"rows": 4096, "hidden": 3072},
    "softmax": {"rows": 4096, "cols": 4096},
    "add": {"rows": 4096, "cols": 3072},
    "transpose": {"rows": 4096, "cols": 3072},
    "matmul": {"m": 4096, "k": 3072, "n": 3072},
    "flash_attention_fwd": {
        "batch": 1,
        "heads": 24,
        "kv_heads": 8,
        "seq_q": 4096,
        "seq_k": 4096,
        "head_dim": 128,
    },
    "flash_attention_bwd": {
        "batch": 1,
        "heads": 24,
        "kv_heads": 8,
        "seq_q": 4096,
        "seq_k": 4096,
        "head_dim": 128,
    },
    "swiglu_mlp": {"tokens": 4096, "hidden": 3072, "ffn": 8192},
    "adamw": {"numel": 3072 * 8192},
    "cross_entropy": {"tokens": 4096, "vocab": 49152},
}


def training_shapes_table() -> None:
    print("\ntraining shapes (AFM-on-device layer, 4096 tokens), timing-only trace on trn1, bf16")
    print("kernel                 instructions  trace_s  shape")
    for name, shape in TRAINING.items():
        entry = registry.get(name)
        args = entry.make_args(shape, "bfloat16")
        start = time.perf_counter()
        trace = nki.trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
        elapsed = time.perf_counter() - start
        shape_s = ",".join(f"{k}={v}" for k, v in shape.items())
        print(f"{name:22s} {len(trace):12d}  {elapsed:7.1f}  {shape_s}")


if __name__ == "__main__":
    if "--training" in sys.argv:
        training_shapes_table()
    else:
        value_mode_table()
        matmul_family_table(big="--big" in sys.argv)
