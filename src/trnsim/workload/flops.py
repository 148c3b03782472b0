"""Model FLOPs (for MFU) and hardware FLOPs (for HFU) of training on a number of tokens.

Two conventions for the attention score and value products, which differ by the attention share:

- **Full** (:func:`model_flops`, :func:`hardware_flops`, :func:`forward_flops_per_token`; what
  trnsim's MFU, HFU and ``trnsim validate`` use): Megatron-LM's (Narayanan et al. 2021, appendix)
  and PaLM's (Chowdhery et al. 2022, appendix B). Three times the forward FLOPs (forward, input and
  weight gradients), where the forward counts 2 FLOPs per weight of every GEMM a token passes
  through (active experts only) plus the attention score and value products over the full sequence
  (2·s·heads·(d_qk + d_v) per token and layer), even though the models are causal. For a GPT it
  reduces to Megatron's 72·B·s·L·h²·(1 + s/(6h) + V/(12·L·h)) and, in general, to
  6·N·D + 12·L·heads·d·s·D.
- **Causal** (:func:`model_flops_causal`, ``forward_flops_per_token(..., causal=True)``): the same
  with the attention products halved, as FlashAttention-2 (Dao 2023, section 4.1) counts its
  causal benchmarks (the mask leaves about half of the score matrix to compute). Every model trnsim
  describes is a causal decoder, so the variant applies to all of them; at seq ≪ hidden the two
  nearly agree, at long sequences the attention share makes them differ a lot.

``hardware_flops`` adds what activation recomputation runs again (full counting).
"""

from __future__ import annotations

from trnsim.workload.config import ModelConfig
from trnsim.workload.options import Recompute

__all__ = ["CAUSAL_ATTENTION_SHARE", "forward_flops_per_token", "hardware_flops", "model_flops",
           "model_flops_causal"]

#: Share of the full-sequence attention products counted under the causal convention: exactly a
#: half, as FlashAttention-2 counts (a causal kernel executes a little more: the diagonal).
CAUSAL_ATTENTION_SHARE = 0.5


def _layer_matmul_params(model: ModelConfig, moe: bool) -> int:
    """GEMM weights a token passes through in one layer with (``moe``) or without routed experts."""
    params = model.attention_matmul_params()
    if moe:
        expert = model.mlp_matmul_params(int(model.moe_ffn_hidden_size or 0))
        params += model.hidden_size * model.num_experts  # router
        params += model.experts_per_token * expert
        if model.num_shared_experts:
            params += model.mlp_matmul_params(model.shared_ffn_hidden_size)
    else:
        params += model.mlp_matmul_params(model.ffn_hidden_size)
    return params


def _layers_matmul_flops_per_token(model: ModelConfig) -> float:
    """The GEMM FLOPs per token of every layer: the layers of each kind (dense, MoE) times one
    layer's, an exact integer sum, then rounded once to a float. Equal to the float sum of the
    layers' FLOPs taken layer by layer (each an integer-valued float) while the total stays below
    2**53, where every partial sum of that running total is an exact integer; beyond it (no real
    model) the correctly rounded total, in constant time whatever the layer count."""
    moe = model.moe_layer_count()
    exact = 2 * ((model.num_layers - moe) * _layer_matmul_params(model, False)
                 + moe * _layer_matmul_params(model, True))
    return float(exact)


def _attention_flops_per_token(model: ModelConfig, seq_len: int) -> float:
    return 2.0 * seq_len * model.num_heads * (model.qk_head_dim + model.v_dim)


def forward_flops_per_token(model: ModelConfig, seq_len: int, causal: bool = False) -> float:
    """Forward FLOPs per token: GEMMs of every layer, attention, and the output projection.

    Attention over the full sequence (Megatron/PaLM), or halved with ``causal`` (FlashAttention-2).
    """
    layers = _layers_matmul_flops_per_token(model)
    attention = model.num_layers * _attention_flops_per_token(model, seq_len)
    if causal:
        attention *= CAUSAL_ATTENTION_SHARE
    return layers + attention + 2.0 * model.hidden_size * model.vocab_size


def model_flops(model: ModelConfig, tokens: float, seq_len: int) -> float:
    """FLOPs of forward and backward over ``tokens`` tokens at ``seq_len`` (MFU's numerator).

    Full-attention counting (Narayanan et al. 2021, appendix; PaLM, appendix B).
    """
    return 3.0 * tokens * forward_flops_per_token(model, seq_len)


def model_flops_causal(model: ModelConfig, tokens: float, seq_len: int) -> float:
    """:func:`model_flops` with the attention products halved for the causal mask.

    FlashAttention-2's causal counting (Dao 2023, section 4.1); the backward stays twice the
    forward, as in :func:`model_flops` (FlashAttention-2's own 2.5 includes its recomputation,
    which MFU leaves out).
    """
    return 3.0 * tokens * forward_flops_per_token(model, seq_len, causal=True)


def hardware_flops(model: ModelConfig, tokens: float, seq_len: int, recompute: Recompute,
                   flash_attention: bool = True) -> float:
    """Model FLOPs plus the forward work recomputation repeats (HFU's numerator; full counting).

    FULL reruns every transformer layer's forward (Megatron's 96·B·s·L·h² form for a GPT);
    SELECTIVE reruns the attention core, which FlashAttention already recomputes inside its own
    backward kernel (counted in neither, as in Megatron's accounting).
    """
    extra = 0.0
    attention = model.num_layers * _attention_flops_per_token(model, seq_len)
    if recompute is Recompute.FULL:
        extra = _layers_matmul_flops_per_token(model) + attention
    elif recompute is Recompute.SELECTIVE and not flash_attention:
        extra = attention
    return model_flops(model, tokens, seq_len) + tokens * extra
