"""The ops of one decode step and of one prefill on one rank.

Prefill reuses the training forward pass (:func:`trnsim.workload.build_step`) at the prompt
length, without its backward, its loss and all but the last token's output projection. Decode is
built here in the same vocabulary (:class:`trnsim.devicetime.Op`): every matmul has ``M`` = the
rows of the step (requests in flight, times the tokens each verifies) and runs the
``decode_matmul`` kernel (weights streamed once from HBM); attention runs ``decode_attention``
over the KV cache at the step's context length; norms, RoPE, activations and residuals are
row-wise ops; sampling is a row-wise pass over the vocabulary shard.

MoE decode: each of the rank's ``E / ep`` experts receives tokens only if routing sends one
there. With ``T`` routed token copies spread uniformly over ``E`` experts (top-k), an expert is
touched with probability ``1 − (1 − 1/E)^T`` and its weights are streamed only then.
"""

from __future__ import annotations

import math
from dataclasses import replace

from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.workload.config import AttentionKind, MlpKind, ModelConfig, NormKind
from trnsim.workload.graph import build_step
from trnsim.workload.options import Precision
from trnsim.workload.shard import Shard

__all__ = ["decode_ops", "expected_experts_touched", "kv_heads_on_rank", "prefill_ops", "prefill_tokens"]

_ACT = 2  # BF16 activations


def kv_heads_on_rank(model: ModelConfig, tp: int) -> int:
    """KV heads one rank caches: split over TP, replicated once TP exceeds them (MLA: one latent)."""
    if model.attention is AttentionKind.MLA:
        return 1
    return max(1, model.num_kv_heads // tp)


def expected_experts_touched(experts: int, routed_copies: float) -> float:
    """Expected distinct experts of ``experts`` (uniform routing) hit by ``routed_copies`` token copies."""
    if experts <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - 1.0 / experts) ** routed_copies)


def _mm(name: str, m: int, k: int, n: int, dtype: Dtype, count: float) -> Op:
    return Op(name=name, op_class=OpClass.MATMUL, phase=Phase.FWD, flops=2.0 * m * k * n,
              bytes_read=float(m * k * _ACT + k * n * dtype.nbytes), bytes_written=float(m * n * _ACT),
              shape={"m": m, "k": k, "n": n}, dtype=dtype, count=max(0, round(count)), kernel="decode_matmul")


def _rows(name: str, op_class: OpClass, rows: int, cols: int, flops: float, inputs: int, count: int,
          kernel: str = "") -> Op:
    n = rows * cols
    return Op(name=name, op_class=op_class, phase=Phase.FWD, flops=flops * n,
              bytes_read=float(inputs * n * _ACT), bytes_written=float(n * _ACT),
              shape={"rows": rows, "cols": cols}, dtype=Dtype.BF16, count=count, kernel=kernel)


def _norm(name: str, model: ModelConfig, rows: int, count: int) -> Op:
    rms = model.norm is NormKind.RMSNORM
    return _rows(name, OpClass.NORM, rows, model.hidden_size, 4.0 if rms else 7.0, 1, count,
                 "rmsnorm" if rms else "layernorm")


