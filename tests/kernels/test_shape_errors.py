"""Shapes a kernel cannot handle are refused with one line naming the limit, before any work."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("trnsim.nki.legacy", reason="the kernel layer trnsim.nki.legacy is not available yet")

from trnsim import nki
from trnsim.errors import TrnsimError
from trnsim.kernels import registry


def _zeros(*shapes: tuple[int, ...], dtype: Any = np.float32) -> list[Any]:
    return [np.zeros(s, dtype=dtype) for s in shapes]


@pytest.mark.parametrize(
    ("op", "args", "message"),
    [
        ("matmul", _zeros((200, 128), (200, 512)), "K .* is 200; it must be a positive multiple of 128"),
        ("matmul_tiled", _zeros((128, 128), (256, 512)), "contraction sizes differ"),
        ("matmul_naive", _zeros((128, 96), (128, 512)), "M .* is 96"),
        ("matmul_hoisted", _zeros((128, 128), (128, 600)), "N .* is 600"),
        ("add", _zeros((4, 4), (4, 5)), "same shape and dtype"),
        ("transpose", _zeros((4, 4, 4)), "expected a 2-D tensor"),
        ("rmsnorm", _zeros((4, 8), (7,)), r"expected \(8,\)"),
        ("swiglu_mlp", _zeros((128, 128), (128, 256), (128, 256), (128, 128)), r"'w_down' is \(128, 128\)"),
        ("adamw", _zeros((100,), (100,), (100,), (100,)), "100 elements"),
        ("cross_entropy", [np.zeros((4, 8), np.float32), np.zeros((4,), np.float32)], "int32"),
    ],
)
def test_refused_with_one_line(op: str, args: list[Any], message: str) -> None:
    with pytest.raises(TrnsimError, match=message) as info:
        nki.simulate(registry.get(op).kernel, *args, target="trn1")
    assert "\n" not in str(info.value)


def test_attention_limits() -> None:
    fwd = registry.get("flash_attention_fwd").kernel
    q, k = _zeros((1, 2, 256, 64), (1, 2, 384, 64))
    with pytest.raises(TrnsimError, match="causal attention needs seq_q == seq_k"):
        nki.simulate(fwd, q, k, k, True, target="trn1")
    q, k = _zeros((1, 3, 128, 64), (1, 2, 128, 64))
    with pytest.raises(TrnsimError, match=r"query heads \(3\) must be a multiple of KV heads \(2\)"):
        nki.simulate(fwd, q, k, k, False, target="trn1")
    q, k = _zeros((1, 2, 100, 64), (1, 2, 100, 64))
    with pytest.raises(TrnsimError, match="seq_q is 100"):
        nki.simulate(fwd, q, k, k, False, target="trn1")
    q, k = _zeros((1, 2, 128, 256), (1, 2, 128, 256))
    with pytest.raises(TrnsimError, match="head_dim is 256"):
        nki.simulate(fwd, q, k, k, False, target="trn1")


def test_attention_refuses_non_positive_scale() -> None:
    # The forward takes the row max of the raw scores and scales it (−scale·max): that is the max
    # of the scaled scores only for scale > 0, so other scales are refused rather than mis-computed.
    fwd = registry.get("flash_attention_fwd").kernel
    q = _zeros((1, 1, 128, 64))[0]
    with pytest.raises(TrnsimError, match=r"softmax_scale is -0\.5; it must be positive") as info:
        nki.simulate(fwd, q, q, q, True, -0.5, target="trn1")
    assert "\n" not in str(info.value)
