"""Closed choices of a parallel plan that the CLI declares as options (kept free of pydantic)."""

from __future__ import annotations

from enum import StrEnum


class GradReduceDtype(StrEnum):
    """Type of gradients on the wire in the data-parallel reduction."""

    FP32 = "fp32"  # Megatron-LM's default with BF16 training (FP32 main gradients)
    BF16 = "bf16"  # half-size reduction: BF16, or FP16 as in FP16 mixed precision (same 2 bytes)

    @property
    def nbytes(self) -> int:
        # by value: ``GradReduceDtype.FP32`` would go through the enum metaclass on every read
        return 4 if self._value_ == "fp32" else 2


class CPExchange(StrEnum):
    """How context-parallel ranks exchange keys and values."""

    RING = "ring"  # pass K/V chunks around the ring, overlapping attention step by step
    ALL_GATHER = "all-gather"  # gather all K/V before attention (Llama 3's choice)
