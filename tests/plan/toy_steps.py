"""A small analytic step model for testing the planner without the cluster model.

It has the cluster layer's two functions (``check_plan`` and ``estimate_step``, the
:class:`~trnsim.plan.search.StepModel` protocol) on the layers' own types. Its memory never grows
with a higher ZeRO stage, a smaller micro-batch or more recomputation (the property the search's
group pruning relies on); its step time trades compute efficiency, tensor- and data-parallel
communication and the pipeline bubble against one another so that different problems have
different winners.
"""

from __future__ import annotations

from dataclasses import dataclass

from trnsim.cluster.plan import InfeasiblePlanError, InfeasibleReason, ParallelPlan
from trnsim.cluster.step import StepResult
from trnsim.cluster.topology import TopologySpec
from trnsim.hardware.catalog import ChipFamily, ChipSpec, SystemSpec, Vendor
from trnsim.plan.candidate import Candidate, Recompute
from trnsim.plan.problem import Problem, TrainingJob
from trnsim.workload.config import ModelConfig
from trnsim.workload.memory import MemoryBreakdown
from trnsim.workload.options import Precision

ACTIVATION_BYTES_PER_TOKEN_HIDDEN = {
    Recompute.NONE: 34.0,
    Recompute.SELECTIVE: 10.0,
    Recompute.FULL: 2.0,
}
RECOMPUTE_FLOP_FACTOR = {
    Recompute.NONE: 1.0,
    Recompute.SELECTIVE: 1.05,
    Recompute.FULL: 4 / 3,
}
#: The BF16 peak of a toy chip of speed 1 (a toy system's chip carries ``speed`` times this).
TOY_PEAK_FLOPS = 100e12


@dataclass(frozen=True)
class ToyStepModel:
    """Analytic step time and memory; counts are for tests of the pruning."""

    capacity_bytes: float = 16e9
    peak_flops: float = TOY_PEAK_FLOPS
    link_bytes_per_s: float = 100e9
    dp_link_bytes_per_s: float = 25e9

    def peak(self, system: SystemSpec) -> float:
        """Peak FLOP/s per rank: ``peak_flops`` times the toy chip's speed."""
        return self.peak_flops * system.chip.peak_flops_bf16 / TOY_PEAK_FLOPS

    def params(self, model: ModelConfig) -> float:
        return 12.0 * model.num_layers * model.hidden_size**2

    def memory(self, model: ModelConfig, plan: ParallelPlan, seq_len: int) -> MemoryBreakdown:
        p = self.params(model) / (plan.tp * plan.pp)
        weights, grads, optimizer = 2 * p, 2 * p, 12 * p
        if plan.zero_stage >= 1:
            optimizer /= plan.dp
        if plan.zero_stage >= 2:
            grads /= plan.dp
        if plan.zero_stage >= 3:
            weights /= plan.dp
        per_layer = (
            seq_len / plan.cp * plan.micro_batch * model.hidden_size
            * ACTIVATION_BYTES_PER_TOKEN_HIDDEN[plan.recompute] / plan.tp
        )
        # 1F1B keeps up to pp micro-batches in flight on the first stage.
        activations = per_layer * model.num_layers / plan.pp * plan.pp
        return MemoryBreakdown(weights, grads, optimizer, activations, 0.0)

    def check_plan(self, model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan,
                   seq_len: int, precision: Precision = Precision.BF16) -> None:
        memory = self.memory(model, plan, seq_len).total_bytes
        if memory > self.capacity_bytes:
            raise InfeasiblePlanError(InfeasibleReason.MEMORY,
                                      f"{memory:.3g} B > {self.capacity_bytes:.3g} B")

    def estimate_step(self, model: ModelConfig, system: SystemSpec, ranks: int, plan: ParallelPlan,
                      seq_len: int, precision: Precision = Precision.BF16,
                      topology: TopologySpec | None = None) -> StepResult:
        tokens = plan.global_batch * seq_len
        flops = 6.0 * self.params(model) * tokens
        efficiency = plan.micro_batch / (plan.micro_batch + 1.0)  # small micro-batches use the array poorly
        peak = self.peak(system)
        compute = flops * RECOMPUTE_FLOP_FACTOR[plan.recompute] / (ranks * peak * efficiency)
        micro_batches = plan.global_batch // (plan.dp * plan.micro_batch)
        tp_bytes = 4.0 * tokens / (plan.dp * plan.cp) * model.hidden_size * 2 * model.num_layers / plan.pp
        tp_comm = (plan.tp - 1) / plan.tp * tp_bytes / self.link_bytes_per_s
        cp_comm = (plan.cp - 1) / plan.cp * tp_bytes / (2 * self.link_bytes_per_s)
        grad_bytes = 2.0 * self.params(model) / (plan.tp * plan.pp)
        zero3_factor = 1.5 if plan.zero_stage == 3 else 1.0  # weights gathered again in the backward pass
        dp_comm = 2 * (plan.dp - 1) / plan.dp * grad_bytes / self.dp_link_bytes_per_s * zero3_factor
        bubble = (plan.pp - 1) / (micro_batches * plan.interleave) * (compute + tp_comm)
        breakdown = {"compute": compute, "tp_comm": tp_comm, "cp_comm": cp_comm, "dp_comm": dp_comm,
                     "pipeline_bubble": bubble}
        step = sum(breakdown.values())
        memory = self.memory(model, plan, seq_len)
        return StepResult(
            model=model.name, system=system.name, ranks=ranks, chips=ranks, plan=plan, seq_len=seq_len,
            precision=precision, step_time_s=step, breakdown=breakdown, tokens_per_s=tokens / step,
            mfu=flops / (step * ranks * peak), hfu=flops / (step * ranks * peak),
            mfu_causal=flops / (step * ranks * peak),
            memory_per_rank_bytes=memory.total_bytes, memory=memory,
            memory_capacity_bytes=self.capacity_bytes, fits=memory.fits(self.capacity_bytes),
            microbatches=micro_batches, bubble_fraction=bubble / step, goodput=1.0,
        )


