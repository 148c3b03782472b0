"""The one-device estimate: one rank's training step, in time, MFU/HFU and memory.

:func:`estimate_device_step` builds the step graph for a model and a shard, times it on a chip
(:mod:`trnsim.devicetime`), and adds the memory breakdown. Collectives are not included: this is
the compute a rank does between them; the cluster layer adds communication, pipeline bubbles and
overlap.

MFU and HFU are against the chip's dense peak per rank at the GEMM precision (the FP8 peak for FP8
runs on chips with FP8 units, else BF16; ``mfu_vs_bf16`` gives the BF16-peak figure), with model
FLOPs counted as in Megatron-LM (:mod:`trnsim.workload.flops`) and hardware FLOPs adding what
recomputation reruns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from trnsim.devicetime.ops import OpClass, Phase
from trnsim.devicetime.optimizer_passes import optimizer_pass_ops
from trnsim.devicetime.param_passes import load_param_passes
from trnsim.devicetime.rank import RankView
from trnsim.devicetime.timing import DeviceStepTime, Method, time_step
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import ChipSpec, SystemSpec, load_chip, load_system
from trnsim.workload.config import ModelConfig
from trnsim.workload.graph import StepGraph, build_optimizer_ops, build_step
from trnsim.workload.memory import MemoryBreakdown, estimate_memory
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard

__all__ = ["DeviceEstimate", "estimate_device_step"]

_MODEL_CLASSES = (OpClass.MATMUL, OpClass.ATTENTION, OpClass.ROUTER)


@dataclass(frozen=True)
class DeviceEstimate:
    """One rank's step: time by op class, utilisation, memory. ``to_dict()`` for JSON."""

    model: ModelConfig
    device: str
    chip: ChipSpec
    ranks_per_chip: int
    shard: Shard
    micro_batch: int
    seq_len: int
    num_microbatches: int
    precision: Precision
    recompute: Recompute
    graph: StepGraph
    time: DeviceStepTime
    memory: MemoryBreakdown
    hbm_bytes_per_rank: float
    peak_flops_per_rank: float

    @property
    def step_s(self) -> float:
        """num_microbatches forward+backward passes and one optimizer step."""
        return self.num_microbatches * self.time.compute_s + self.time.optimizer_s

    @property
    def tokens_per_step(self) -> int:
        """Tokens this rank's model replica processes per step (its share of the sequence)."""
        return self.num_microbatches * self.micro_batch * self.seq_len // self.shard.cp

    def _flops(self, phases: tuple[Phase, ...]) -> float:
        return self.num_microbatches * sum(
            op.total_flops for op in self.graph.ops if op.op_class in _MODEL_CLASSES and op.phase in phases)

    @property
    def model_flops(self) -> float:
        return self._flops((Phase.FWD, Phase.BWD))

    @property
    def hardware_flops(self) -> float:
        return self._flops((Phase.FWD, Phase.BWD, Phase.RECOMPUTE))

    @property
    def mfu(self) -> float:
        return self.model_flops / (self.step_s * self.peak_flops_per_rank)

    @property
    def hfu(self) -> float:
        return self.hardware_flops / (self.step_s * self.peak_flops_per_rank)

    @property
    def mfu_vs_bf16(self) -> float:
        """MFU against the dense BF16 peak (above 1 is possible for FP8 runs)."""
        return self.model_flops / (self.step_s * self.chip.peak_flops_bf16 / self.ranks_per_chip)

    @property
    def fits(self) -> bool:
        return self.memory.fits(self.hbm_bytes_per_rank)

    def memory_verdict(self) -> str:
        return self.memory.explain(self.hbm_bytes_per_rank, self.recompute)

    def by_class_s(self) -> dict[str, float]:
        """Seconds per op class over the whole step (micro-batches and optimizer)."""
        out: dict[str, float] = {}
        for t in self.time.op_times:
            scale = 1 if t.op.phase is Phase.OPTIMIZER else self.num_microbatches
            out[t.op.op_class.value] = out.get(t.op.op_class.value, 0.0) + scale * t.seconds
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def fusion_by_class_s(self) -> dict[str, tuple[float, float]]:
        """Per op class over the step: (seconds saved by compiler fusion, hidden under TensorE)."""
        m = self.num_microbatches
        return {cls.value: (m * fused, m * hidden) for cls, (fused, hidden) in self.time.fusion_s.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.name, "device": self.device, "chip": self.chip.name,
            "ranks_per_chip": self.ranks_per_chip,
            "shard": {"tp": self.shard.tp, "sequence_parallel": self.shard.sequence_parallel,
                      "cp": self.shard.cp, "ep": self.shard.ep, "layers": self.graph.dense_layers
                      + self.graph.moe_layers, "first_layer": self.shard.first_layer,
                      "has_embedding": self.shard.has_embedding, "has_lm_head": self.shard.has_lm_head},
            "micro_batch": self.micro_batch, "seq_len": self.seq_len,
            "num_microbatches": self.num_microbatches, "precision": self.precision.value,
            "recompute": self.recompute.value, "step_s": self.step_s,
            "tokens_per_step": self.tokens_per_step, "model_flops": self.model_flops,
            "hardware_flops": self.hardware_flops, "mfu": self.mfu, "hfu": self.hfu,
            "mfu_vs_bf16": self.mfu_vs_bf16, "peak_flops_per_rank": self.peak_flops_per_rank,
            "by_class_s": self.by_class_s(), "time": self.time.to_dict(),
            "memory": self.memory.to_dict(), "hbm_bytes_per_rank": self.hbm_bytes_per_rank,
            "fits": self.fits, "memory_verdict": self.memory_verdict(),
            "model_notes": list(self.model.notes),
        }

    def __rich__(self) -> Any:
        from trnsim.workload.render import render_device_estimate

        return render_device_estimate(self)


