"""Communication a plan adds to a training step, derived from the model dimensions.

The workload graph holds no collectives; these are the ones Megatron-LM (and FSDP/DeepSpeed for
ZeRO-3) issue, per micro-batch on one pipeline stage unless noted. ``A`` is one micro-batch's
activation on a rank, ``b (s / cp) h`` BF16 values.

* TP: per transformer layer, forward 2 all-reduces of ``A`` (attention output, MLP output); with
  sequence parallelism each becomes an all-gather plus a reduce-scatter of the same bytes
  (Korthikanti et al. 2022, section 4.2.2). Backward repeats them; full recomputation reruns the
  forward ones. With sequence parallelism the backward has 4 all-gathers and 2 reduce-scatters
  (Megatron-LM's ``LinearWithGradAccumulationAndAsyncCommunication``, NxD's
  ``LinearWithAsyncCommunication``): the 2 all-gathers of the row-parallel output gradients are
  exposed; the column-parallel input re-gathers and input-gradient reduce-scatters run beside
  those layers' GEMMs (``behind_dgrad_s``/``behind_wgrad_s``).
* CP, ring exchange (Megatron-LM / Transformer Engine): per layer forward, ``cp - 1`` ring steps
  each passing this rank's K and V chunk; backward passes K, V and their gradients (twice the
  bytes). Each transfer hides behind one step's attention block; with the causal mask and the
  load-balanced layout (each rank holds chunks ``i`` and ``2 cp - 1 - i``) every step computes
  half of a full block pair, ``1 / cp`` of the rank's attention, so only what a transfer takes
  beyond that is exposed. CP, all-gather exchange (Llama 3, Meta 2024): K and V gathered before
  attention (small with GQA), their gradients reduce-scattered after; exposed.
* EP: per MoE layer forward, a dispatch and a combine all-to-all of the tokens routed from this
  rank (``top-k`` copies of each token's hidden vector); backward the same.
* PP: per micro-batch, each stage boundary sends ``A / tp`` (Megatron's scatter-gather send).
* DP, per step (per micro-batch for ZeRO-3): ZeRO-0 all-reduces FP32 gradients; ZeRO-1/2
  reduce-scatter FP32 gradients and all-gather BF16 parameters after the update (Megatron's
  distributed optimizer); ZeRO-3/FSDP all-gathers BF16 parameters before forward and before
  backward of every micro-batch and reduce-scatters gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

from trnsim.cluster.collectives import Collective, collective_time
from trnsim.cluster.options import CPExchange
from trnsim.cluster.placement import GroupPlacement
from trnsim.workload.config import AttentionKind, ModelConfig
from trnsim.workload.options import Recompute

__all__ = [
    "ACTIVATION_BYTES",
    "GRAD_REDUCE_BYTES",
    "PARAM_GATHER_BYTES",
    "CPExchange",
    "DpTraffic",
    "PhaseComm",
    "cp_comm",
    "dp_comm",
    "ep_comm",
    "pp_send_s",
    "tp_comm",
]

#: BF16 activations on the wire (the workload layer's activation type).
ACTIVATION_BYTES = 2
#: Gradients are reduced in FP32 by default (Megatron's default with FP32 gradient accumulation);
#: the plan's ``grad_reduce_dtype`` can halve it.
GRAD_REDUCE_BYTES = 4
#: Parameters are gathered as their BF16 working copy.
PARAM_GATHER_BYTES = 2


@dataclass(frozen=True, slots=True)
class PhaseComm:
    """Communication time of one micro-batch on one stage, split by pass."""

    fwd_s: float
    bwd_s: float  # backward, including the forward collectives a full recompute repeats
    #: Backward collectives that run beside the column-parallel GEMMs (sequence parallelism): the
    #: re-gather of their input, issued before their input-gradient GEMM, and the reduce-scatter
    #: of that input gradient, issued before their weight-gradient GEMM. Not in ``bwd_s``: the step
    #: exposes only what those GEMMs do not cover.
    behind_dgrad_s: float = 0.0
    behind_wgrad_s: float = 0.0
    #: CP ring: transfer time hidden behind attention (forward, backward and a full recompute's
    #: rerun); not in ``fwd_s``/``bwd_s``, reported so that a fully hidden ring does not read as none.
    hidden_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.fwd_s + self.bwd_s


#: A group of one rank (or no layers) communicates nothing (one immutable value, not one per stage).
_NO_COMM = PhaseComm(0.0, 0.0)

#: Members read per stage and plan, as module constants (each ``Collective.X`` read goes through the
#: enum metaclass's ``__getattr__`` hook, some 150 ns).
_ALL_GATHER, _REDUCE_SCATTER = Collective.ALL_GATHER, Collective.REDUCE_SCATTER
_ALL_REDUCE = Collective.ALL_REDUCE
_SEND_RECV = Collective.SEND_RECV
_FULL = Recompute.FULL


def _activation_bytes(model: ModelConfig, micro_batch: int, seq_len: int, cp: int) -> float:
    return micro_batch * (seq_len / cp) * model.hidden_size * ACTIVATION_BYTES


def _with_recompute(fwd_s: float, bwd_s: float, recompute: Recompute) -> PhaseComm:
    return PhaseComm(fwd_s, bwd_s + (fwd_s if recompute is _FULL else 0.0))


def tp_comm(
    model: ModelConfig, group: GroupPlacement, layers: int, micro_batch: int, seq_len: int, cp: int,
    sequence_parallel: bool, recompute: Recompute,
) -> PhaseComm:
    """TP collectives of ``layers`` transformer layers, one micro-batch."""
    if not group.levels or layers == 0:
        return _NO_COMM
    a = _activation_bytes(model, micro_batch, seq_len, cp)
    if sequence_parallel:
        gather = 2 * layers * collective_time(_ALL_GATHER, a, group).time_s
        scatter = 2 * layers * collective_time(_REDUCE_SCATTER, a, group).time_s
        # Backward (Megatron-LM's and NxD's linear layers with SP): the row-parallel GEMMs' output
        # gradient is all-gathered before they can start (exposed); the column-parallel GEMMs
        # re-gather their input (SP keeps only its shard) beside their input-gradient GEMM and
        # reduce-scatter that gradient beside their weight-gradient GEMM.
        comm = _with_recompute(gather + scatter, gather, recompute)
        return PhaseComm(comm.fwd_s, comm.bwd_s, gather, scatter)  # behind the dgrad, the wgrad GEMMs
    per_pass = 2 * layers * collective_time(_ALL_REDUCE, a, group).time_s
    return _with_recompute(per_pass, per_pass, recompute)


def cp_comm(
    model: ModelConfig, group: GroupPlacement, layers: int, micro_batch: int, seq_len: int, tp: int,
    recompute: Recompute, attention_fwd_s: float = 0.0, attention_bwd_s: float = 0.0,
    exchange: CPExchange = CPExchange.RING,
) -> PhaseComm:
    """Exposed CP K/V exchange of ``layers`` layers, one micro-batch (``hidden_s``: the ring's part
    hidden behind attention).

    ``attention_fwd_s`` / ``attention_bwd_s``: this rank's attention compute over the same layers,
    which the ring's transfers hide behind step by step (0: nothing hides them).
    """
    cp = group.size
    if cp == 1 or layers == 0:
        return _NO_COMM
    if model.attention is AttentionKind.MLA:
        kv_heads = model.num_heads // tp
    else:
        kv_heads = max(1, model.num_kv_heads // tp)
    chunk = micro_batch * (seq_len / cp) * kv_heads * (model.qk_head_dim + model.v_dim) * ACTIVATION_BYTES
    if exchange is CPExchange.ALL_GATHER:
        gather = collective_time(Collective.ALL_GATHER, cp * chunk, group).time_s
        scatter = collective_time(Collective.REDUCE_SCATTER, cp * chunk, group).time_s
        # Backward gathers K/V again (they are not kept) and reduce-scatters their gradients.
        return _with_recompute(layers * gather, layers * (gather + scatter), recompute)
    send_f = collective_time(_SEND_RECV, chunk, group).time_s
    send_b = collective_time(_SEND_RECV, 2 * chunk, group).time_s
    block_f, block_b = attention_fwd_s / layers / cp, attention_bwd_s / layers / cp
    fwd = layers * (cp - 1) * max(0.0, send_f - block_f)
    bwd = layers * (cp - 1) * max(0.0, send_b - block_b)
    # A full recompute reruns the forward ring behind the recomputed attention.
    exposed = _with_recompute(fwd, bwd, recompute)
    hidden_f = layers * (cp - 1) * min(send_f, block_f)
    hidden = hidden_f * (2 if recompute is _FULL else 1) + layers * (cp - 1) * min(send_b, block_b)
    return PhaseComm(exposed.fwd_s, exposed.bwd_s, hidden_s=hidden)


def ep_comm(
    model: ModelConfig, group: GroupPlacement, moe_layers: int, micro_batch: int, seq_len: int,
    cp: int, tp: int, sequence_parallel: bool, recompute: Recompute,
) -> PhaseComm:
    """Expert-parallel dispatch and combine all-to-alls of ``moe_layers`` layers, one micro-batch."""
    if not group.levels or moe_layers == 0:
        return _NO_COMM
    tokens = micro_batch * seq_len / cp / (tp if sequence_parallel else 1)
    routed = tokens * model.experts_per_token * model.hidden_size * ACTIVATION_BYTES
    per_pass = 2 * moe_layers * collective_time(Collective.ALL_TO_ALL, routed, group).time_s
    return _with_recompute(per_pass, per_pass, recompute)


def pp_send_s(model: ModelConfig, group: GroupPlacement, micro_batch: int, seq_len: int, cp: int,
              tp: int) -> float:
    """One activation send between adjacent stages (``group``: the two ranks)."""
    if not group.levels:
        return 0.0
    a = _activation_bytes(model, micro_batch, seq_len, cp) / tp
    return collective_time(_SEND_RECV, a, group).time_s


@dataclass(frozen=True, slots=True)
class DpTraffic:
    """Data-parallel communication of one step, by when it can overlap."""

    grad_s: float  # gradient reduction at the end of backward (per step; per micro-batch for ZeRO-3)
    param_s: float  # parameter all-gather (after the update; before fwd and bwd for ZeRO-3)
    per_microbatch: bool  # True for ZeRO-3: both repeat every micro-batch
    #: The part no overlap can hide: the last gradient bucket is ready only when backward ends, and
    #: the first parameter bucket (ZeRO-3: the first layer) is needed before forward can start.
    grad_tail_s: float = 0.0
    param_tail_s: float = 0.0


def dp_comm(
    dense_params: float, expert_params: float, dp_group: GroupPlacement, expert_dp_group: GroupPlacement,
    zero_stage: int, bucket_params: float | None = None, grad_bytes: float = GRAD_REDUCE_BYTES,
) -> DpTraffic:
    """Gradient and parameter traffic over the data-parallel groups of one rank.

    ``bucket_params``: parameters per communication bucket (ZeRO-3: per layer); None treats the
    whole buffer as one bucket (no tail beyond the whole transfer). ``grad_bytes``: bytes per
    gradient on the wire (4 for FP32, 2 for BF16/FP16 reduction).
    """
    def both(collective: Collective, bytes_per_param: float, dense: float, expert: float) -> float:
        return (collective_time(collective, dense * bytes_per_param, dp_group).time_s
                + collective_time(collective, expert * bytes_per_param, expert_dp_group).time_s)

    def tail(collective: Collective, bytes_per_param: float) -> float:
        if bucket_params is None:
            return both(collective, bytes_per_param, dense_params, expert_params)
        # One bucket of the (larger) dense buffer, or all of it when it is smaller than a bucket.
        last = min(bucket_params, dense_params) * bytes_per_param
        return collective_time(collective, last, dp_group).time_s

    if zero_stage == 0:
        grads = both(Collective.ALL_REDUCE, grad_bytes, dense_params, expert_params)
        return DpTraffic(grads, 0.0, False, tail(Collective.ALL_REDUCE, grad_bytes), 0.0)
    grads = both(Collective.REDUCE_SCATTER, grad_bytes, dense_params, expert_params)
    params = both(Collective.ALL_GATHER, PARAM_GATHER_BYTES, dense_params, expert_params)
    grad_tail = tail(Collective.REDUCE_SCATTER, grad_bytes)
    param_tail = tail(Collective.ALL_GATHER, PARAM_GATHER_BYTES)
    if zero_stage in (1, 2):
        return DpTraffic(grads, params, False, grad_tail, param_tail)
    return DpTraffic(grads, 2 * params, True, grad_tail, param_tail)
