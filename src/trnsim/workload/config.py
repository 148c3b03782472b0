"""Model configurations: the transformer architectures trnsim can cost, validated on load.

A :class:`ModelConfig` holds the dimensions that decide FLOPs, bytes and memory: dense decoders
(Llama, Mistral, Qwen, GPT-2, GPT-NeoX, Megatron GPT) and mixture-of-experts models (Mixtral,
DeepSeek-V3 with shared and routed experts and multi-head latent attention). It is read from a
Hugging Face style ``config.json`` (see :mod:`trnsim.workload.hf_config`) or a built-in preset.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

from trnsim.errors import ConfigError

__all__ = ["AttentionKind", "MlpKind", "ModelConfig", "NormKind", "PositionKind", "QkNormScope",
           "check_seq_len"]


class MlpKind(StrEnum):
    GELU = "gelu"  # two matrices: h -> f -> h
    SWIGLU = "swiglu"  # three matrices: gate and up h -> f, down f -> h


class NormKind(StrEnum):
    LAYERNORM = "layernorm"
    RMSNORM = "rmsnorm"


class PositionKind(StrEnum):
    ROPE = "rope"
    LEARNED = "learned"


class AttentionKind(StrEnum):
    STANDARD = "standard"  # multi-head / grouped-query attention
    MLA = "mla"  # DeepSeek multi-head latent attention (low-rank q and kv projections)


class QkNormScope(StrEnum):
    HEAD = "head"
    PROJECTION = "projection"


class ModelConfig(BaseModel):
    """A decoder-only transformer, dense or mixture-of-experts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    family: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    ffn_hidden_size: int
    vocab_size: int
    max_seq_len: int
    mlp: MlpKind = MlpKind.SWIGLU
    norm: NormKind = NormKind.RMSNORM
    position: PositionKind = PositionKind.ROPE
    tie_embeddings: bool = False
    qk_norm: bool = False
    #: "head": one norm of width head_dim shared by all heads (Qwen3, Gemma 3: 2·d weights);
    #: "projection": over the whole q and k projections (OLMo 2, OLMoE, Command R+: (nq+nkv)·d).
    qk_norm_scope: QkNormScope = QkNormScope.HEAD
    #: Biases on the attention projections (q, k, v, o), and on the MLP too unless ``mlp_bias`` is set.
    linear_bias: bool = False
    #: Biases on the MLP's linears (HF ``mlp_bias``, apart from ``attention_bias``); None: as ``linear_bias``.
    mlp_bias: bool | None = None
    #: Biases on the q, k and v projections only (Qwen2, Qwen2-MoE).
    qkv_bias: bool = False
    #: Norms in one transformer layer: 2 pre-norms (Llama), 4 with Gemma's post-norms, 1 in a
    #: parallel block (Falcon-7B, Command-R).
    norms_per_layer: int = 2
    #: LayerNorm has a bias (2h weights); DBRX's and Cohere's have none (h).
    norm_bias: bool = True
    dropout: bool = False
    attention: AttentionKind = AttentionKind.STANDARD
    # Multi-head latent attention (DeepSeek); used when attention is MLA.
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    # Mixture of experts: num_experts == 0 means dense.
    num_experts: int = 0
    experts_per_token: int = 0
    num_shared_experts: int = 0
    moe_ffn_hidden_size: int | None = None
    first_dense_layers: int = 0
    #: Explicit MoE layer indices when they are not "every layer from first_dense_layers on"
    #: (DeepSeek ``moe_layer_freq``, Qwen ``decoder_sparse_step``/``mlp_only_layers``).
    moe_layers: tuple[int, ...] | None = None
    #: Width of the shared expert(s) as one gated FFN; None: num_shared_experts x moe_ffn_hidden_size.
    shared_expert_ffn_size: int | None = None
    #: Qwen2-MoE's sigmoid gate on the shared expert (a Linear h -> 1 per MoE layer).
    shared_expert_gate: bool = False
    #: What this config approximates or assumes (printed with every estimate).
    notes: tuple[str, ...] = ()
    source: str = ""

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        where = f"model '{self.name}'"
        if self.norms_per_layer < 1:
            raise ConfigError(f"{where}: norms_per_layer must be at least 1, got {self.norms_per_layer}")
        for key in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim",
                    "ffn_hidden_size", "vocab_size", "max_seq_len"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{where}: {key} must be positive, got {getattr(self, key)}")
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"{where}: num_kv_heads={self.num_kv_heads} must divide num_heads={self.num_heads}"
            )
        if self.attention is AttentionKind.MLA:
            missing = [k for k in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
                       if not getattr(self, k)]
            if missing:
                raise ConfigError(f"{where}: multi-head latent attention needs {missing}")
        if self.num_experts < 0 or self.first_dense_layers < 0 or self.num_shared_experts < 0:
            raise ConfigError(f"{where}: expert counts must not be negative")
        if self.num_experts:
            if not 1 <= self.experts_per_token <= self.num_experts:
                raise ConfigError(
                    f"{where}: experts_per_token={self.experts_per_token} must be in 1..num_experts"
                    f"={self.num_experts}"
                )
            if not self.moe_ffn_hidden_size or self.moe_ffn_hidden_size <= 0:
                raise ConfigError(f"{where}: an MoE model needs a positive moe_ffn_hidden_size")
            if self.first_dense_layers > self.num_layers:
                raise ConfigError(
                    f"{where}: first_dense_layers={self.first_dense_layers} exceeds num_layers="
                    f"{self.num_layers}"
                )
            if self.moe_layers is not None and any(not 0 <= i < self.num_layers for i in self.moe_layers):
                raise ConfigError(f"{where}: moe_layers must lie in 0..{self.num_layers - 1}")
        elif self.experts_per_token or self.num_shared_experts:
            raise ConfigError(f"{where}: experts_per_token/num_shared_experts set but num_experts is 0")
        return self

    # ---- derived dimensions -------------------------------------------------------------------

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def qk_head_dim(self) -> int:
        """Per-head dimension of queries and keys (MLA: nope + rope parts)."""
        if self.attention is AttentionKind.MLA:
            return int(self.qk_nope_head_dim or 0) + int(self.qk_rope_head_dim or 0)
        return self.head_dim

    @property
    def v_dim(self) -> int:
        """Per-head dimension of values (and of the attention output)."""
        if self.attention is AttentionKind.MLA:
            return int(self.v_head_dim or 0)
        return self.head_dim

    def is_moe_layer(self, index: int) -> bool:
        """True when transformer layer ``index`` (0-based) has routed experts."""
        if not self.is_moe:
            return False
        if self.moe_layers is not None:
            return index in self.moe_layers
        return index >= self.first_dense_layers

    def moe_layer_count(self, start: int = 0, stop: int | None = None) -> int:
        """How many of layers ``start .. stop - 1`` (default: all) have routed experts: counted from
        the pattern (first dense layers, or the explicit indices), not layer by layer, so that the
        cost does not grow with the layer count."""
        stop = self.num_layers if stop is None else stop
        if not self.is_moe or stop <= start:
            return 0
        if self.moe_layers is not None:
            return len({i for i in self.moe_layers if start <= i < stop})
        return max(0, stop - max(start, self.first_dense_layers))

    @property
    def num_moe_layers(self) -> int:
        return self.moe_layer_count()

    @property
    def shared_ffn_hidden_size(self) -> int:
        """Width of the shared expert(s), taken as one gated FFN (0 without shared experts)."""
        if not self.num_shared_experts:
            return 0
        if self.shared_expert_ffn_size:
            return self.shared_expert_ffn_size
        return self.num_shared_experts * int(self.moe_ffn_hidden_size or 0)

    # ---- parameter counts ---------------------------------------------------------------------

    def attention_matmul_params(self) -> int:
        """GEMM weights of one attention block (the projections only)."""
        h, nq = self.hidden_size, self.num_heads
        if self.attention is AttentionKind.MLA:
            q_lora, kv_lora = int(self.q_lora_rank or 0), int(self.kv_lora_rank or 0)
            rope, qk, v = int(self.qk_rope_head_dim or 0), self.qk_head_dim, self.v_dim
            q = h * q_lora + q_lora * nq * qk if q_lora else h * nq * qk
            return q + h * (kv_lora + rope) + kv_lora * nq * (qk - rope + v) + nq * v * h
        return h * (nq + 2 * self.num_kv_heads) * self.head_dim + nq * self.head_dim * h

    def attention_params(self) -> int:
        """Weights of one attention block (projections, biases, q/k norms, MLA's latent norms)."""
        params = self.attention_matmul_params()
        if self.attention is AttentionKind.MLA:
            return params + int(self.q_lora_rank or 0) + int(self.kv_lora_rank or 0)
        d, nkv = self.head_dim, self.num_kv_heads
        if self.linear_bias or self.qkv_bias:
            params += self.num_heads * d + 2 * nkv * d
        if self.linear_bias:
            params += self.hidden_size
        if self.qk_norm:
            params += 2 * d if self.qk_norm_scope is QkNormScope.HEAD else (self.num_heads + nkv) * d
        return params

    def mlp_matmul_params(self, ffn: int) -> int:
        """GEMM weights of one dense MLP with inner size ``ffn``."""
        return (3 if self.mlp is MlpKind.SWIGLU else 2) * self.hidden_size * ffn

    def mlp_params(self, ffn: int) -> int:
        """Weights of one dense MLP with inner size ``ffn`` (biases included)."""
        params = self.mlp_matmul_params(ffn)
        if self.linear_bias if self.mlp_bias is None else self.mlp_bias:
            params += (2 if self.mlp is MlpKind.SWIGLU else 1) * ffn + self.hidden_size
        return params

    def norm_params(self) -> int:
        """Weights of one norm (the final norm and every per-layer norm)."""
        return self.hidden_size * (2 if self.norm is NormKind.LAYERNORM and self.norm_bias else 1)

    def layer_params(self, index: int, active_only: bool = False) -> int:
        """Weights of transformer layer ``index``; ``active_only`` counts top-k experts only."""
        params = self.attention_params() + self.norms_per_layer * self.norm_params()
        if not self.is_moe_layer(index):
            return params + self.mlp_params(self.ffn_hidden_size)
        expert = self.mlp_params(int(self.moe_ffn_hidden_size or 0))
        routed = self.experts_per_token if active_only else self.num_experts
        params += self.hidden_size * self.num_experts + routed * expert
        if self.num_shared_experts:
            params += self.mlp_params(self.shared_ffn_hidden_size)
            params += self.hidden_size if self.shared_expert_gate else 0
        return params

    def embedding_params(self) -> int:
        params = self.vocab_size * self.hidden_size
        if self.position is PositionKind.LEARNED:
            params += self.max_seq_len * self.hidden_size
        return params

    def lm_head_params(self) -> int:
        """Output projection weights (0 when tied to the input embedding)."""
        return 0 if self.tie_embeddings else self.vocab_size * self.hidden_size

    def _layers_params(self, active_only: bool) -> int:
        if not self.is_moe:  # every layer alike: no need to ask layer by layer
            return self.num_layers * self.layer_params(0) if self.num_layers else 0
        # two kinds of layer, each alike: their counts times one layer's (an exact integer sum)
        moe = self.moe_layer_count()
        dense = self.num_layers - moe
        total = 0
        if dense:
            total += dense * self.layer_params(self._layer_of_kind(False), active_only)
        if moe:
            total += moe * self.layer_params(self._layer_of_kind(True), active_only)
        return total

    def _layer_of_kind(self, moe: bool) -> int:
        """The index of a layer with (``moe``) or without routed experts (one exists: checked by the
        caller's count)."""
        if self.moe_layers is not None:
            if moe:
                return min(self.moe_layers)
            held = set(self.moe_layers)
            return next(i for i in range(len(held) + 1) if i not in held)
        return self.first_dense_layers if moe else 0

    def n_params(self) -> int:
        """Total parameters, every expert included."""
        layers = self._layers_params(active_only=False)
        return layers + self.embedding_params() + self.lm_head_params() + self.norm_params()

    def n_active_params(self) -> int:
        """Parameters used per token: routed experts counted top-k times, not num_experts."""
        layers = self._layers_params(active_only=True)
        return layers + self.embedding_params() + self.lm_head_params() + self.norm_params()

    def n_nonembedding_params(self) -> int:
        """Total parameters less the input embedding and the output projection."""
        return self.n_params() - self.embedding_params() - self.lm_head_params()


def check_seq_len(seq_len: int, model: ModelConfig, given: str) -> None:
    """The sequence fits the model's positions; else one line naming ``given`` (how the user gave it:
    ``--seq-len 9000``, ``seq_len=9000``). Checked before a search, which could otherwise only name a
    count of rejected plans, not the reason."""
    if seq_len > model.max_seq_len:
        raise ConfigError(f"{given} exceeds {model.name}'s max_seq_len={model.max_seq_len} (its "
                          "max_position_embeddings); give at most that")
