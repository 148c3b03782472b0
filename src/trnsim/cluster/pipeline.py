"""Pipeline-parallel schedules: step time, bubble and activations held in flight.

With ``p`` stages, ``m`` micro-batches per step, per-stage forward and backward times ``t_f``,
``t_b`` of one micro-batch and ``v`` virtual stages per device (interleaving):

* GPipe: all forwards, then all backwards. Ideal work ``m (t_f + t_b)``; the fill and drain add
  ``(p - 1)(t_f + t_b)``; every stage keeps all ``m`` micro-batches' activations.
* 1F1B (PipeDream-Flush): the same bubble, but after a warm-up of ``p - 1`` forwards each stage
  alternates one forward and one backward, so the first stage holds at most ``p`` micro-batches.
* Interleaved 1F1B (Narayanan et al. 2021): each device runs ``v`` chunks of ``L/(p v)`` layers; the
  bubble shrinks to ``(p - 1)(t_f + t_b) / v`` at the price of ``v`` times more stage-to-stage
  sends, and the first stage holds ``p (1 + (p - 1)/(p v))`` micro-batches' worth of activations
  (Korthikanti et al. 2022, section 4.2.3). Megatron requires ``m`` to be a multiple of ``p``.

The bubble fraction ``(p - 1) / (v m)`` is relative to the ideal (bubble-free) time
(Narayanan et al. 2021, section 2.2). With unequal stages (Llama 3's lighter first and last stages)
the fill and drain pass once through every stage but the slowest, which sets the steady state:
the step is ``sum_i t_i + (m - 1) t_max`` for 1F1B, so the bubble is ``(sum_i t_i - t_max) / v``
instead of ``(p - 1) t_max / v``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from trnsim.errors import ConfigError

__all__ = ["PipelineTiming", "Schedule", "chunk_layers", "held_microbatches", "pipeline_timing"]


class Schedule(StrEnum):
    """Pipeline schedules."""

    GPIPE = "gpipe"
    ONE_F_ONE_B = "1f1b"
    INTERLEAVED = "interleaved"


@dataclass(frozen=True, slots=True)
class PipelineTiming:
    """Time of one step's pipeline and the activations the busiest stage keeps."""

    total_s: float  # compute + bubble + exposed stage-to-stage sends
    compute_s: float  # m (t_f + t_b): the ideal, bubble-free time
    bubble_s: float
    p2p_s: float  # exposed send/recv time on the critical path
    bubble_fraction: float  # bubble_s / compute_s
    inflight_microbatches: float  # activations held by the first stage, in micro-batches


def pipeline_timing(
    schedule: Schedule,
    stages: int,
    microbatches: int,
    fwd_s: float,
    bwd_s: float,
    interleave: int = 1,
    p2p_s: float = 0.0,
    fill_s: float | None = None,
) -> PipelineTiming:
    """Timing of one training step's pipeline (per-microbatch, per-stage times in seconds).

    ``p2p_s`` is the time of one activation (or gradient) send between adjacent stages; a
    micro-batch crosses ``v`` boundaries forward and ``v`` backward on each device, and the
    warm-up/cool-down chain adds ``2 (p - 1)`` more on the critical path. ``fill_s``: the summed
    per-micro-batch time (forward + backward) of every stage but the slowest; by default the
    ``p - 1`` others are as slow as it.
    """
    if stages < 1 or microbatches < 1 or interleave < 1:
        raise ConfigError(
            f"pipeline needs stages, microbatches and interleave >= 1, got {stages}, {microbatches}, "
            f"{interleave}"
        )
    if fwd_s < 0 or bwd_s < 0 or p2p_s < 0:
        raise ConfigError(f"pipeline times must be >= 0 s, got fwd {fwd_s}, bwd {bwd_s}, p2p {p2p_s}")
    if schedule is not Schedule.INTERLEAVED and interleave != 1:
        raise ConfigError(f"interleave {interleave} needs schedule 'interleaved', got '{schedule}'")
    p, m, v = stages, microbatches, interleave
    per_mb = fwd_s + bwd_s
    compute = m * per_mb
    if fill_s is not None and fill_s < 0:
        raise ConfigError(f"pipeline fill time must be >= 0 s, got {fill_s}")
    bubble = ((p - 1) * per_mb if fill_s is None else fill_s) / v
    p2p = 0.0 if p == 1 else (2 * v * m + 2 * (p - 1)) * p2p_s
    if schedule is Schedule.GPIPE:
        inflight = float(m)
    elif schedule is Schedule.ONE_F_ONE_B:
        inflight = float(min(p, m))
    else:
        inflight = min(p, m) * (1 + (p - 1) / (p * v))
    return PipelineTiming(
        total_s=compute + bubble + p2p,
        compute_s=compute,
        bubble_s=bubble,
        p2p_s=p2p,
        bubble_fraction=bubble / compute if compute > 0 else 0.0,
        inflight_microbatches=inflight,
    )


def chunk_layers(layers: int, interleave: int) -> list[int]:
    """Layers of each of a stage's ``interleave`` model chunks: as even as possible, earlier ones larger."""
    base, extra = divmod(layers, interleave)
    return [base + (1 if i < extra else 0) for i in range(interleave)]


def held_microbatches(schedule: Schedule, stages: int, microbatches: int, interleave: int, stage: int,
                      layers: int) -> float:
    """Activations stage ``stage`` holds at its peak, in micro-batches of its whole ``layers``.

    Megatron-LM's schedules (Narayanan et al. 2021; Korthikanti et al. 2022, section 4.2.3):

    * GPipe: all ``m`` micro-batches.
    * 1F1B: ``p - stage - 1`` warm-up forwards, then one more forward before the first backward:
      ``min(p - stage, m)``.
    * Interleaved: ``2 (p - stage - 1) + (v - 1) p`` warm-up forwards of model chunks, plus one,
      at most ``m v``; the ``k``-th forward runs chunk ``(k // p) mod v``, and chunks may differ in
      size (uneven stages), so the held layers are summed chunk by chunk. With equal chunks the first
      stage holds ``p + (p - 1) / v`` micro-batches, Korthikanti's ``p (1 + (p - 1)/(p v))``.
    """
    p, m, v = stages, microbatches, interleave
    if schedule is Schedule.GPIPE:
        return float(m)
    if schedule is Schedule.ONE_F_ONE_B or v == 1:
        return float(max(1, min(p - stage, m)))
    chunks = chunk_layers(layers, v)
    forwards = min(2 * (p - stage - 1) + (v - 1) * p + 1, m * v)
    held = sum(chunks[(k // p) % v] for k in range(forwards))
    return held / layers


def inflight_whole(timing: PipelineTiming) -> int:
    """Micro-batches of activations to provision memory for (rounded up)."""
    return math.ceil(timing.inflight_microbatches - 1e-9)
