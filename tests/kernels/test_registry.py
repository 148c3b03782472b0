"""The registry: every required operation is there, arguments are built as documented, and bad
requests get one clear line."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("trnsim.nki.legacy", reason="the kernel layer trnsim.nki.legacy is not available yet")

from trnsim.errors import TrnsimError, UnknownNameError
from trnsim.kernels import registry
from trnsim.nki import TensorSpec

REQUIRED = [
    "matmul",
    "flash_attention_fwd",
    "flash_attention_bwd",
    "rmsnorm",
    "layernorm",
    "softmax",
    "swiglu_mlp",
    "adamw",
    "cross_entropy",
    "add",
    "transpose",
]


def test_required_operations_present() -> None:
    assert set(REQUIRED) <= set(registry.names())
    for name in registry.names():
        entry = registry.get(name)
        assert callable(entry.reference) and entry.shape_keys, name


def test_placeholders_take_no_memory_at_training_shapes() -> None:
    """Placeholders for a 4096×8192×8192 matmul are TensorSpecs: shape and dtype, no array."""
    lhsT, rhs = registry.get("matmul").make_args({"m": 4096, "k": 8192, "n": 8192}, "bfloat16")
    assert isinstance(lhsT, TensorSpec) and isinstance(rhs, TensorSpec)
    assert lhsT.shape == (8192, 4096) and rhs.shape == (8192, 8192)
    assert lhsT.dtype == registry.DTYPES["bfloat16"]


def test_attention_args_follow_shape_keys() -> None:
    shape = {"batch": 2, "heads": 24, "kv_heads": 8, "seq_q": 4096, "seq_k": 4096, "head_dim": 128}
    q, k, v, causal = registry.get("flash_attention_fwd").make_args(shape, "bfloat16")
    assert q.shape == (2, 24, 4096, 128) and k.shape == v.shape == (2, 8, 4096, 128)
    assert causal is True  # the default
    args = registry.get("flash_attention_bwd").make_args({**shape, "causal": 0}, "bfloat16")
    assert [a.shape for a in args[:6]] == [q.shape, k.shape, v.shape, q.shape, q.shape, (2, 24, 4096)]
    assert args[5].dtype == np.float32 and args[6] is False


def test_random_args_are_values() -> None:
    rng = np.random.default_rng(0)
    logits, labels = registry.get("cross_entropy").make_args({"tokens": 10, "vocab": 50}, "float32", rng=rng)
    assert isinstance(logits, np.ndarray) and labels.dtype == np.int32
    assert labels.min() >= 0 and labels.max() < 50
    _, _, _, v = registry.get("adamw").make_args({"numel": 256}, "float32", rng=rng)
    assert (v >= 0).all()  # a second moment is never negative


@pytest.mark.parametrize(
    ("name", "shape", "dtype", "message"),
    [
        ("matmul", {"m": 128, "k": 128}, "float32", "missing ['n']"),
        ("matmul", {"m": 128, "k": 128, "n": 128, "x": 1}, "float32", "unknown ['x']"),
        ("matmul", {"m": 128, "k": 128, "n": -1}, "float32", "non-negative int"),
        ("softmax", {"rows": 8, "cols": 8}, "float8_e4m3", "use one of float32, bfloat16"),
        ("add", {"rows": 8, "cols": 8}, "int64", "not supported"),
    ],
)
def test_bad_requests_get_one_line(name: str, shape: dict[str, int], dtype: str, message: str) -> None:
    with pytest.raises(TrnsimError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        registry.get(name).make_args(shape, dtype)
    assert "\n" not in str(info.value)


def test_unknown_operation_lists_known() -> None:
    with pytest.raises(UnknownNameError, match=r"known: .*matmul"):
        registry.get("conv2d")
