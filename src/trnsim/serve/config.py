"""One serving configuration: model, system, parallel layout, load and precision, validated."""

from __future__ import annotations

from dataclasses import dataclass, field

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import SystemSpec
from trnsim.serve.spelling import CLI, Spelling
from trnsim.workload.config import AttentionKind, ModelConfig

__all__ = ["ServeConfig", "Speculation"]


@dataclass(frozen=True)
class Speculation:
    """Speculative decoding: ``length`` draft tokens per round, each accepted with ``acceptance_rate``."""

    draft: ModelConfig
    length: int
    acceptance_rate: float

    def expected_tokens(self) -> float:
        """Tokens one verify round yields: (1 − a^(k+1)) / (1 − a) (Leviathan et al. 2023, eq. 1)."""
        a, k = self.acceptance_rate, self.length
        return float(k + 1) if a >= 1.0 else (1.0 - a ** (k + 1)) / (1.0 - a)


@dataclass(frozen=True)
class ServeConfig:
    """A model served on ``ranks`` ranks of ``system``: ``ranks / (tp·pp)`` replicas.

    ``concurrency`` is the number of requests in flight on one replica; each has
    ``input_tokens`` of prompt and generates ``output_tokens``. ``weight_bytes`` 2 (BF16) or 1
    (FP8); ``kv_bytes`` likewise for the KV cache. ``ep`` splits the routed experts of an MoE
    model over ``ep`` replicas (taken from the data-parallel replicas, as ``estimate`` does).
    """

    model: ModelConfig
    system: SystemSpec
    ranks: int
    tp: int
    concurrency: int
    input_tokens: int
    output_tokens: int
    pp: int = 1
    ep: int = 1
    weight_bytes: int = 2
    kv_bytes: int = 2
    speculation: Speculation | None = None
    #: Chunked prefill: prompt tokens per prefill pass (None: the whole prompt in one pass).
    prefill_chunk: int | None = None
    #: How the user named the inputs (``--tp 3`` or ``tp=3``), for the messages of the checks.
    spelling: Spelling = field(default=CLI, compare=False, repr=False)

    def __post_init__(self) -> None:
        m, say = self.model, self.spelling
        where = f"serve {m.name}"
        for key in ("ranks", "tp", "pp", "ep", "concurrency", "input_tokens", "output_tokens"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{where}: {say.name(key)} must be at least 1, got {getattr(self, key)}")
        if self.prefill_chunk is not None and self.prefill_chunk < 1:
            raise ConfigError(f"{where}: {say.name('prefill_chunk')} must be at least 1, got "
                              f"{self.prefill_chunk}")
        if self.ranks % (self.tp * self.pp):
            products = ", ".join(str(d) for d in range(1, min(self.ranks, 64) + 1) if self.ranks % d == 0)
            raise ConfigError(f"{where}: tp*pp = {self.tp * self.pp} must divide the {self.ranks} ranks; "
                              f"valid: {products}{', ...' if self.ranks > 64 else ''}")
        if m.num_heads % self.tp:
            valid = [t for t in range(1, m.num_heads + 1) if m.num_heads % t == 0]
            raise ConfigError(f"{where}: {say.given('tp', self.tp)} must divide num_heads={m.num_heads}; "
                              f"valid: {valid}")
        if m.attention is AttentionKind.STANDARD and m.num_kv_heads % self.tp and self.tp % m.num_kv_heads:
            raise ConfigError(f"{where}: {say.given('tp', self.tp)} and num_kv_heads={m.num_kv_heads} must "
                              "divide one another")
        if m.ffn_hidden_size % self.tp or (m.moe_ffn_hidden_size or 0) % self.tp:
            raise ConfigError(f"{where}: {say.given('tp', self.tp)} must divide the FFN hidden size(s)")
        if self.pp > m.num_layers:
            raise ConfigError(f"{where}: {say.given('pp', self.pp)} exceeds the {m.num_layers} layers")
        if self.ep > 1 and not m.is_moe:
            raise ConfigError(f"{where}: {say.given('ep', self.ep)} applies to MoE models only, and {m.name} "
                              f"is dense; leave {say.name('ep')} out (or give 1)")
        if self.ep > 1 and (m.num_experts % self.ep or self.replicas % self.ep):
            raise ConfigError(f"{where}: {say.given('ep', self.ep)} must divide num_experts={m.num_experts} "
                              f"and the {self.replicas} replicas (ranks / (tp*pp))")
        if self.input_tokens + self.output_tokens > m.max_seq_len:
            raise ConfigError(f"{where}: input + output = {self.input_tokens + self.output_tokens} tokens "
                              f"exceeds max_seq_len={m.max_seq_len}")
        if self.weight_bytes not in (1, 2) or self.kv_bytes not in (1, 2):
            raise ConfigError(f"{where}: weights and KV cache are 1 (fp8) or 2 (bf16) bytes")
        if self.speculation is not None:
            s = self.speculation
            if s.length < 1 or not 0.0 <= s.acceptance_rate <= 1.0:
                raise ConfigError(f"{where}: speculation length must be >= 1 and acceptance rate in [0, 1]; "
                                  f"got {s.length}, {s.acceptance_rate}")
            # A round yields at most k + 1 tokens (k drafted, one from the verify step): beyond the
            # request's output - 1, drafted tokens could never be kept.
            most = self.output_tokens - 1
            if most < 1:
                given, name = say.given("output_tokens", self.output_tokens), say.name("output_tokens")
                raise ConfigError(f"{where}: {given} leaves no token to draft; speculative decoding needs "
                                  f"{name} >= 2")
            if s.length > most:
                raise ConfigError(f"{where}: speculation length {s.length} exceeds "
                                  f"{say.name('output_tokens')} - 1 = {most} (a round keeps at most k + 1 "
                                  f"tokens); give {say.name('speculation_length')} 1..{most}")
            tokens = self.input_tokens + self.output_tokens
            if tokens > s.draft.max_seq_len:  # the draft attends over the same context as the target
                raise ConfigError(f"{where}: draft model '{s.draft.name}' has max_seq_len="
                                  f"{s.draft.max_seq_len}, below input + output = {tokens} tokens; pick a "
                                  "draft with a longer context")
            if s.draft.vocab_size != m.vocab_size:
                raise ConfigError(f"{where}: draft model '{s.draft.name}' has vocabulary "
                                  f"{s.draft.vocab_size}, "
                                  f"the target {m.vocab_size}: a draft must share the tokenizer")

    @property
    def replicas(self) -> int:
        return self.ranks // (self.tp * self.pp)

    @property
    def chips(self) -> float:
        return self.ranks / self.system.ranks_per_chip