def toy_model(layers: int = 24, heads: int = 16, kv_heads: int = 8, hidden: int = 2048) -> ModelConfig:
    return ModelConfig(name="toy", family="toy", hidden_size=hidden, num_layers=layers, num_heads=heads,
                       num_kv_heads=kv_heads, head_dim=hidden // heads, ffn_hidden_size=4 * hidden,
                       vocab_size=32000, max_seq_len=8192)


def toy_system(
    name: str = "toy-system", chips_per_node: int = 8, price: float | None = 10.0,
    power_w: float | None = 500.0, chip: str = "toy", speed: float = 1.0,
) -> SystemSpec:
    """A system of one-rank toy chips ``speed`` times as fast as :data:`TOY_PEAK_FLOPS`, no sources."""
    spec = ChipSpec(name=chip, display_name=chip, vendor=Vendor.OTHER, family=ChipFamily.GPU,
                    peak_flops_bf16=speed * TOY_PEAK_FLOPS, hbm_bytes=16e9, hbm_bw_bytes_per_s=1e12,
                    power_w=power_w, sources={})
    return SystemSpec(name=name, display_name=name, chip=spec, chips_per_node=chips_per_node,
                      ranks_per_chip=1, price_usd_per_node_hour=price, sources={})


def toy_problem(ranks: int = 32, tokens: float = 1e9, global_batch: int = 64, seq_len: int = 2048,
                **model_kwargs: int) -> Problem:
    job = TrainingJob(tokens=tokens, seq_len=seq_len, global_batch=global_batch)
    return Problem(toy_model(**model_kwargs), toy_system(), ranks, job)


def toy_estimate(steps: ToyStepModel, problem: Problem, candidate: Candidate) -> StepResult | None:
    """The step model's estimate of a candidate (as the search times it), None when it does not fit."""
    plan = problem.parallel_plan(candidate)
    result = steps.estimate_step(problem.model, problem.system, problem.ranks, plan, problem.job.seq_len,
                                 problem.job.precision)
    return result if result.fits else None
