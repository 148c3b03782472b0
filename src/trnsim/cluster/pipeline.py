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

Flexible micro-batch groups (Llama 3, Meta 2024, section 3.3.2, figure 6; Megatron-core's
``microbatch_group_size_per_vp_stage``): each rank runs ``N`` consecutive micro-batches on one model
chunk before moving to the next chunk. ``N = p`` is Narayanan's depth-first schedule, ``N = m`` the
breadth-first one (Lamy-Poirier 2023); with ``p <= N <= m`` and ``N`` dividing ``m`` the bubble stays
``(p - 1) / (v m)`` and ``m`` need not be a multiple of ``p`` (an op-by-op timeline in the tests checks
both; a shorter last group stalls). The warm-up, and so the activations held, grow with ``N``:
``2 (p - rank - 1) + (v - 1) N`` chunk forwards.

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

__all__ = ["PipelineTiming", "Schedule", "chunk_layers", "forward_chunks", "held_microbatches",
           "pipeline_timing", "warmup_forwards"]


class Schedule(StrEnum):
    """Pipeline schedules."""

    GPIPE = "gpipe"
    ONE_F_ONE_B = "1f1b"
    INTERLEAVED = "interleaved"



# The members as module constants for the per-plan functions below: each ``Schedule.X`` read goes
# through the enum metaclass's ``__getattr__`` hook (a few hundred ns).
_GPIPE, _ONE_F_ONE_B, _INTERLEAVED = Schedule.GPIPE, Schedule.ONE_F_ONE_B, Schedule.INTERLEAVED

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
    overlap_p2p: bool = False,
    group: int | None = None,
) -> PipelineTiming:
    """Timing of one training step's pipeline (per-microbatch, per-stage times in seconds).

    ``p2p_s`` is the time of one activation (or gradient) send between adjacent stages; a
    micro-batch crosses ``v`` boundaries forward and ``v`` backward on each device, and the
    warm-up/cool-down chain adds ``2 (p - 1)`` more on the critical path. ``fill_s``: the summed
    per-micro-batch time (forward + backward) of every stage but the slowest; by default the
    ``p - 1`` others are as slow as it.

    ``overlap_p2p`` (interleaved only): asynchronous sends (Llama 3, section 3.3.2: async P2P, and
    "more micro-batches to hide point-to-point communication"; Megatron's
    ``--overlap-p2p-communication``) run beside the next chunk's compute. What stays on the critical
    path, from an op-by-op timeline with send latency (tests): the ``2 (p - 1)`` sends of the fill and
    drain chain, and at each of the ``v - 1`` chunk changes of the fill (and of the drain) the wait
    for micro-batch 0 to come round from the last stage, ``p`` sends, less the ``N - p`` chunks of
    other micro-batches the first stage runs meanwhile: ``max(0, p s - (N - p) t / v)`` with
    ``N`` = ``group`` (default ``p``: every virtual-stage hop, ``2 (p v - 1)`` sends). A send longer
    than a chunk adds its excess at each chunk (an upper bound). 1F1B and GPipe keep every send.
    """
    if stages < 1 or microbatches < 1 or interleave < 1:
        raise ConfigError(
            f"pipeline needs stages, microbatches and interleave >= 1, got {stages}, {microbatches}, "
            f"{interleave}"
        )
    if fwd_s < 0 or bwd_s < 0 or p2p_s < 0:
        raise ConfigError(f"pipeline times must be >= 0 s, got fwd {fwd_s}, bwd {bwd_s}, p2p {p2p_s}")
    if schedule is not _INTERLEAVED and interleave != 1:
        raise ConfigError(f"interleave {interleave} needs schedule 'interleaved', got '{schedule}'")
    p, m, v = stages, microbatches, interleave
    per_mb = fwd_s + bwd_s
    compute = m * per_mb
    if fill_s is not None and fill_s < 0:
        raise ConfigError(f"pipeline fill time must be >= 0 s, got {fill_s}")
    bubble = ((p - 1) * per_mb if fill_s is None else fill_s) / v
    if p == 1:
        p2p = 0.0
    elif overlap_p2p and schedule is _INTERLEAVED:
        slack = (p if group is None else group) - p  # chunks of other micro-batches at a chunk change
        turns = (v - 1) * (max(0.0, p * p2p_s - slack * fwd_s / v) + max(0.0, p * p2p_s - slack * bwd_s / v))
        steady = v * m * (max(0.0, p2p_s - fwd_s / v) + max(0.0, p2p_s - bwd_s / v))
        p2p = 2 * (p - 1) * p2p_s + turns + steady
    else:
        p2p = (2 * v * m + 2 * (p - 1)) * p2p_s
    if schedule is _GPIPE:
        inflight = float(m)
    elif schedule is _ONE_F_ONE_B:
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


