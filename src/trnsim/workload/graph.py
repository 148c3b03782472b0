"""One training step of a transformer on one rank, as a graph of operations.

:func:`build_step` lists the operations of one micro-batch's forward and backward pass on one
rank (with the recompute operations the chosen recompute mode adds), the optimizer operations
separately, and the activations the forward pass keeps for the backward pass. Every op has its
exact FLOPs, bytes read and written, and shapes, for the rank's shard (TP/SP/CP/EP, pipeline
layers). Ops repeated identically in every layer appear once with ``count`` = layers.

Conventions (Megatron-LM's, so that totals match its published formula):
- a GEMM C[m, n] = A[m, k] @ B[k, n] costs 2·m·k·n FLOPs; its backward is two GEMMs of the same
  size (input gradient, weight gradient);
- the attention core costs 2·s_q·s_kv·(d_qk + d_v) FLOPs per (batch, head), the full score matrix
  even when causal (as in Megatron's and PaLM's MFU formulas); its backward costs twice that;
- activations are BF16 (2 bytes); FP8 GEMM inputs are 1 byte; weight gradients accumulate in FP32.
Collectives (TP all-reduce, DP reduce-scatter, EP all-to-all, CP ring exchange) are not here:
the cluster layer adds them from the model's dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property, lru_cache
from itertools import chain
from typing import Generic, NamedTuple, TypeVar

from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.errors import ConfigError
from trnsim.workload.config import AttentionKind, MlpKind, ModelConfig, NormKind, PositionKind
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard

__all__ = ["COLUMN_PARALLEL_GEMMS", "LayerKind", "ParamsOnRank", "Run", "SavedTensor", "StepGraph",
           "StepSkeleton", "build_optimizer_ops", "build_skeleton", "build_step", "clear_cache"]

#: GEMMs whose weight is split by columns under TP (their input is all-gathered with sequence
#: parallelism); the others (out_proj, fc2) are row-parallel.
COLUMN_PARALLEL_GEMMS = ("qkv", "q_proj", "q_up", "kv_up", "fc1", "shared.fc1")

_ACT_BYTES = 2  # BF16 activations
_GRAD_ACC_BYTES = 4  # FP32 weight-gradient accumulation buffer

T = TypeVar("T")


class LayerKind(StrEnum):
    DENSE = "dense"
    MOE = "moe"


@dataclass(slots=True)  # not frozen, for the reason Op is not (devicetime.ops): never change one
class SavedTensor:
    """An activation the forward pass keeps for the backward pass, per micro-batch on this rank."""

    name: str
    nbytes: float
    count: int
    #: False when full recomputation drops it (only layer inputs survive).
    kept_by_full_recompute: bool = False
    #: True when selective recomputation drops it (the attention score-sized tensors).
    dropped_by_selective: bool = False

    @property
    def total_bytes(self) -> float:
        return self.nbytes * self.count


@dataclass(frozen=True, slots=True)
class ParamsOnRank:
    """Parameters held by this rank, split by how data parallelism replicates them."""

    dense: int  # replicated over the data-parallel group
    expert: int  # replicated over the expert-data-parallel group (dp / ep)

    @property
    def total(self) -> int:
        return self.dense + self.expert


#: Saved tensors of the output layer (the last stage's final norm, LM head and loss).
OUTPUT_LAYER_SAVED = frozenset({"final_norm.input", "lm_head.input", "cross_entropy.softmax_fp32"})


@dataclass(frozen=True)
class StepGraph:
    """The operations of one micro-batch on one rank, and what they keep in memory."""

    model: ModelConfig
    shard: Shard
    micro_batch: int
    seq_len: int
    precision: Precision
    recompute: Recompute
    flash_attention: bool
    #: Forward, recompute and backward ops of one micro-batch (recompute ops have Phase.RECOMPUTE).
    ops: tuple[Op, ...]
    #: Optimizer ops for this rank's full parameter set (see :func:`build_optimizer_ops` for ZeRO).
    optimizer_ops: tuple[Op, ...]
    #: Activations kept between forward and backward, per micro-batch, for the recompute mode.
    saved: tuple[SavedTensor, ...]
    #: Activations of one layer that a FULL recompute rebuilds transiently in the backward pass.
    layer_working_bytes: float
    params: ParamsOnRank
    dense_layers: int
    moe_layers: int
    #: ``ops`` as consecutive parts (embedding, layers, output layer, their backward...), whose
    #: concatenation is ``ops``. Graphs with the same per-rank shapes share the very same part
    #: objects, so a caller may cache what it derives from a part by its identity.
    parts: tuple[tuple[Op, ...], ...] = ()

    def flops_by_phase(self) -> dict[Phase, float]:
        out: dict[Phase, float] = {}
        for op in (*self.ops, *self.optimizer_ops):
            out[op.phase] = out.get(op.phase, 0.0) + op.total_flops
        return out

    def flops_by_class(self) -> dict[OpClass, float]:
        out: dict[OpClass, float] = {}
        for op in self.ops:
            out[op.op_class] = out.get(op.op_class, 0.0) + op.total_flops
        return out

    @property
    def total_flops(self) -> float:
        """FLOPs of forward, recompute and backward of one micro-batch (optimizer excluded)."""
        return sum(op.total_flops for op in self.ops)

    @cached_property
    def activation_bytes(self) -> float:
        # a list, not a generator: the same sum in the same order, without a resume per tensor
        return sum([t.nbytes * t.count for t in self.saved])  # each SavedTensor.total_bytes

    @cached_property
    def head_activation_bytes(self) -> float:
        """The output layer's share of :attr:`activation_bytes` (final norm, LM head, loss): an
        interleaved pipeline's last chunk holds it for one micro-batch at a time."""
        return sum(t.total_bytes for t in self.saved if t.name in OUTPUT_LAYER_SAVED)

    @cached_property
    def largest_written_bytes(self) -> float:
        """Bytes the op writing most writes (its output or gradient buffer): 0 without ops."""
        return max([op.bytes_written for op in self.ops], default=0.0)


class _ByModel(Generic[T]):
    """``fn(model, *rest)`` cached by the model's identity and the (hashable) rest: hashing a
    pydantic model hashes every field in Python, and the parts these functions make are shared
    by every stage graph of an evaluation. An entry keeps its model, so an id is never reused."""

    def __init__(self, fn: Callable[..., T]) -> None:
        self._fn = fn
        self._cache: dict[tuple[object, ...], tuple[ModelConfig, T]] = {}
        self.__doc__ = fn.__doc__

    def __call__(self, model: ModelConfig, *rest: Hashable) -> T:
        key = (id(model), *rest)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is model:
            return hit[1]
        if len(self._cache) >= _BY_MODEL_LIMIT:
            self._cache.clear()
        value = self._fn(model, *rest)
        self._cache[key] = (model, value)
        return value

    def cache_clear(self) -> None:
        self._cache.clear()


