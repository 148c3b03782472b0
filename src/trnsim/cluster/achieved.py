"""Achieved model FLOP/s per chip of a step, under both attention-counting conventions.

A published TFLOP/s-per-GPU or MFU figure depends on how its publisher counts causal attention:
Megatron-LM and PaLM count the score and value products over the full sequence (trnsim's ``mfu``,
``hfu`` and ``trnsim validate``), FlashAttention-2 halves them for a causal mask (``mfu_causal``).
:func:`flops_fields` gives ``trnsim estimate --json`` (and ``trnsim.estimate``) both, labelled.
"""

from __future__ import annotations

from trnsim.cluster.step import StepResult
from trnsim.hardware.catalog import SystemSpec

__all__ = ["FLOPS_CONVENTION", "flops_fields", "model_tflops_per_chip"]

#: How ``mfu``/``hfu``/``model_tflops_per_chip`` count attention, and what ``*_causal`` changes.
FLOPS_CONVENTION = ("full attention: score and value products over the whole sequence (Megatron-LM, "
                    "PaLM); *_causal: those products halved for the causal mask (FlashAttention-2)")


def model_tflops_per_chip(result: StepResult, system: SystemSpec) -> tuple[float, float]:
    """(full-attention, causal-counted) model TFLOP/s each chip achieves: MFU times the chip's peak.

    The peak is the one MFU is taken against (the step's precision), so the product is the model
    FLOPs per second of a chip's ranks whatever that peak is.
    """
    peak = system.chip.peak_flops(str(result.precision))
    return result.mfu * peak / 1e12, result.mfu_causal * peak / 1e12


def flops_fields(result: StepResult, system: SystemSpec) -> dict[str, object]:
    """The JSON fields beside ``mfu``/``mfu_causal``: achieved TFLOP/s per chip and the convention."""
    full, causal = model_tflops_per_chip(result, system)
    return {"model_tflops_per_chip": full, "model_tflops_per_chip_causal": causal,
            "flops_convention": FLOPS_CONVENTION}
