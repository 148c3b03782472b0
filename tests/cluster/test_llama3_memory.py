"""Llama 3 405B's published layouts on 80 GiB H100s fit (Meta, "The Llama 3 Herd of Models", 2024,
Table 4), with every part of the peak rank's memory derived by hand.

Mapping: FSDP over data parallelism with weights not re-sharded after the forward pass holds the
same bytes at its peak as ZeRO-2: full BF16 weights of the stage, FP32 gradients and Adam states
sharded over dp. Micro-batch 1, sequence parallelism with tp 8, 126 layers on 16 stages of
7, 8 x 14, 7 layers, no activation recomputation ("without activation checkpointing", section 3.3.2).
"""

from __future__ import annotations

import pytest

from trnsim.cluster import estimate_step, make_plan
from trnsim.cluster.pipeline import Schedule
from trnsim.hardware.catalog import load_system
from trnsim.workload.models import load_model

H, F, KV_DIM, HEADS, TP = 16384, 53248, 8 * 128, 128, 8
# One layer's parameters on one TP rank: attention and SwiGLU MLP split 8 ways, the two norms'
# weights replicated on every rank (as Megatron-LM does).
RANK_LAYER_PARAMS = (H * (H + 2 * KV_DIM) + H * H + 3 * H * F) / 8 + 2 * H
GIB = 2.0**30


def _layer_activation_bytes(tokens: int) -> float:
    """Saved tensors of one layer for backward, per rank (Korthikanti et al. 2022 accounting, with
    flash attention, SwiGLU and no dropout): with SP every tensor is split over the 8 TP ranks."""
    per_token = (
        2 * H  # attention norm input
        + 2 * H  # its output, the QKV GEMM input (sequence-sharded, re-gathered in backward)
        + 2 * H + 2 * 2 * KV_DIM  # q, k, v
        + 2 * H + 4 * HEADS  # attention output (= out-projection input) and FP32 log-sum-exp
        + 2 * H + 2 * H  # MLP norm input and output (fc1 input)
        + 2 * 2 * F  # gate and up outputs (SwiGLU input)
        + 2 * F  # SwiGLU output (fc2 input)
    )
    return tokens * per_token / TP


