"""Causal-counted model FLOPs (attention halved, FlashAttention-2) against the full count, by hand."""

from __future__ import annotations

import pytest

from trnsim.workload.flops import forward_flops_per_token, model_flops, model_flops_causal
from trnsim.workload.models import load_model

from .helpers import gpt


def _by_hand(h: int, layers: int, vocab: int, seq: int, attention_share: float) -> float:
    """Training FLOPs per token of a Megatron GPT (MHA, 4h MLP), written out term by term.

    Per layer and token, forward: QKV 2·3h², output projection 2·h², MLP 2·8h² (24h² in all; biases
    do no GEMM work); scores Q·Kᵀ 2·s·h and values P·V 2·s·h over the full sequence (heads·d = h),
    of which the causal convention counts ``attention_share``. LM head 2·h·V. Backward twice the
    forward: ×3.
    """
    gemms = 24 * h * h
    attention = (2 * seq * h + 2 * seq * h) * attention_share
    return 3 * (layers * (gemms + attention) + 2 * h * vocab)


@pytest.mark.parametrize("seq", [128, 2048, 65536])
def test_small_gpt_both_conventions_by_hand(seq: int) -> None:
    h, layers, heads, vocab, tokens = 1024, 4, 16, 1000, 3 * seq
    model = gpt(h, layers, heads, vocab=vocab, seq=seq)
    assert model_flops(model, tokens, seq) == pytest.approx(tokens * _by_hand(h, layers, vocab, seq, 1.0),
                                                            rel=1e-12)
    assert model_flops_causal(model, tokens, seq) == pytest.approx(
        tokens * _by_hand(h, layers, vocab, seq, 0.5), rel=1e-12)


def test_short_sequences_nearly_agree_long_ones_differ_by_half_the_attention_share() -> None:
    h, layers, heads, vocab = 4096, 8, 32, 1000
    for seq in (64, 65536):
        model = gpt(h, layers, heads, vocab=vocab, seq=seq)
        full, causal = model_flops(model, 1.0, seq), model_flops_causal(model, 1.0, seq)
        # Attention share of the full count: 4·s·h·L over L·(24h² + 4·s·h) + 2·h·V.
        share = 4 * seq * h * layers / (layers * (24 * h * h + 4 * seq * h) + 2 * h * vocab)
        assert causal / full == pytest.approx(1 - share / 2, rel=1e-12)
        print(f"s={seq}: attention {share:.1%} of the full count, causal/full {causal / full:.4f}")
        if seq == 64:  # s ≪ h: 4s/(24h) ≈ 0.26 %, so under 0.2 % apart
            assert causal / full > 0.998
        else:  # s = 16h: attention 4s/(24h + 4s) ≈ 73 % of the count, the causal one ≈ 37 % lower
            assert 0.6 < causal / full < 0.65


def test_only_the_attention_products_are_halved_with_mla_head_dims() -> None:
    # DeepSeek-V3's MLA: d_qk ≠ d_v. The two conventions differ by half the attention term,
    # 3 (passes) · L · s·heads·(d_qk + d_v) per token, whatever the GEMMs and experts are.
    model = load_model("deepseek-v3")
    seq, tokens = 4096, 2.0 * 4096
    assert model.qk_head_dim != model.v_dim
    half = 3 * model.num_layers * seq * model.num_heads * (model.qk_head_dim + model.v_dim)
    full, causal = model_flops(model, tokens, seq), model_flops_causal(model, tokens, seq)
    # Each count is a float sum exact to a few ulps; their difference keeps that absolute error,
    # relative to it full/half (≈ 20 here) times larger: 1e-12 is far above that.
    assert full - causal == pytest.approx(tokens * half, rel=1e-12)
    assert forward_flops_per_token(model, seq, causal=True) == pytest.approx(causal / (3 * tokens), rel=1e-15)
