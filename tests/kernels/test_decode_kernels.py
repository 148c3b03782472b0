"""The decode kernels against their NumPy references (tolerances in units of u, see tolerance.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.kernels.tolerance import assert_close
from trnsim import nki
from trnsim.kernels import registry
from trnsim.kernels.tiling import KernelShapeError

CASES = [
    # fp32 accumulation over K = 640 random terms grows like sqrt(K) u ~ 25 u: allow 64 u; bf16
    # inputs are exact in fp32, the result is rounded once to bf16: 2 u. N = 1152 exercises a
    # ragged last moving tile; M = 3 a skinny stationary operand.
    ("decode_matmul", {"m": 3, "k": 640, "n": 1152}, {"float32": 64, "bfloat16": 2}),
    ("decode_matmul", {"m": 1, "k": 256, "n": 160}, {"float32": 64, "bfloat16": 2}),
    # P is rounded to bf16 before P V and the output once more: 4 u (as flash attention).
    ("decode_attention", {"batch": 2, "heads": 8, "kv_heads": 2, "seq_k": 1152, "head_dim": 64},
     {"float32": 64, "bfloat16": 4}),
]


@pytest.mark.parametrize(("name", "shape", "factors"), CASES)
def test_decode_kernel_values(name: str, shape: dict[str, int], factors: dict[str, float]) -> None:
    entry = registry.get(name)
    rng = np.random.default_rng(7)
    for dtype, factor in factors.items():
        args = entry.make_args(shape, dtype, rng=rng)
        got = nki.simulate(entry.kernel, *args)
        assert_close(got, entry.reference(*args), dtype, factor, f"{name} {shape}")


def test_decode_matmul_rejects_too_many_rows() -> None:
    entry = registry.get("decode_matmul")
    with pytest.raises(KernelShapeError, match="M"):
        nki.simulate(entry.kernel, *entry.make_args({"m": 129, "k": 128, "n": 128}, "float32",
                                                    rng=np.random.default_rng(0)))
