"""A small analytic evaluator for testing the planner without the cluster model.

Its memory never grows with a higher ZeRO stage, a smaller micro-batch or more recomputation (the
property the search's group pruning relies on); its step time trades compute efficiency, tensor-
and data-parallel communication and the pipeline bubble against one another so that different
problems have different winners.
"""

from __future__ import annotations

from dataclasses import dataclass

from trnsim.plan.candidate import Candidate, Recompute
from trnsim.plan.evaluator import MEMORY_REASON, Infeasible, StepEstimate
from trnsim.plan.problem import ModelShape, Problem, SystemShape, TrainingJob

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


@dataclass(frozen=True)
class ToyEvaluator:
    """Analytic step time and memory; counts are for tests of the pruning."""

    capacity_bytes: float = 16e9
    peak_flops: float = 100e12
    link_bytes_per_s: float = 100e9
    dp_link_bytes_per_s: float = 25e9

    def peak(self, problem: Problem) -> float:
        """Peak FLOP/s per rank; a toy system may carry a speed multiplier as its ``config``."""
        speed = problem.system.config if isinstance(problem.system.config, int | float) else 1.0
        return self.peak_flops * speed

    def params(self, model: ModelShape) -> float:
        return 12.0 * model.num_layers * model.hidden_size**2

    def memory_bytes(self, problem: Problem, c: Candidate) -> float:
        p = self.params(problem.model) / (c.tp * c.pp)
        weights, grads, optimizer = 2 * p, 2 * p, 12 * p
        if c.zero_stage >= 1:
            optimizer /= c.dp
        if c.zero_stage >= 2:
            grads /= c.dp
        if c.zero_stage >= 3:
            weights /= c.dp
        per_layer = (
            problem.job.seq_len / c.cp * c.micro_batch * problem.model.hidden_size
            * ACTIVATION_BYTES_PER_TOKEN_HIDDEN[c.recompute] / c.tp
        )
        # 1F1B keeps up to pp micro-batches in flight on the first stage.
        activations = per_layer * problem.model.num_layers / c.pp * c.pp
        return weights + grads + optimizer + activations

    def check(self, problem: Problem, candidate: Candidate) -> Infeasible | None:
        memory = self.memory_bytes(problem, candidate)
        if memory > self.capacity_bytes:
            return Infeasible(MEMORY_REASON, f"{memory:.3g} B > {self.capacity_bytes:.3g} B")
        return None

    def evaluate(self, problem: Problem, c: Candidate) -> StepEstimate | Infeasible:
        verdict = self.check(problem, c)
        if verdict is not None:
            return verdict
        job, model = problem.job, problem.model
        tokens = job.tokens_per_step
        flops = 6.0 * self.params(model) * tokens
        efficiency = c.micro_batch / (c.micro_batch + 1.0)  # small micro-batches use the array poorly
        peak = self.peak(problem)
        compute = flops * RECOMPUTE_FLOP_FACTOR[c.recompute] / (problem.ranks * peak * efficiency)
        micro_batches = job.global_batch // (c.dp * c.micro_batch)
        tp_bytes = 4.0 * tokens / (c.dp * c.cp) * model.hidden_size * 2 * model.num_layers / c.pp
        tp_comm = (c.tp - 1) / c.tp * tp_bytes / self.link_bytes_per_s
        cp_comm = (c.cp - 1) / c.cp * tp_bytes / (2 * self.link_bytes_per_s)
        grad_bytes = 2.0 * self.params(model) / (c.tp * c.pp)
        zero3_factor = 1.5 if c.zero_stage == 3 else 1.0  # weights gathered again in the backward pass
        dp_comm = 2 * (c.dp - 1) / c.dp * grad_bytes / self.dp_link_bytes_per_s * zero3_factor
        bubble = (c.pp - 1) / (micro_batches * c.interleave) * (compute + tp_comm)
        breakdown = {"compute": compute, "tp_comm": tp_comm, "cp_comm": cp_comm, "dp_comm": dp_comm,
                     "pipeline_bubble": bubble}
        step = sum(breakdown.values())
        return StepEstimate(
            step_time_s=step,
            tokens_per_s=tokens / step,
            mfu=flops / (step * problem.ranks * peak),
            memory_per_rank_bytes=self.memory_bytes(problem, c),
            breakdown_s=breakdown,
            memory_capacity_bytes=self.capacity_bytes,
        )


def toy_model(layers: int = 24, heads: int = 16, kv_heads: int = 8, hidden: int = 2048) -> ModelShape:
    return ModelShape("toy", num_layers=layers, num_heads=heads, num_kv_heads=kv_heads, hidden_size=hidden)


def toy_system(
    chips_per_node: int = 8, price: float | None = 10.0, power_w: float | None = 500.0
) -> SystemShape:
    return SystemShape("toy-system", chips_per_node=chips_per_node, price_usd_per_node_hour=price,
                       power_w_per_chip=power_w)


def toy_problem(ranks: int = 32, tokens: float = 1e9, global_batch: int = 64, seq_len: int = 2048,
                **model_kwargs: int) -> Problem:
    job = TrainingJob(tokens=tokens, seq_len=seq_len, global_batch=global_batch)
    return Problem(toy_model(**model_kwargs), toy_system(), ranks, job)
