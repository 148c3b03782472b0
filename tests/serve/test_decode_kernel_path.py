"""How decode ops map onto launches of the decode kernels (devicetime.kernel_path)."""

from __future__ import annotations

from trnsim.devicetime.kernel_path import DECODE_ATTENTION_MAX_BATCH, kernel_call
from trnsim.serve.ops import decode_ops
from trnsim.workload import load_model


def _ops(requests: int, context: int) -> dict[str, object]:
    return {op.name: op for op in decode_ops(load_model("llama3-8b"), 8, 32, requests, context)}


def test_decode_matmul_pads_k_and_splits_rows_into_stationary_tiles() -> None:
    call = kernel_call(_ops(200, 100)["fc2"])  # type: ignore[arg-type]
    assert call is not None and call.kernel == "decode_matmul"
    # fc2: K = 14336 / 8 = 1792 (a multiple of 128); 200 rows are two launches of 128
    assert dict(call.shape) == {"m": 128, "k": 1792, "n": 4096} and call.repeats == 2


def test_decode_attention_batches_request_kv_pairs_per_launch() -> None:
    op = _ops(100, 1000)["attention"]
    call = kernel_call(op)  # type: ignore[arg-type]
    assert call is not None and call.kernel == "decode_attention"
    # 100 requests x 1 KV head per rank = 100 pairs: two launches of 50, group 4 query heads,
    # the cache padded to whole 128-position tiles (1000 -> 1024)
    assert DECODE_ATTENTION_MAX_BATCH == 64
    assert call.repeats == 2
    assert dict(call.shape) == {"batch": 50, "heads": 4, "kv_heads": 1, "seq_k": 1024, "head_dim": 128}
