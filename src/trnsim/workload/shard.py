"""What part of the model one rank holds: the shard shapes the cluster layer chooses."""

from __future__ import annotations

from dataclasses import dataclass

from trnsim.errors import ConfigError

__all__ = ["Shard"]


@dataclass(frozen=True, slots=True)
class Shard:
    """One rank's share of the model and of the sequence.

    ``tp``: tensor-parallel size (attention heads, FFN columns and vocabulary split ``tp`` ways;
    expert FFNs too, as Megatron's default expert-tensor-parallel size equals ``tp``).
    ``sequence_parallel``: norms, dropouts and residuals split along the sequence over the TP
    group. ``cp``: context-parallel size (each rank holds ``seq_len / cp`` queries and attends to
    the whole sequence). ``ep``: expert-parallel size (``num_experts / ep`` experts per rank).
    ``layers``: transformer layers on this rank (None: all of them), starting at ``first_layer``
    (pipeline stage). ``has_embedding`` / ``has_lm_head``: first / last pipeline stage.
    """

    tp: int = 1
    sequence_parallel: bool = False
    cp: int = 1
    ep: int = 1
    layers: int | None = None
    first_layer: int = 0
    has_embedding: bool = True
    has_lm_head: bool = True

    def __post_init__(self) -> None:
        if (self.tp >= 1 and self.cp >= 1 and self.ep >= 1 and self.first_layer >= 0
                and (self.layers is None or self.layers >= 0)):  # valid: one test (a planner makes many)
            return
        for key in ("tp", "cp", "ep"):
            if getattr(self, key) < 1:
                raise ConfigError(f"shard: {key} must be at least 1, got {getattr(self, key)}")
        if self.layers is not None and self.layers < 0:
            raise ConfigError(f"shard: layers must not be negative, got {self.layers}")
        if self.first_layer < 0:
            raise ConfigError(f"shard: first_layer must not be negative, got {self.first_layer}")