def _resolve(system_or_chip: str | ChipSpec | SystemSpec, lnc: int | None) -> tuple[str, ChipSpec, int]:
    if isinstance(system_or_chip, SystemSpec):
        system = system_or_chip if lnc is None else load_system(system_or_chip.name, lnc=lnc)
        return system.name, system.chip, system.ranks_per_chip
    if isinstance(system_or_chip, ChipSpec):
        return system_or_chip.name, system_or_chip, system_or_chip.ranks_per_chip(lnc)
    try:
        system = load_system(system_or_chip, lnc=lnc)
        return system.name, system.chip, system.ranks_per_chip
    except ConfigError:
        chip = load_chip(system_or_chip)
        return chip.name, chip, chip.ranks_per_chip(lnc)


def estimate_device_step(
    model: ModelConfig,
    system_or_chip: str | ChipSpec | SystemSpec,
    micro_batch: int,
    seq_len: int,
    precision: Precision = Precision.BF16,
    recompute: Recompute = Recompute.NONE,
    shard: Shard | None = None,
    num_microbatches: int = 1,
    dp: int = 1,
    zero_stage: int = 0,
    inflight_microbatches: int = 1,
    method: Method | str = Method.AUTO,
    flash_attention: bool = True,
    lnc: int | None = None,
) -> DeviceEstimate:
    """Time, MFU/HFU and memory of one rank's training step on a system or chip.

    ``shard`` defaults to the whole model on one rank. ``dp``/``zero_stage`` only change the
    memory (and the optimizer's share of parameters); data-parallel communication is the cluster
    layer's.
    """
    if num_microbatches < 1:
        raise ConfigError(f"num_microbatches must be at least 1, got {num_microbatches}")
    shard = shard or Shard()
    name, chip, ranks_per_chip = _resolve(system_or_chip, lnc)
    graph = build_step(model, shard, micro_batch, seq_len, precision, recompute, flash_attention)
    expert_dp = max(1, dp * shard.cp // shard.ep)
    shards, expert_shards = (dp, expert_dp) if zero_stage >= 1 else (1, 1)
    optimizer_ops = build_optimizer_ops(graph.params, shards, expert_shards)
    # The framework's optimizer passes beyond the update (GPU curves' [optimizer]), as the cluster's step.
    updated = math.ceil(graph.params.dense / shards) + math.ceil(graph.params.expert / expert_shards)
    held = updated if zero_stage >= 2 else graph.params.dense + graph.params.expert
    optimizer_ops = (*optimizer_ops, *optimizer_pass_ops(chip, held, updated))
    times = time_step(graph, chip, method, ranks_per_chip, optimizer_ops=optimizer_ops)
    memory = estimate_memory(model, shard, dp, zero_stage, micro_batch, seq_len, precision, recompute,
                             inflight_microbatches, flash_attention, param_passes=load_param_passes(chip))
    rank = RankView(chip, ranks_per_chip)
    return DeviceEstimate(
        model=model, device=name, chip=chip, ranks_per_chip=ranks_per_chip, shard=shard,
        micro_batch=micro_batch, seq_len=seq_len, num_microbatches=num_microbatches,
        precision=precision, recompute=recompute, graph=graph, time=times, memory=memory,
        hbm_bytes_per_rank=rank.hbm_bytes,
        peak_flops_per_rank=chip.peak_flops("fp8" if precision is Precision.FP8 else "bf16") / ranks_per_chip,
    )
