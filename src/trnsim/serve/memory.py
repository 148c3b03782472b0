"""Memory per rank when serving: weights, KV cache, activations; the fit and the largest concurrency.

* weights: the rank's parameters (its TP shard of its pipeline stage's layers; its ``E / ep``
  experts), ``weight_bytes`` each (the embedding and output projection stay BF16);
* KV cache: per request ``(I + O)`` positions × layers on the rank × (K and V of the rank's KV
  heads, or MLA's latent row) × ``kv_bytes``;
* activations: the prefill's transient working set of one request (the largest of a layer's
  sequence-parallel input, its QKV and MLP intermediates on this rank) plus the decode step's
  FP32 logits over the vocabulary shard;
* capacity: the rank's HBM less the runtime reserve of ``serving.toml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trnsim.serve.config import ServeConfig
from trnsim.serve.ops import kv_heads_on_rank, prefill_tokens
from trnsim.serve.params import load_serving_params
from trnsim.workload.config import AttentionKind
from trnsim.workload.graph import build_step
from trnsim.workload.shard import Shard

__all__ = ["ServeMemory", "kv_bytes_per_request", "serve_memory"]


@dataclass(frozen=True)
class ServeMemory:
    """Bytes per rank by part, the capacity, and the largest concurrency that fits."""

    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    capacity_bytes: float
    kv_per_request_bytes: float
    concurrency: int
    #: The part of ``activation_bytes`` each request in flight adds (its decode logits): the largest
    #: concurrency that fits must not count the requested concurrency's share as fixed.
    activation_per_request_bytes: float = 0.0

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.kv_cache_bytes + self.activation_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.capacity_bytes

    @property
    def dominant(self) -> str:
        """The largest part: what to cut first when it does not fit."""
        parts = self.parts()
        return max(parts, key=lambda k: parts[k])

    @property
    def max_concurrency(self) -> int:
        """Requests in flight whose KV cache fits beside the weights and activations (0: none)."""
        fixed = self.activation_bytes - self.activation_per_request_bytes * self.concurrency
        free = self.capacity_bytes - self.weights_bytes - fixed
        per_request = self.kv_per_request_bytes + self.activation_per_request_bytes
        if free <= 0 or per_request <= 0:
            return 0
        return int(free // per_request)

    def parts(self) -> dict[str, float]:
        return {"weights": self.weights_bytes, "kv_cache": self.kv_cache_bytes,
                "activations": self.activation_bytes}

    def verdict(self) -> str:
        gib = 2.0**30
        if self.fits:
            return (f"fits: {self.total_bytes / gib:.1f} GiB of {self.capacity_bytes / gib:.1f} GiB per "
                    "rank; "
                    f"up to {self.max_concurrency} requests in flight")
        return (f"does not fit: needs {self.total_bytes / gib:.1f} GiB of "
                f"{self.capacity_bytes / gib:.1f} GiB "
                f"per rank; {self.dominant} dominates; largest concurrency that fits: {self.max_concurrency}")


def kv_bytes_per_request(config: ServeConfig) -> float:
    """KV cache of one request at full context on one rank."""
    m = config.model
    layers = math.ceil(m.num_layers / config.pp)
    if m.attention is AttentionKind.MLA:
        row = int(m.kv_lora_rank or 0) + int(m.qk_rope_head_dim or 0)
    else:
        row = 2 * kv_heads_on_rank(m, config.tp) * m.head_dim
    return float((config.input_tokens + config.output_tokens) * layers * row * config.kv_bytes)


def serve_memory(config: ServeConfig) -> ServeMemory:
    """Memory per rank of ``config`` (the first pipeline stage, which also holds the embedding)."""
    m, tp = config.model, config.tp
    layers = math.ceil(m.num_layers / config.pp)
    shard = Shard(tp=tp, ep=config.ep, layers=layers, has_lm_head=config.pp == 1)
    params = build_step(m.model_copy(update={"max_seq_len": max(m.max_seq_len, tp)}), shard, 1, tp).params
    vocab_local = math.ceil(m.vocab_size / tp)
    embed = vocab_local * m.hidden_size * (2 if config.pp == 1 and not m.tie_embeddings else 1)
    weights = (params.total - embed) * config.weight_bytes + embed * 2
    kv_one = kv_bytes_per_request(config)
    seq = prefill_tokens(config.input_tokens, tp)
    heads = m.num_heads // tp
    widest = max(m.hidden_size, (heads + 2 * kv_heads_on_rank(m, tp)) * m.head_dim,
                 2 * max(m.ffn_hidden_size, int(m.moe_ffn_hidden_size or 0)) // tp)
    prefill_act = seq * (m.hidden_size + 2 * widest) * 2
    logits = config.concurrency * vocab_local * 4
    capacity = config.system.hbm_bytes_per_rank * (1.0 - load_serving_params().reserved_fraction)
    return ServeMemory(weights_bytes=float(weights), kv_cache_bytes=kv_one * config.concurrency,
                       activation_bytes=float(prefill_act + logits), capacity_bytes=capacity,
                       kv_per_request_bytes=kv_one, concurrency=config.concurrency,
                       activation_per_request_bytes=float(vocab_local * 4))