def chunk_layers(layers: int, interleave: int, embedding: bool = False, loss: bool = False) -> list[int]:
    """Layers of each of a stage's ``interleave`` model chunks: as even as possible, earlier ones larger.

    ``embedding`` / ``loss``: the embedding (first stage) or the output layer and loss (last stage)
    take a layer's place in the split, as Megatron-core's ``--account-for-embedding-in-pipeline-split``
    and ``--account-for-loss-in-pipeline-split`` do: the ``layers + 1`` (or ``+ 2``) slots are split,
    then the first chunk gives up the embedding's slot and the last chunk the loss's. Llama 3 405B
    (section 3.3.2): "the first model chunk on the first stage has only the embedding, and the last
    model chunk on the last stage has only output projection and loss calculation".
    """
    slots = layers + int(embedding) + int(loss)
    base, extra = divmod(slots, interleave)
    chunks = [base + (1 if i < extra else 0) for i in range(interleave)]
    if embedding:
        chunks[0] -= 1
    if loss:
        chunks[-1] -= 1
    if min(chunks) < 0:
        raise ConfigError(f"{layers} layers cannot fill {interleave} model chunks with the embedding/loss "
                          "slots: a chunk would have fewer than none")
    return chunks


def warmup_forwards(stages: int, interleave: int, stage: int, group: int | None = None) -> int:
    """Chunk forwards stage ``stage`` runs before its first backward in the interleaved schedule.

    Megatron-LM (Narayanan et al. 2021, section 2.2; ``forward_backward_pipelining_with_interleaving``):
    ``2 (p - stage - 1) + (v - 1) N`` with ``N = p`` micro-batches per chunk group, or the flexible
    ``N`` of Llama 3 (section 3.3.2). Why: the last stage's first backward needs micro-batch 0's
    last chunk, its ``(v - 1) N + 1``-th forward; that gradient reaches stage ``stage`` after
    ``p - stage - 1`` more forward and as many backward hops, one forward of it each.
    """
    n = stages if group is None else group
    return 2 * (stages - stage - 1) + (interleave - 1) * n


def forward_chunks(microbatches: int, interleave: int, group: int) -> list[int]:
    """The model chunk of each forward, in the order a rank runs them: groups of ``group``
    micro-batches go through chunk 0, then chunk 1, ... (the last group may be shorter)."""
    order: list[int] = []
    for start in range(0, microbatches, group):
        size = min(group, microbatches - start)
        for chunk in range(interleave):
            order += [chunk] * size
    return order


def held_microbatches(schedule: Schedule, stages: int, microbatches: int, interleave: int, stage: int,
                      layers: int, group: int | None = None, chunks: list[int] | None = None) -> float:
    """Activations stage ``stage`` holds at its peak, in micro-batches of its whole ``layers``.

    Megatron-LM's schedules (Narayanan et al. 2021; Korthikanti et al. 2022, section 4.2.3):

    * GPipe: all ``m`` micro-batches.
    * 1F1B: ``p - stage - 1`` warm-up forwards, then one more forward before the first backward:
      ``min(p - stage, m)``.
    * Interleaved: :func:`warmup_forwards` chunk forwards, plus one, at most ``m v``; which chunk
      each forward runs follows :func:`forward_chunks` (groups of ``N``, default ``p``: the ``k``-th
      runs chunk ``(k // p) mod v``), and chunks may differ in size (uneven stages, ``chunks``;
      default :func:`chunk_layers`), so the held layers are summed chunk by chunk. With equal chunks
      and ``N = p`` the first stage holds ``p + (p - 1) / v`` micro-batches, Korthikanti's
      ``p (1 + (p - 1)/(p v))``.
    """
    p, m, v = stages, microbatches, interleave
    if schedule is _GPIPE:
        return float(m)
    if schedule is _ONE_F_ONE_B or v == 1:
        return float(max(1, min(p - stage, m)))
    sizes = chunk_layers(layers, v) if chunks is None else chunks
    n = p if group is None else group
    forwards = min(warmup_forwards(p, v, stage, n) + 1, m * v)
    return _first_forwards_layers(sizes, m, v, n, forwards) / layers


def _first_forwards_layers(sizes: list[int], microbatches: int, interleave: int, group: int,
                           forwards: int) -> int:
    """The layers of the first ``forwards`` entries of :func:`forward_chunks` (each its chunk's
    size), without listing all ``m v`` of them: a planner asks this for every interleaved candidate,
    with up to thousands of micro-batches. Integer sizes: the same sum in any grouping."""
    held, left = 0, forwards
    for start in range(0, microbatches, group):
        size = min(group, microbatches - start)
        for chunk in range(interleave):
            if left <= size:
                return held + sizes[chunk] * left
            held += sizes[chunk] * size
            left -= size
    return held


def inflight_whole(timing: PipelineTiming) -> int:
    """Micro-batches of activations to provision memory for (rounded up)."""
    return math.ceil(timing.inflight_microbatches - 1e-9)