@pytest.mark.parametrize(
    ("ranks", "dp", "cp", "per_dp_rank", "seq", "interleave"),
    [
        (8192, 64, 1, 32, 8192, 1),
        (16384, 128, 1, 16, 8192, 2),
        (16384, 8, 16, 16, 131072, 2),
    ],
)
def test_llama3_405b_layouts_fit_on_h100(ranks: int, dp: int, cp: int, per_dp_rank: int, seq: int,
                                         interleave: int) -> None:
    p5 = load_system("p5")
    assert p5.chip.hbm_bytes == 80 * GIB
    plan = make_plan(tp=TP, pp=16, dp=dp, cp=cp, zero_stage=2, micro_batch=1,
                     global_batch=dp * per_dp_rank, sequence_parallel=True, interleave=interleave,
                     schedule=Schedule.INTERLEAVED if interleave > 1 else Schedule.ONE_F_ONE_B)
    r = estimate_step(load_model("llama3-405b"), p5, ranks, plan, seq)
    assert r.fits, r.memory
    # The peak rank is stage 1 (8 layers). 1F1B: it holds p - 1 = 15 micro-batches. Interleaved
    # with m = 16 = p: all m v = 32 chunk forwards (4 layers each) before the first backward,
    # 2 x 16 x 4 = 128 layer-micro-batches = 16 stage micro-batches.
    held_layers = 15 * 8 if interleave == 1 else 16 * 8
    mem = r.memory
    assert mem.weights_bytes == pytest.approx(2 * 8 * RANK_LAYER_PARAMS)
    # Sharded over the dp x cp ranks holding the same weights (Megatron's distributed optimizer).
    assert mem.grads_bytes == pytest.approx(4 * 8 * RANK_LAYER_PARAMS / (dp * cp))
    assert mem.optimizer_bytes == pytest.approx(12 * 8 * RANK_LAYER_PARAMS / (dp * cp))
    assert mem.activations_bytes == pytest.approx(held_layers * _layer_activation_bytes(seq // cp))
    assert mem.total_bytes < 80 * GIB


def test_interleaving_layout_one_would_not_fit() -> None:
    # Layout 1 (m = 32) interleaved with v = 2 under Megatron's warm-up: stage 1 runs
    # 2 (16 - 2) + 16 + 1 = 45 chunk forwards of 4 layers before its first backward, 180
    # layer-micro-batches (90 GiB of activations): over 80 GiB. The paper does not state v; its
    # one-layer chunks (v = 8, below) hold 141 layers and fit, and so does 1F1B (v = 1, above).
    p5 = load_system("p5")
    plan = make_plan(tp=TP, pp=16, dp=64, zero_stage=2, micro_batch=1, global_batch=2048,
                     sequence_parallel=True, interleave=2, schedule=Schedule.INTERLEAVED)
    r = estimate_step(load_model("llama3-405b"), p5, 8192, plan, 8192)
    assert r.memory.activations_bytes == pytest.approx(180 * _layer_activation_bytes(8192))
    assert not r.fits


@pytest.mark.parametrize(
    ("ranks", "dp", "cp", "per_dp_rank", "seq"),
    [(8192, 64, 1, 32, 8192), (16384, 128, 1, 16, 8192), (16384, 8, 16, 16, 131072)],
)
def test_llama3_405b_layouts_fit_with_one_layer_chunks(ranks: int, dp: int, cp: int, per_dp_rank: int,
                                                       seq: int) -> None:
    # Section 3.3.2: "the first model chunk on the first stage has only the embedding, and the last
    # model chunk on the last stage has only output projection and loss calculation" -- after removing
    # one layer from those stages, so a chunk is one layer: 126 + 2 slots = 16 stages x v = 8 chunks.
    # Megatron's depth-first groups (N = p = 16). Stage 1 (8 one-layer chunks) is the peak: it runs
    # 2 (16 - 2) + 7 x 16 + 1 = 141 chunk forwards before its first backward (m = 32), or all
    # m v = 128 (m = 16); stage 0 holds 112 layers at most (its chunk 0 is the embedding alone).
    p5 = load_system("p5")
    plan = make_plan(tp=TP, pp=16, dp=dp, cp=cp, zero_stage=2, micro_batch=1,
                     global_batch=dp * per_dp_rank, sequence_parallel=True, interleave=8,
                     schedule=Schedule.INTERLEAVED, account_for_embedding_loss=True)
    r = estimate_step(load_model("llama3-405b"), p5, ranks, plan, seq)
    held_layers = 141 if per_dp_rank == 32 else 128
    assert r.memory.weights_bytes == pytest.approx(2 * 8 * RANK_LAYER_PARAMS)
    assert r.memory.activations_bytes == pytest.approx(held_layers * _layer_activation_bytes(seq // cp))
    assert r.fits and r.memory.total_bytes < 80 * GIB
    # The bubble: (p - 1) / (v m) of the ideal, with the lighter first and last stages filling less.
    assert r.bubble_fraction <= 15 / (8 * per_dp_rank)
    # FSDP proper (ZeRO-3 keeping the gathered weights after forward) holds the same bytes.
    fsdp = estimate_step(load_model("llama3-405b"), p5, ranks,
                         plan.model_copy(update={"zero_stage": 3, "reshard_after_forward": False}), seq)
    assert fsdp.memory == r.memory


def test_interleaved_last_chunk_holds_the_output_layer_once() -> None:
    # The last stage's last chunk (final norm, LM head, loss) runs each micro-batch's backward right
    # after its forward, so only one micro-batch of its saved tensors is held, however many layer
    # micro-batches the stage holds. Per micro-batch on a tp 8 rank with SP: the final norm's and the
    # LM head's inputs, 8,192 / 8 tokens x 16,384 x 2 B each, and the FP32 softmax over the vocabulary
    # shard, 8,192 tokens x 128,256 / 8 x 4 B.
    from trnsim.workload.memory import estimate_memory
    from trnsim.workload.shard import Shard

    model = load_model("llama3-405b")
    shard = Shard(tp=TP, sequence_parallel=True, layers=7, first_layer=119, has_lm_head=True)
    head = 2 * (8192 // TP) * H * 2 + 8192 * (128256 // TP) * 4
    full = estimate_memory(model, shard, 64, 2, 1, 8192, inflight_microbatches=16)
    once = estimate_memory(model, shard, 64, 2, 1, 8192, inflight_microbatches=16, head_inflight=1)
    assert full.activations_bytes - once.activations_bytes == pytest.approx(15 * head)
    assert once.activations_bytes == pytest.approx(112 * _layer_activation_bytes(8192) + head)