_BY_MODEL_LIMIT = 4096


# ---- small op constructors ---------------------------------------------------------------------


def _matmul(name: str, m: int, k: int, n: int, dtype: Dtype, count: int, phase: Phase = Phase.FWD,
            op_class: OpClass = OpClass.MATMUL) -> Op:
    # Op's fields by position (name, class, phase, flops, bytes read, bytes written, shape, dtype,
    # count, kernel): a planner's cold evaluation builds every layer's ops, and keywords cost more
    return Op(name, op_class, phase, 2.0 * m * k * n, float((m * k + k * n) * dtype.nbytes),
              float(m * n * _ACT_BYTES), {"m": m, "k": k, "n": n}, dtype, count, "matmul")


def _rowwise(name: str, op_class: OpClass, rows: int, cols: int, flops_per_element: float,
             inputs: int, count: int, phase: Phase = Phase.FWD, kernel: str = "") -> Op:
    """An op over a rows x cols BF16 tensor: reads ``inputs`` such tensors, writes one."""
    elements = rows * cols
    return Op(name, op_class, phase, flops_per_element * elements, float(inputs * elements * _ACT_BYTES),
              float(elements * _ACT_BYTES), {"rows": rows, "cols": cols}, _BF16, count, kernel)


def _norm(name: str, model: ModelConfig, rows: int, cols: int, count: int) -> Op:
    # RMSNorm: square, sum, scale, multiply by weight ≈ 4 FLOP/element; LayerNorm adds the mean
    # and the bias ≈ 7.
    rms = model.norm is NormKind.RMSNORM
    return _rowwise(name, OpClass.NORM, rows, cols, 4.0 if rms else 7.0, 1, count,
                    kernel="rmsnorm" if rms else "layernorm")


# Members _backward reads for every op it mirrors, as module constants: ``OpClass.ATTENTION`` goes
# through the enum metaclass's ``__getattr__`` hook on every read.
_GEMM_CLASSES = (OpClass.MATMUL, OpClass.ROUTER)
_ATTENTION, _EMBEDDING, _BWD = OpClass.ATTENTION, OpClass.EMBEDDING, Phase.BWD
_BF16 = Dtype.BF16


def _backward(op: Op) -> list[Op]:
    """The backward ops of one forward op."""
    if op.op_class in _GEMM_CLASSES:
        m, k, n = op.shape["m"], op.shape["k"], op.shape["n"]
        dgrad = _matmul(f"{op.name}.dgrad", m, n, k, op.dtype, op.count, _BWD, op.op_class)
        wgrad = Op(f"{op.name}.wgrad", op.op_class, _BWD, 2.0 * m * k * n,
                   float((m * k + m * n) * op.dtype.nbytes + k * n * _GRAD_ACC_BYTES),
                   float(k * n * _GRAD_ACC_BYTES), {"m": k, "k": m, "n": n}, op.dtype, op.count, "matmul")
        return [dgrad, wgrad]
    if op.op_class is _ATTENTION:
        # dQ, dK, dV and dP: four GEMMs the size of the forward's two; reads Q, K, V, O, dO and
        # writes dQ, dK, dV.
        return [Op(f"{op.name}.bwd", op.op_class, _BWD, 2.0 * op.flops,
                   op.bytes_read + 2.0 * op.bytes_written, op.bytes_read, op.shape, op.dtype, op.count,
                   "attention_bwd")]
    if op.op_class is _EMBEDDING:
        rows, cols = op.shape["rows"], op.shape["cols"]
        return [Op(
            name=f"{op.name}.bwd", op_class=op.op_class, phase=_BWD, flops=float(rows * cols),
            bytes_read=float(rows * cols * (_ACT_BYTES + _GRAD_ACC_BYTES)),
            bytes_written=float(rows * cols * _GRAD_ACC_BYTES), shape=op.shape, dtype=op.dtype,
            count=op.count,
        )]
    # Norms, elementwise ops and the loss: read the output gradient and the saved inputs, write
    # the input gradients; about twice the forward arithmetic.
    return [Op(f"{op.name}.bwd", op.op_class, _BWD, 2.0 * op.flops, op.bytes_read + op.bytes_written,
               op.bytes_read, op.shape, op.dtype, op.count)]


# ---- the layers ---------------------------------------------------------------------------------


class _Dims(NamedTuple):
    """Per-rank dimensions of one micro-batch (a tuple: built per graph and a key of the shared
    layer blocks, so made, hashed and compared in C)."""

    b: int
    s: int  # full sequence length
    s_local: int  # queries on this rank (s / cp)
    tokens: int  # b * s_local: rows of every GEMM
    tokens_sp: int  # rows of norms/residuals (tokens / tp with sequence parallelism)
    tp: int
    heads: int  # query heads on this rank
    kv_heads: int  # key/value heads on this rank
    gemm: Dtype  # dtype of transformer-layer GEMM inputs
    saved_gemm_input_bytes: int


#: The materialised attention's dropout over the probabilities: part of the attention core that
#: selective recomputation reruns (Korthikanti et al. 2022, section 5).
ATTENTION_PROBS_DROPOUT = "attention_probs_dropout"