def _attention(model: ModelConfig, tp: int, requests: int, queries: int, context: int, kv_bytes: int,
               count: int) -> Op:
    """Flash-decoding of ``queries`` new tokens per request against ``context`` cached positions."""
    heads = model.num_heads // tp
    kv = kv_heads_on_rank(model, tp)
    qk, v = model.qk_head_dim, model.v_dim
    if model.attention is AttentionKind.MLA:
        # The latent cache (kv_lora + rope per position) is what streams; queries are absorbed.
        kv_row = int(model.kv_lora_rank or 0) + int(model.qk_rope_head_dim or 0)
    else:
        kv_row = kv * (qk + v)
    group = max(1, heads // kv) * queries
    return Op(
        name="attention", op_class=OpClass.ATTENTION, phase=Phase.FWD,
        flops=2.0 * requests * heads * queries * context * (qk + v),
        bytes_read=float(requests * (context * kv_row * kv_bytes + heads * queries * qk * _ACT)),
        bytes_written=float(requests * heads * queries * v * _ACT),
        shape={"batch_heads": requests * kv, "seq_q": queries, "seq_kv": context, "head_dim_qk": qk,
               "head_dim_v": v, "causal": 0, "group": min(128, group)},
        dtype=Dtype.BF16, count=count, kernel="decode_attention",
    )


def decode_ops(model: ModelConfig, tp: int, layers: int, requests: int, context: int, *, queries: int = 1,
               weight_bytes: int = 2, kv_bytes: int = 2, ep: int = 1, lm_head: bool = True) -> list[Op]:
    """One decode step of ``layers`` layers on one rank: ``requests`` × ``queries`` rows."""
    rows = requests * queries
    h, d = model.hidden_size, model.head_dim
    wdt = Dtype.FP8 if weight_bytes == 1 else Dtype.BF16
    heads, kv = model.num_heads // tp, kv_heads_on_rank(model, tp)
    moe_layers = model.moe_layer_count(0, layers)
    dense_layers = layers - moe_layers
    ops: list[Op] = [_norm("attn_norm", model, rows, layers)]
    if model.attention is AttentionKind.MLA:
        q_lora, kv_lora = int(model.q_lora_rank or 0), int(model.kv_lora_rank or 0)
        rope = int(model.qk_rope_head_dim or 0)
        if q_lora:
            ops += [_mm("q_down", rows, h, q_lora, wdt, layers),
                    _mm("q_up", rows, q_lora, heads * model.qk_head_dim, wdt, layers)]
        else:
            ops.append(_mm("q_proj", rows, h, heads * model.qk_head_dim, wdt, layers))
        ops += [_mm("kv_down", rows, h, kv_lora + rope, wdt, layers),
                _mm("kv_up", rows, kv_lora, heads * (model.qk_head_dim - rope + model.v_dim), wdt, layers)]
    else:
        ops.append(_mm("qkv", rows, h, (heads + 2 * kv) * d, wdt, layers))
    ops += [_rows("rope", OpClass.ELEMENTWISE, rows, (heads + kv) * model.qk_head_dim, 3.0, 1, layers),
            _attention(model, tp, requests, queries, context, kv_bytes, layers),
            _mm("out_proj", rows, heads * model.v_dim, h, wdt, layers),
            _rows("attn_residual", OpClass.ELEMENTWISE, rows, h, 1.0, 2, layers, "add"),
            _norm("mlp_norm", model, rows, layers)]
    up = 2 if model.mlp is MlpKind.SWIGLU else 1
    act = "swiglu" if up == 2 else "gelu"
    if dense_layers:
        f = model.ffn_hidden_size // tp
        ops += [_mm("fc1", rows, h, up * f, wdt, dense_layers),
                _rows(act, OpClass.ELEMENTWISE, rows, f, 5.0, up, dense_layers),
                _mm("fc2", rows, f, h, wdt, dense_layers)]
    if moe_layers:
        e, k = model.num_experts, model.experts_per_token
        f = int(model.moe_ffn_hidden_size or 0) // tp
        copies = rows * k * ep  # the ep replicas' tokens meet on each rank's experts
        local = e // ep
        touched = expected_experts_touched(e, copies) * local / e
        per_expert = max(1, math.ceil(copies / max(1.0, expected_experts_touched(e, copies))))
        ops += [_mm("router", rows, h, e, Dtype.BF16, moe_layers),
                _mm("expert.fc1", per_expert, h, up * f, wdt, moe_layers * touched),
                _rows(f"expert.{act}", OpClass.ELEMENTWISE, per_expert, f, 5.0, up,
                      max(0, round(moe_layers * touched))),
                _mm("expert.fc2", per_expert, f, h, wdt, moe_layers * touched)]
        if model.num_shared_experts:
            fs = model.num_shared_experts * int(model.moe_ffn_hidden_size or 0) // tp
            ops += [_mm("shared.fc1", rows, h, up * fs, wdt, moe_layers),
                    _mm("shared.fc2", rows, fs, h, wdt, moe_layers)]
    ops.append(_rows("mlp_residual", OpClass.ELEMENTWISE, rows, h, 1.0, 2, layers, "add"))
    if lm_head:
        vocab = math.ceil(model.vocab_size / tp)
        ops += [_norm("final_norm", model, rows, 1),
                _mm("lm_head", rows, h, vocab, Dtype.BF16, 1),
                # Sampling over this rank's vocabulary shard: max, exp, sum, top-k/top-p ≈ 5 FLOP/logit.
                _rows("sampling", OpClass.LOSS, rows, vocab, 5.0, 1, 1)]
    return [op for op in ops if op.count > 0]


def prefill_tokens(input_tokens: int, tp: int) -> int:
    """Prompt length the prefill runs at: padded to a multiple of TP for sequence parallelism."""
    return -(-input_tokens // tp) * tp


def prefill_ops(model: ModelConfig, tp: int, layers: int, input_tokens: int, weight_bytes: int = 2,
                first_layer: int = 0, chunk: int | None = None) -> list[Op]:
    """Forward ops of the training graph at sequence ``input_tokens`` (batch 1), on one rank.

    The loss is dropped and the output projection is taken for the last token only (serving
    samples one token from the prompt). With ``chunk`` (chunked prefill) the prompt runs as
    ``J = ceil(I / chunk)`` passes of ``chunk`` tokens: every op but attention is the graph's at
    sequence ``chunk``, ``J`` times; the attention of pass ``j`` has the ``chunk`` new queries
    against the ``(j + 1)·chunk`` positions cached so far (FLOPs and K/V bytes scale with them).
    """
    seq = prefill_tokens(input_tokens if chunk is None else min(chunk, input_tokens), tp)
    passes = 1 if chunk is None else -(-input_tokens // seq)
    model_seq = model if seq <= model.max_seq_len else model.model_copy(update={"max_seq_len": seq})
    shard = Shard(tp=tp, sequence_parallel=tp > 1, layers=layers, first_layer=first_layer)
    graph = build_step(model_seq, shard, 1, seq, Precision.FP8 if weight_bytes == 1 else Precision.BF16)
    ops: list[Op] = []
    for op in graph.ops:
        if op.phase is not Phase.FWD or op.name in ("cross_entropy", "lm_head", "final_norm"):
            continue
        if op.op_class is not OpClass.ATTENTION or passes == 1:
            ops.append(replace(op, count=op.count * passes))
            continue
        for j in range(passes):
            keys = (j + 1) * seq
            shape = dict(op.shape)
            shape["seq_kv"] = keys
            ops.append(replace(op, name=f"attention.chunk{j}", flops=op.flops * (j + 1),
                               bytes_read=op.bytes_read * (j + 1), shape=shape))
    vocab = math.ceil(model.vocab_size / tp)
    ops += [_norm("final_norm", model, 1, 1), _mm("lm_head", 1, model.hidden_size, vocab, Dtype.BF16, 1),
            _rows("sampling", OpClass.LOSS, 1, vocab, 5.0, 1, 1)]
    return ops
