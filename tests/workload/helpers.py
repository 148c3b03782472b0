"""Model configs for the formula tests: the GPT shapes of the published Megatron-LM papers."""

from __future__ import annotations

from trnsim.workload.config import MlpKind, ModelConfig, NormKind, PositionKind


def gpt(hidden: int, layers: int, heads: int, vocab: int = 51200, seq: int = 2048,
        dropout: bool = True) -> ModelConfig:
    """A Megatron GPT: MHA, 4h GELU MLP, LayerNorm, learned positions, tied embeddings."""
    return ModelConfig(
        name=f"gpt-h{hidden}-l{layers}", family="gpt2", hidden_size=hidden, num_layers=layers,
        num_heads=heads, num_kv_heads=heads, head_dim=hidden // heads, ffn_hidden_size=4 * hidden,
        vocab_size=vocab, max_seq_len=seq, mlp=MlpKind.GELU, norm=NormKind.LAYERNORM,
        position=PositionKind.LEARNED, tie_embeddings=True, linear_bias=True, dropout=dropout,
    )


#: (hidden, layers, heads) of Korthikanti et al. 2022 Table 5 and Narayanan et al. 2021 Table 1.
GPT_SHAPES = [
    (2304, 24, 24),  # 1.7B
    (6144, 48, 64),  # 22B
    (12288, 96, 96),  # 175B
    (20480, 105, 128),  # 530B
    (25600, 128, 160),  # 1T
]