def _attention_ops(model: ModelConfig, d: _Dims, count: int,
                   flash: bool) -> tuple[list[Op], list[SavedTensor]]:
    h, T, Tsp = model.hidden_size, d.tokens, d.tokens_sp
    a = _ACT_BYTES
    qk, v = model.qk_head_dim, model.v_dim
    ops: list[Op] = [_norm("attn_norm", model, Tsp, h, count)]
    saved = [
        SavedTensor("attn_norm.input", Tsp * h * a, count, kept_by_full_recompute=True),
        SavedTensor("qkv.input", Tsp * h * d.saved_gemm_input_bytes, count),
    ]
    if model.attention is AttentionKind.MLA:
        q_lora, kv_lora = model.q_lora_rank, int(model.kv_lora_rank or 0)
        rope = int(model.qk_rope_head_dim or 0)
        if q_lora:
            # Down-projections are replicated on every TP rank (they are small).
            ops += [_matmul("q_down", T, h, q_lora, d.gemm, count), _norm("q_norm", model, T, q_lora, count),
                    _matmul("q_up", T, q_lora, d.heads * qk, d.gemm, count)]
            saved += [SavedTensor("q_norm.input", T * q_lora * a, count),
                      SavedTensor("q_up.input", T * q_lora * d.saved_gemm_input_bytes, count)]
        else:
            ops.append(_matmul("q_proj", T, h, d.heads * qk, d.gemm, count))
        ops += [_matmul("kv_down", T, h, kv_lora + rope, d.gemm, count),
                _norm("kv_norm", model, T, kv_lora, count),
                _matmul("kv_up", T, kv_lora, d.heads * (qk - rope + v), d.gemm, count),
                _rowwise("rope", OpClass.ELEMENTWISE, T, (d.heads + 1) * rope, 3.0, 1, count)]
        saved += [SavedTensor("kv_norm.input", T * kv_lora * a, count),
                  SavedTensor("kv_up.input", T * kv_lora * d.saved_gemm_input_bytes, count)]
        kv_heads = d.heads
    else:
        kv_heads = d.kv_heads
        ops.append(_matmul("qkv", T, h, (d.heads + 2 * kv_heads) * qk, d.gemm, count))
        if model.qk_norm:
            ops.append(_norm("qk_norm", model, T * (d.heads + kv_heads), qk, count))
            saved.append(SavedTensor("qk_norm.input", T * (d.heads + kv_heads) * qk * a, count))
        if model.position is PositionKind.ROPE:
            ops.append(_rowwise("rope", OpClass.ELEMENTWISE, T, (d.heads + kv_heads) * qk, 3.0, 1, count))
    # Q and K for the scores, V for the output (Korthikanti: 4sbh + 2sbh for MHA).
    saved += [SavedTensor("q", T * d.heads * qk * a, count), SavedTensor("k", T * kv_heads * qk * a, count),
              SavedTensor("v", T * kv_heads * v * a, count)]
    bh, sq, skv = d.b * d.heads, d.s_local, d.s
    q_bytes = bh * sq * qk * a
    kv_bytes = d.b * kv_heads * skv * (qk + v) * a
    out_bytes = bh * sq * v * a
    score_elems = bh * sq * skv
    extra_traffic = 0 if flash else 4 * score_elems * a  # write scores, read, write probs, read
    ops.append(Op(
        name="attention", op_class=OpClass.ATTENTION, phase=Phase.FWD,
        flops=2.0 * score_elems * (qk + v), bytes_read=float(q_bytes + kv_bytes + extra_traffic / 2),
        bytes_written=float(out_bytes + extra_traffic / 2),
        shape={"batch_heads": bh, "seq_q": sq, "seq_kv": skv, "head_dim_qk": qk, "head_dim_v": v,
               "causal": 1, "flash": int(flash)},
        dtype=Dtype.BF16, count=count, kernel="attention" if flash else "",
    ))
    if flash:
        # FlashAttention keeps the output and the FP32 log-sum-exp per row; the output is also the
        # input of the output projection.
        saved += [SavedTensor("attention.out", out_bytes, count),
                  SavedTensor("attention.logsumexp", bh * sq * 4, count)]
        if d.saved_gemm_input_bytes != a:
            saved.append(SavedTensor("out_proj.input", T * d.heads * v * d.saved_gemm_input_bytes, count))
    else:
        # Softmax output (2as²b), and with dropout its mask (as²b) and the dropped-out probs (2as²b).
        probs = SavedTensor("attention.softmax", score_elems * a, count, dropped_by_selective=True)
        saved.append(probs)
        if model.dropout:
            saved += [SavedTensor("attention.dropout_mask", score_elems, count, dropped_by_selective=True),
                      SavedTensor("attention.dropout_out", score_elems * a, count, dropped_by_selective=True)]
        saved.append(SavedTensor("out_proj.input", T * d.heads * v * d.saved_gemm_input_bytes, count))
        if model.dropout:
            # The dropout on the probabilities is its own kernel (Megatron-LM's CoreAttention:
            # baddbmm, fused scale-mask-softmax, attention_dropout, bmm), a pass over the scores
            # each way; the saved mask and output above are what it writes.
            ops.append(_rowwise(ATTENTION_PROBS_DROPOUT, OpClass.ELEMENTWISE, bh * sq, skv, 2.0, 1, count))
    ops.append(_matmul("out_proj", T, d.heads * v, h, d.gemm, count))
    if model.dropout:
        ops.append(_rowwise("attn_dropout", OpClass.ELEMENTWISE, Tsp, h, 2.0, 1, count))
        saved.append(SavedTensor("attn_dropout.mask", Tsp * h, count))
    ops.append(_rowwise("attn_residual", OpClass.ELEMENTWISE, Tsp, h, 1.0, 2, count, kernel="add"))
    return ops, saved


def _mlp_ops(model: ModelConfig, d: _Dims, prefix: str, tokens: int, ffn_local: int, count: int,
             experts: int = 1) -> tuple[list[Op], list[SavedTensor]]:
    """One (possibly expert) MLP over ``tokens`` rows with ``ffn_local`` inner columns."""
    h, a = model.hidden_size, _ACT_BYTES
    swiglu = model.mlp is MlpKind.SWIGLU
    up_cols = (2 if swiglu else 1) * ffn_local
    n = count * experts
    ops = [
        _matmul(f"{prefix}fc1", tokens, h, up_cols, d.gemm, n),
        # SwiGLU: silu(gate) * up ≈ 5 FLOP/element; GELU (tanh form) ≈ 8.
        _rowwise(f"{prefix}{'swiglu' if swiglu else 'gelu'}", OpClass.ELEMENTWISE, tokens, ffn_local,
                 5.0 if swiglu else 8.0, 2 if swiglu else 1, n, kernel="swiglu" if swiglu else "gelu"),
        _matmul(f"{prefix}fc2", tokens, ffn_local, h, d.gemm, n),
    ]
    saved = [
        SavedTensor(f"{prefix}act.input", tokens * up_cols * a * experts, count),
        SavedTensor(f"{prefix}fc2.input", tokens * ffn_local * d.saved_gemm_input_bytes * experts, count),
    ]
    return ops, saved


