"""Closed choices of a training run: numeric precision and activation recomputation."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Precision", "Recompute"]


class Precision(StrEnum):
    """Training precision.

    BF16: BF16 weights and activations, FP32 master weights, gradients accumulated in FP32, and
    Adam states in FP32 (Megatron-LM's default mixed precision). FP8: as BF16, but the GEMMs of
    the transformer layers run in FP8 (Transformer Engine style: E4M3 forward, E5M2 backward),
    linear-layer inputs are saved in FP8, and an FP8 copy of each weight is kept.
    """

    BF16 = "bf16"
    FP8 = "fp8"


class Recompute(StrEnum):
    """Activation recomputation (Korthikanti et al. 2022)."""

    NONE = "none"
    #: Recompute the attention core (scores, softmax, dropout) in the backward pass.
    SELECTIVE = "selective"
    #: Store only each layer's input; rerun the whole layer forward in the backward pass.
    FULL = "full"