def _dense_mlp(model: ModelConfig, d: _Dims, count: int) -> tuple[list[Op], list[SavedTensor]]:
    h, Tsp = model.hidden_size, d.tokens_sp
    ops = [_norm("mlp_norm", model, Tsp, h, count)]
    saved = [SavedTensor("mlp_norm.input", Tsp * h * _ACT_BYTES, count),
             SavedTensor("fc1.input", Tsp * h * d.saved_gemm_input_bytes, count)]
    more_ops, more_saved = _mlp_ops(model, d, "", d.tokens, model.ffn_hidden_size // d.tp, count)
    ops += more_ops
    saved += more_saved
    if model.dropout:
        ops.append(_rowwise("mlp_dropout", OpClass.ELEMENTWISE, Tsp, h, 2.0, 1, count))
        saved.append(SavedTensor("mlp_dropout.mask", Tsp * h, count))
    ops.append(_rowwise("mlp_residual", OpClass.ELEMENTWISE, Tsp, h, 1.0, 2, count, kernel="add"))
    return ops, saved


def _moe_mlp(model: ModelConfig, ep: int, d: _Dims, count: int) -> tuple[list[Op], list[SavedTensor]]:
    h, Tsp, a = model.hidden_size, d.tokens_sp, _ACT_BYTES
    E, k = model.num_experts, model.experts_per_token
    ffn_local = int(model.moe_ffn_hidden_size or 0) // d.tp
    ops = [_norm("mlp_norm", model, Tsp, h, count),
           _matmul("router", Tsp, h, E, Dtype.BF16, count, op_class=OpClass.ROUTER),
           _rowwise("router_topk", OpClass.ELEMENTWISE, Tsp, E, 4.0, 1, count)]
    saved = [SavedTensor("mlp_norm.input", Tsp * h * a, count),
             SavedTensor("router.input", Tsp * h * a, count),
             SavedTensor("router.probs", Tsp * E * 4, count)]
    # Balanced routing: this rank's E/ep experts receive, in all, as many token copies (tokens·k)
    # as its TP group sends out; each expert gets tokens·k·ep/E of them.
    local_experts = E // ep
    routed_tokens = d.tokens * k
    per_expert = max(1, round(routed_tokens / local_experts))
    ops.append(_rowwise("moe_permute", OpClass.ELEMENTWISE, routed_tokens, h, 0.0, 1, count))
    saved.append(SavedTensor("experts.fc1.input", routed_tokens * h * d.saved_gemm_input_bytes, count))
    expert_ops, expert_saved = _mlp_ops(model, d, "expert.", per_expert, ffn_local, count, local_experts)
    ops += expert_ops
    saved += expert_saved
    ops.append(_rowwise("moe_unpermute", OpClass.ELEMENTWISE, routed_tokens, h, 2.0, 2, count))
    if model.num_shared_experts:
        shared_ffn = model.shared_ffn_hidden_size // d.tp
        shared_ops, shared_saved = _mlp_ops(model, d, "shared.", d.tokens, shared_ffn, count)
        ops += shared_ops
        saved += shared_saved
    ops.append(_rowwise("mlp_residual", OpClass.ELEMENTWISE, Tsp, h, 1.0, 2, count, kernel="add"))
    return ops, saved


# ---- parameters on the rank ---------------------------------------------------------------------


class _LayerParams(NamedTuple):
    """The parameters one rank of a TP (and EP) degree holds, part by part (ints: any sum is exact)."""

    dense: int  # one dense layer's
    moe_dense: int  # one MoE layer's outside the routed experts (attention, norms, router, shared)
    moe_expert: int  # one MoE layer's routed experts on this rank
    table: int  # the rank's rows of the embedding table (and of an untied output layer)
    position: int  # a learned position embedding
    norm: int  # the final norm


@_ByModel
def _layer_params(model: ModelConfig, t: int, ep: int) -> _LayerParams:
    """Per-layer and per-end parameters on a rank (cached: the stages of every depth share them)."""
    h = model.hidden_size
    attn = model.attention_params()
    replicated_attn = 0
    if model.attention is AttentionKind.MLA:
        q_lora, kv_lora = int(model.q_lora_rank or 0), int(model.kv_lora_rank or 0)
        replicated_attn = h * q_lora + q_lora + h * (kv_lora + int(model.qk_rope_head_dim or 0)) + kv_lora
    norms = model.norms_per_layer * model.norm_params()
    per_layer_common = (attn - replicated_attn) // t + replicated_attn + norms
    moe_dense = moe_expert = 0
    if model.is_moe:
        one_expert = model.mlp_params(int(model.moe_ffn_hidden_size or 0)) // t
        router = h * model.num_experts
        shared = model.mlp_params(model.shared_ffn_hidden_size) // t if model.num_shared_experts else 0
        shared += h if model.shared_expert_gate else 0
        moe_dense = per_layer_common + router + shared
        moe_expert = (model.num_experts // ep) * one_expert
    return _LayerParams(
        dense=per_layer_common + model.mlp_params(model.ffn_hidden_size) // t, moe_dense=moe_dense,
        moe_expert=moe_expert, table=math.ceil(model.vocab_size / t) * h,
        position=model.max_seq_len * h if model.position is PositionKind.LEARNED else 0,
        norm=model.norm_params())


def _params_on_rank(model: ModelConfig, shard: Shard, dense_layers: int, moe_layers: int) -> ParamsOnRank:
    return _params_of(model, shard, _layer_params(model, shard.tp, shard.ep), dense_layers, moe_layers)


def _params_of(model: ModelConfig, shard: Shard, p: _LayerParams, dense_layers: int,
               moe_layers: int) -> ParamsOnRank:
    dense = dense_layers * p.dense
    expert = 0
    if moe_layers:
        dense += moe_layers * p.moe_dense
        expert = moe_layers * p.moe_expert
    if shard.has_embedding:
        dense += p.table + p.position
    if shard.has_lm_head:
        dense += p.norm
        if not (model.tie_embeddings and shard.has_embedding):
            dense += p.table  # untied head, or the last stage's copy of a tied embedding
    return ParamsOnRank(dense, expert)


def build_optimizer_ops(params: ParamsOnRank, shards: int = 1, expert_shards: int = 1) -> tuple[Op, ...]:
    """AdamW over this rank's parameters, each group split over ``shards`` (ZeRO-1 and up).

    Per parameter: read FP32 master weight, gradient, m and v (16 B); write master, m, v (12 B)
    and the BF16 working copy (2 B); about 12 FLOPs (moments, bias correction, sqrt, divide,
    weight decay, update).
    """
    ops = []
    groups = (("adamw", params.dense, shards), ("adamw.experts", params.expert, expert_shards))
    for name, count, split in groups:
        if count == 0:
            continue
        local = math.ceil(count / max(1, split))
        ops.append(Op(
            name=name, op_class=OpClass.OPTIMIZER, phase=Phase.OPTIMIZER, flops=12.0 * local,
            bytes_read=16.0 * local, bytes_written=14.0 * local, shape={"params": local},
            dtype=Dtype.FP32, count=1, kernel="adamw",
        ))
    return tuple(ops)


# ---- the step -----------------------------------------------------------------------------------


def _check(model: ModelConfig, shard: Shard, micro_batch: int, seq_len: int) -> tuple[int, int]:
    """The shard's checks (one line each), then its (dense, MoE) layers."""
    _check_shape(model, shard.tp, shard.cp, shard.sequence_parallel, shard.ep, micro_batch, seq_len)
    return _checked_layer_counts(model, shard)


def _checked_layer_counts(model: ModelConfig, shard: Shard) -> tuple[int, int]:
    """The shard's layer check (its layers within the model's), then its (dense, MoE) layers."""
    layers = model.num_layers - shard.first_layer if shard.layers is None else shard.layers
    if layers < 0 or shard.first_layer + layers > model.num_layers:
        raise ConfigError(
            f"model '{model.name}': layers {shard.first_layer}..{shard.first_layer + layers - 1} exceed its "
            f"{model.num_layers} layers"
        )
    return _layer_counts(model, shard)


@_ByModel
def _check_shape(model: ModelConfig, t: int, cp: int, sequence_parallel: bool, ep: int, micro_batch: int,
                 seq_len: int) -> None:
    """The checks of a shard that do not read its layers (cached when they pass: the stages of every
    pipeline depth with this shape share them; a failed check raises before anything is kept)."""
    where = f"model '{model.name}'"
    if micro_batch < 1 or seq_len < 1:
        raise ConfigError(f"{where}: micro_batch and seq_len must be positive, got {micro_batch}, {seq_len}")
    if seq_len > model.max_seq_len:
        raise ConfigError(f"{where}: seq_len={seq_len} exceeds max_seq_len={model.max_seq_len}")
    if model.num_heads % t:
        raise ConfigError(f"{where}: tp={t} must divide num_heads={model.num_heads}")
    if model.attention is AttentionKind.STANDARD and model.num_kv_heads % t and t % model.num_kv_heads:
        raise ConfigError(f"{where}: tp={t} and num_kv_heads={model.num_kv_heads} must divide one another")
    if model.ffn_hidden_size % t or (model.moe_ffn_hidden_size or 0) % t:
        raise ConfigError(f"{where}: tp={t} must divide the FFN hidden size(s)")
    if seq_len % cp:
        raise ConfigError(f"{where}: cp={cp} must divide seq_len={seq_len}")
    if sequence_parallel and (micro_batch * seq_len // cp) % t:
        raise ConfigError(f"{where}: with sequence parallelism tp={t} must divide the tokens per rank")
    if ep > 1 and (not model.is_moe or model.num_experts % ep):
        raise ConfigError(f"{where}: ep={ep} must divide num_experts={model.num_experts}")


def _layer_counts(model: ModelConfig, shard: Shard) -> tuple[int, int]:
    """(dense, MoE) transformer layers of the shard."""
    layers = model.num_layers - shard.first_layer if shard.layers is None else shard.layers
    if not model.is_moe:  # no layer has experts: no need to ask layer by layer
        return layers, 0
    moe = model.moe_layer_count(shard.first_layer, shard.first_layer + layers)  # from the pattern
    return layers - moe, moe


def params_on_rank(model: ModelConfig, shard: Shard) -> ParamsOnRank:
    """The parameters one rank of ``shard`` holds: :func:`build_step`'s ``params``, without the graph."""
    return _params_on_rank(model, shard, *_layer_counts(model, shard))


@lru_cache(maxsize=4096)
def build_step(
    model: ModelConfig,
    shard: Shard,
    micro_batch: int,
    seq_len: int,
    precision: Precision = Precision.BF16,
    recompute: Recompute = Recompute.NONE,
    flash_attention: bool = True,
) -> StepGraph:
    """The ops of one micro-batch's forward and backward pass on one rank (cached).

    ``flash_attention``: the attention core keeps no score-sized tensors (FlashAttention, the
    default in current training stacks); False models the materialised softmax that Korthikanti
    et al. analyse.
    """
    # the checks, layer counts and parameters, as the skeleton (cached) found them
    skeleton = build_skeleton(model, shard, micro_batch, seq_len, precision, recompute, flash_attention)
    dense_layers, moe_layers = skeleton.dense_layers, skeleton.moe_layers
    d = _dims(model, shard, micro_batch, seq_len, precision)
    head = _embedding_end(model, d) if shard.has_embedding else _NO_END
    block = _layer_block(model, shard.ep, d, dense_layers, moe_layers, flash_attention, recompute)
    tail = _output_end(model, d) if shard.has_lm_head else _NO_END
    saved = [*head.saved, *tail.saved, *block.kept]
    # Backward runs the forward in reverse: the output layer's, the layers', the embedding's.
    parts = tuple(filter(None, (head.forward, block.forward, tail.forward, block.recompute,  # non-empty
                                tail.backward, block.backward, head.backward)))
    params = skeleton.params
    return StepGraph(
        model=model, shard=shard, micro_batch=micro_batch, seq_len=seq_len, precision=precision,
        recompute=recompute, flash_attention=flash_attention,
        ops=tuple(chain.from_iterable(parts)), parts=parts,
        optimizer_ops=build_optimizer_ops(params),
        saved=tuple(saved),
        layer_working_bytes=block.working if recompute is Recompute.FULL else 0.0,
        params=params, dense_layers=dense_layers, moe_layers=moe_layers,
    )


#: A run of ops: one layer's (or an end's) ops, each to be counted ``times`` times its ``count`` (a
#: block of ``L`` layers is its one-layer template with every count times ``L``).
Run = tuple[tuple[Op, ...], int]


class StepSkeleton(NamedTuple):
    """What :func:`build_step`'s graph holds for a cluster evaluation, without building its ops: the
    parts as runs of the shared one-layer templates and ends, and the graph's parameter, layer and
    activation figures (each computed as :class:`StepGraph` computes it, to the last bit)."""

    #: ``StepGraph.parts`` as runs: a part's ops are its runs' ops recounted (``_recounted``).
    parts: tuple[tuple[Run, ...], ...]
    params: ParamsOnRank
    dense_layers: int
    moe_layers: int
    activation_bytes: float
    head_activation_bytes: float
    largest_written_bytes: float
    layer_working_bytes: float


def build_skeleton(
    model: ModelConfig,
    shard: Shard,
    micro_batch: int,
    seq_len: int,
    precision: Precision = Precision.BF16,
    recompute: Recompute = Recompute.NONE,
    flash_attention: bool = True,
) -> StepSkeleton:
    """:func:`build_step`'s graph as runs of shared templates (cached by the model's and the shard's
    identity): the same checks, parts in the same order and the same figures, but no op is built
    per stage (a planner's cold evaluation)."""
    key = (id(model), id(shard), micro_batch, seq_len, precision, recompute, flash_attention)
    hit = _SKELETONS.get(key)
    if hit is not None and hit[0] is model and hit[1] is shard:
        return hit[2]
    if len(_SKELETONS) >= _BY_MODEL_LIMIT:
        _SKELETONS.clear()
    skeleton = _skeleton(model, shard, micro_batch, seq_len, precision, recompute, flash_attention)
    _SKELETONS[key] = (model, shard, skeleton)
    return skeleton


#: build_skeleton's results; an entry keeps its model and shard, so an id is never reused.
_SKELETONS: dict[tuple[object, ...], tuple[ModelConfig, Shard, StepSkeleton]] = {}


def _skeleton(model: ModelConfig, shard: Shard, micro_batch: int, seq_len: int, precision: Precision,
              recompute: Recompute, flash_attention: bool) -> StepSkeleton:
    # _check's checks in its order: the shape's, then the layers' (with the shard's figures)
    _check_shape(model, shard.tp, shard.cp, shard.sequence_parallel, shard.ep, micro_batch, seq_len)
    dense_layers, moe_layers, params = _frame(model, shard)
    d = _dims_of(model, shard.tp, shard.cp, shard.sequence_parallel, micro_batch, seq_len, precision)
    head = _embedding_end(model, d) if shard.has_embedding else _NO_END
    block = _block_runs(model, shard.ep, d, dense_layers, moe_layers, flash_attention, recompute)
    tail = _output_end(model, d) if shard.has_lm_head else _NO_END
    parts = tuple(filter(None, (head.forward_runs, block.forward, tail.forward_runs, block.recompute,
                                tail.backward_runs, block.backward, head.backward_runs)))
    ends = (*head.saved, *tail.saved)
    # StepGraph's sums over saved = (*head.saved, *tail.saved, *block.kept), in that order
    activation = sum([t.nbytes * t.count for t in ends] + block.kept_bytes)
    head_bytes = sum([t.nbytes * t.count for t in ends if t.name in OUTPUT_LAYER_SAVED]
                     + block.kept_head_bytes)
    ends_written = (head.largest_written, block.largest_written, tail.largest_written)
    written = [w for w in ends_written if w is not None]
    # the fields by position: parts, params, dense and MoE layers, activation, head activation,
    # largest written and layer working bytes
    return StepSkeleton(parts, params, dense_layers, moe_layers, activation, head_bytes,
                        max(written, default=0.0), block.working if recompute is Recompute.FULL else 0.0)


def _frame(model: ModelConfig, shard: Shard) -> tuple[int, int, ParamsOnRank]:
    """:func:`_check`'s layer check of ``shard``, its (dense, MoE) layers and its parameters: what a
    skeleton reads of the shard beyond its shapes, the same at every micro-batch, sequence length
    and precision (cached by the model's and the shard's identity; a failed check raises before
    anything is kept). The stages of a pipeline are skeletons at each micro-batch a search tries."""
    key = (id(model), id(shard))
    hit = _FRAMES.get(key)
    if hit is not None and hit[0] is model and hit[1] is shard:
        return hit[2]
    dense_layers, moe_layers = _checked_layer_counts(model, shard)
    params = _params_of(model, shard, _layer_params(model, shard.tp, shard.ep), dense_layers, moe_layers)
    if len(_FRAMES) >= _BY_MODEL_LIMIT:
        _FRAMES.clear()
    frame = _FRAMES[key] = (model, shard, (dense_layers, moe_layers, params))
    return frame[2]


#: _frame's results; an entry keeps its model and shard, so an id is never reused.
_FRAMES: dict[tuple[int, int], tuple[ModelConfig, Shard, tuple[int, int, ParamsOnRank]]] = {}


def _largest_written(ops: Iterable[Op]) -> float | None:
    """The most bytes one of ``ops`` writes (count aside), None without ops (a max over several)."""
    return max([op.bytes_written for op in ops], default=None)


class _BlockRuns(NamedTuple):
    """A :class:`_LayerBlock` as runs of its layer templates, and what its graph's sums read of it (a
    tuple with every figure made once, with the block: a cached property's first read costs more)."""

    forward: tuple[Run, ...]
    recompute: tuple[Run, ...]
    backward: tuple[Run, ...]
    kept: tuple[tuple[str, float], ...]  # (name, bytes of all its layers) of each kept tensor, in order
    largest_written: float | None
    working: float
    kept_bytes: list[float]  # each kept tensor's bytes (read-only)
    #: ``kept_bytes`` of the output layer's tensors (none in a block of layers, but counted as
    #: :class:`StepGraph` counts them)
    kept_head_bytes: list[float]


@_ByModel
def _block_runs(model: ModelConfig, ep: int, d: _Dims, dense_layers: int, moe_layers: int, flash: bool,
                recompute: Recompute) -> _BlockRuns:
    """:func:`_layer_block`'s parts as runs (the same order) and figures (the same values)."""
    forward: list[Run] = []
    recompute_runs: list[Run] = []
    backward: list[Run] = []  # the MoE layers' first, as _layer_block
    kept: list[tuple[str, float]] = []
    written: list[float] = []
    working = 0.0
    for moe, count in ((False, dense_layers), (True, moe_layers)):
        if count == 0:
            continue
        layer = _layer_template(model, ep, d, moe, flash, recompute)
        for runs, ops in ((forward, layer.forward), (recompute_runs, layer.recompute)):
            if ops:
                runs.append((ops, count))
        if layer.backward:
            backward.insert(0, (layer.backward, count))
        # a SavedTensor of count t.count * count, as _layer_block makes it, times its nbytes
        kept += [(t.name, t.nbytes * (t.count * count)) for t in layer.kept]
        if layer.largest_written is not None:  # the max over its ops, found once per template
            written.append(layer.largest_written)
        working = max(working, layer.working)
    return _BlockRuns(tuple(forward), tuple(recompute_runs), tuple(backward), tuple(kept),
                      max(written, default=None), working, [b for _, b in kept],
                      [b for name, b in kept if name in OUTPUT_LAYER_SAVED])


def _dims(model: ModelConfig, shard: Shard, micro_batch: int, seq_len: int, precision: Precision) -> _Dims:
    return _dims_of(model, shard.tp, shard.cp, shard.sequence_parallel, micro_batch, seq_len, precision)


@_ByModel
def _dims_of(model: ModelConfig, t: int, cp: int, sequence_parallel: bool, micro_batch: int, seq_len: int,
             precision: Precision) -> _Dims:
    """The dimensions of a shard of TP ``t``, CP ``cp`` (cached: one object for every stage)."""
    s_local = seq_len // cp
    tokens = micro_batch * s_local
    gemm = Dtype.FP8 if precision is Precision.FP8 else Dtype.BF16
    if model.attention is AttentionKind.MLA:
        kv_heads = model.num_heads // t
    else:
        kv_heads = max(1, model.num_kv_heads // t)
    return _Dims(
        b=micro_batch, s=seq_len, s_local=s_local, tokens=tokens,
        tokens_sp=tokens // t if sequence_parallel else tokens, tp=t,
        heads=model.num_heads // t, kv_heads=kv_heads, gemm=gemm,
        saved_gemm_input_bytes=gemm.nbytes,
    )


def layer_ops(model: ModelConfig, shard: Shard, micro_batch: int, seq_len: int,
              precision: Precision = Precision.BF16,
              flash_attention: bool = True) -> tuple[tuple[tuple[Op, ...], int], ...]:
    """The forward and backward ops of one transformer layer on one rank (with how many of them
    are the forward's, which come first, each in program order), one per kind of
    layer the model has (dense, MoE): every stage graph :func:`build_step` makes with these shapes
    holds, for each of its layers of that kind, these ops (counts times its layers), whatever its
    recomputation (which only adds ops). ``shard``'s layers and stage roles are not read. For a
    cheap lower bound of a stage's time (the cluster model's search bounds)."""
    _check(model, replace(shard, layers=0, first_layer=0), micro_batch, seq_len)
    d = _dims(model, shard, micro_batch, seq_len, precision)
    moe_layers = model.moe_layer_count()
    # the kinds present: False (dense) where a layer lacks routed experts, True where one has them
    kinds = {moe for moe, count in ((False, model.num_layers - moe_layers), (True, moe_layers)) if count}
    out = []
    for moe in sorted(kinds):
        layer = _layer_template(model, shard.ep, d, moe, flash_attention, Recompute.NONE)
        out.append(((*layer.forward, *layer.backward), len(layer.forward)))
    return tuple(out)


class _End(NamedTuple):
    """The embedding's or the output layer's ops and saved tensors (shared, as the layer blocks, by
    every stage graph with the same per-rank shapes: a planner builds many); made by :func:`_end`."""

    forward: tuple[Op, ...]
    backward: tuple[Op, ...]  # epilogues marked
    saved: tuple[SavedTensor, ...]
    #: The forward and backward as :class:`StepSkeleton` runs (one object per end: a cache keys on it)
    forward_runs: tuple[Run, ...]
    backward_runs: tuple[Run, ...]
    largest_written: float | None


def _end(forward: tuple[Op, ...], backward: tuple[Op, ...], saved: tuple[SavedTensor, ...]) -> _End:
    """An :class:`_End` with its runs and largest write (made once per end, as it is cached)."""
    return _End(forward, backward, saved, ((forward, 1),) if forward else (),
                ((backward, 1),) if backward else (), _largest_written((*forward, *backward)))


_NO_END = _end((), (), ())


@_ByModel
def _embedding_end(model: ModelConfig, d: _Dims) -> _End:
    h = model.hidden_size
    vocab_local = math.ceil(model.vocab_size / d.tp)
    # ``vocab``: the rank's rows of the table, which a framework's dense weight gradient covers
    embedding = _rowwise("embedding", OpClass.EMBEDDING, d.tokens, h, 0.0, 1, 1)
    forward = [replace(embedding, shape={**embedding.shape, "vocab": vocab_local})]
    saved = []
    if model.position is PositionKind.LEARNED:
        forward.append(_rowwise("position_add", OpClass.ELEMENTWISE, d.tokens_sp, h, 1.0, 2, 1))
    if model.dropout:
        forward.append(_rowwise("embedding_dropout", OpClass.ELEMENTWISE, d.tokens_sp, h, 2.0, 1, 1))
        saved.append(SavedTensor("embedding_dropout.mask", d.tokens_sp * h, 1, kept_by_full_recompute=True))
    backward = _mark_epilogues([b for op in reversed(forward) for b in _backward(op)], d.tp)
    return _end(tuple(forward), tuple(backward), tuple(saved))


@_ByModel
def _output_end(model: ModelConfig, d: _Dims) -> _End:
    h, tokens = model.hidden_size, d.tokens
    vocab_local = math.ceil(model.vocab_size / d.tp)
    forward = [
        _norm("final_norm", model, d.tokens_sp, h, 1),
        _matmul("lm_head", tokens, h, vocab_local, Dtype.BF16, 1),
        # Cross-entropy over the vocabulary shard: max, exp, sum, log, pick ≈ 5 FLOP/logit.
        _rowwise("cross_entropy", OpClass.LOSS, tokens, vocab_local, 5.0, 1, 1, kernel="cross_entropy"),
    ]
    saved = (
        SavedTensor("final_norm.input", d.tokens_sp * h * _ACT_BYTES, 1, kept_by_full_recompute=True),
        SavedTensor("lm_head.input", d.tokens_sp * h * _ACT_BYTES, 1, kept_by_full_recompute=True),
        SavedTensor("cross_entropy.softmax_fp32", tokens * vocab_local * 4, 1, kept_by_full_recompute=True),
    )
    backward = _mark_epilogues([b for op in reversed(forward) for b in _backward(op)], d.tp)
    return _end(tuple(forward), tuple(backward), saved)


@dataclass(frozen=True)
class _LayerBlock:
    """The transformer layers' ops of a stage: shared by the stages (first, middle, last) that hold
    as many layers with the same per-rank shapes, which differ only in the embedding and output ops."""

    forward: tuple[Op, ...]  # epilogues marked
    recompute: tuple[Op, ...]
    backward: tuple[Op, ...]  # epilogues marked
    kept: list[SavedTensor]  # what the recompute mode keeps for the backward pass
    working: float  # the largest one layer's activations (a full recompute rebuilds them)


@_ByModel
def _layer_block(model: ModelConfig, ep: int, d: _Dims, dense_layers: int, moe_layers: int, flash: bool,
                 recompute: Recompute) -> _LayerBlock:
    forward: list[Op] = []
    recompute_ops: list[Op] = []
    backward: list[Op] = []  # the MoE layers' (the later ones) first: the forward in reverse
    kept: list[SavedTensor] = []
    working = 0.0
    for moe, count in ((False, dense_layers), (True, moe_layers)):
        if count == 0:
            continue
        layer = _layer_template(model, ep, d, moe, flash, recompute)
        forward += _recounted(layer.forward, count)
        recompute_ops += _recounted(layer.recompute, count)
        backward[:0] = _recounted(layer.backward, count)
        kept += [SavedTensor(t.name, t.nbytes, t.count * count, t.kept_by_full_recompute,
                             t.dropped_by_selective) for t in layer.kept]
        working = max(working, layer.working)
    return _LayerBlock(tuple(forward), tuple(recompute_ops), tuple(backward), kept, working)


class _LayerTemplate(NamedTuple):
    """One layer's ops and saved tensors at ``count`` 1 (the experts' ops at one per local expert):
    the blocks of every layer count with these shapes are this, counted again (:func:`_recounted`)."""

    forward: tuple[Op, ...]  # epilogues marked
    recompute: tuple[Op, ...]
    backward: tuple[Op, ...]  # epilogues marked
    kept: tuple[SavedTensor, ...]  # what the recompute mode keeps for the backward pass
    working: float  # the layer's activations (a full recompute rebuilds them)
    #: the most bytes one of its ops writes (count aside; None without ops): the same in every block
    largest_written: float | None


@_ByModel
def _layer_template(model: ModelConfig, ep: int, d: _Dims, moe: bool, flash: bool,
                    recompute: Recompute) -> _LayerTemplate:
    attn_ops, attn_saved = _attention_ops(model, d, 1, flash)
    mlp_ops, mlp_saved = _moe_mlp(model, ep, d, 1) if moe else _dense_mlp(model, d, 1)
    layer_ops = attn_ops + mlp_ops
    layer_saved = attn_saved + mlp_saved
    forward = _mark_epilogues(layer_ops, d.tp)
    if recompute is Recompute.FULL:
        kept = [s for s in layer_saved if s.kept_by_full_recompute]
        recompute_ops = [_as_recompute(op) for op in forward]
    elif recompute is Recompute.SELECTIVE:
        kept = [s for s in layer_saved if not s.dropped_by_selective]
        recompute_ops = [] if flash else [
            _as_recompute(op) for op in layer_ops
            if op.op_class is OpClass.ATTENTION or op.name == ATTENTION_PROBS_DROPOUT]
    else:
        kept = layer_saved
        recompute_ops = []
    backward = _mark_epilogues([b for op in reversed(forward) for b in _backward(op)], d.tp)
    for op in (*forward, *recompute_ops, *backward):
        op.timing_key()  # made once here: every recounted copy has the same (count is not in it)
    return _LayerTemplate(tuple(forward), tuple(recompute_ops), tuple(backward), tuple(kept),
                          sum([s.nbytes for s in layer_saved]),
                          _largest_written((*forward, *recompute_ops, *backward)))


def _recounted(ops: tuple[Op, ...], layers: int) -> list[Op]:
    """``ops`` of one layer repeated over ``layers`` layers: each count times ``layers``."""
    out = []
    for op in ops:
        copy = Op(op.name, op.op_class, op.phase, op.flops, op.bytes_read, op.bytes_written, op.shape,
                  op.dtype, op.count * layers, op.kernel, op.epilogue_of)
        copy._timing_key = op._timing_key
        out.append(copy)
    return out


def clear_cache() -> None:
    """Forget every built step graph (:func:`build_step`'s cache and the layer blocks and ends it shares)."""
    build_step.cache_clear()
    _SKELETONS.clear()
    _FRAMES.clear()
    _block_runs.cache_clear()
    _layer_block.cache_clear()
    _layer_template.cache_clear()
    _embedding_end.cache_clear()
    _output_end.cache_clear()
    _layer_params.cache_clear()
    _check_shape.cache_clear()
    _dims_of.cache_clear()


def _as_recompute(op: Op) -> Op:
    return Op(name=f"{op.name}.recompute", op_class=op.op_class, phase=Phase.RECOMPUTE, flops=op.flops,
              bytes_read=op.bytes_read, bytes_written=op.bytes_written, shape=op.shape, dtype=op.dtype,
              count=op.count, kernel=op.kernel,
              epilogue_of=f"{op.epilogue_of}.recompute" if op.epilogue_of else "")


#: (consumer, producer GEMM) pairs where the consumer reads the GEMM's output with no collective in
#: between, for every TP degree: the column-parallel GEMMs' outputs are local to the rank (RoPE on
#: Q/K, the MLP activation), and so is the input gradient of the row-parallel fc2.
_EPILOGUES = (("rope", "qkv"), ("swiglu", "fc1"), ("gelu", "fc1"), ("swiglu.bwd", "fc2.dgrad"),
              ("gelu.bwd", "fc2.dgrad"))
#: Only without tensor parallelism: with tp > 1 the row-parallel GEMM's partial sums are all-reduced
#: (or reduce-scattered) before the residual add.
_EPILOGUES_TP1 = (("attn_residual", "out_proj"), ("mlp_residual", "fc2"))


def _epilogue_producers(tp: int) -> dict[str, str]:
    """Consumer name -> the GEMM it reads, for plain, ``expert.`` and ``shared.`` ops."""
    pairs = _EPILOGUES + (_EPILOGUES_TP1 if tp == 1 else ())
    return {prefix + consumer: prefix + producer
            for prefix in ("", "expert.", "shared.") for consumer, producer in pairs}


_PRODUCERS = {True: _epilogue_producers(1), False: _epilogue_producers(2)}


def _mark_epilogues(ops: list[Op], tp: int) -> list[Op]:
    """Name, on each op that may run as a GEMM epilogue, the GEMM it reads (see :data:`_EPILOGUES`)."""
    producers = _PRODUCERS[tp == 1]
    out = []
    for op in ops:
        producer = producers.get(op.name)
        if producer is not None and op.op_class is OpClass.ELEMENTWISE:
            # dataclasses.replace(op, epilogue_of=producer), without its field-by-field introspection
            op = Op(op.name, op.op_class, op.phase, op.flops, op.bytes_read, op.bytes_written, op.shape,
                    op.dtype, op.count, op.kernel, producer)
        out.append(op)
    return out
