"""The real evaluator: the cluster layer's ``check_plan`` and ``estimate_step``.

A :class:`~trnsim.plan.candidate.Candidate` becomes the cluster's ``ParallelPlan`` (the
interleaved schedule when interleave > 1, sequence parallelism whenever TP > 1, the job's global
batch); infeasible plans come back as :class:`~trnsim.plan.evaluator.Infeasible` with the
cluster's typed reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from trnsim.cluster.goodput import estimate_goodput
from trnsim.cluster.pipeline import Schedule
from trnsim.cluster.plan import InfeasiblePlanError, ParallelPlan, make_plan
from trnsim.cluster.topology import topology_for_system
from trnsim.errors import ConfigError
from trnsim.plan.candidate import Candidate
from trnsim.plan.errors import PlanError
from trnsim.plan.evaluator import Infeasible, StepEstimate
from trnsim.plan.problem import Problem
from trnsim.workload.options import Precision

#: Bytes per parameter in a checkpoint: BF16 weights (2) plus FP32 master weights and Adam's two
#: moments (12), Megatron-LM's mixed-precision state. Used only for the goodput model's write time.
CHECKPOINT_BYTES_PER_PARAM = 2 + 12

#: Where the cluster layer defines its public functions (the package first, then its module).
_CLUSTER_MODULES = ("trnsim.cluster", "trnsim.cluster.step")


def _cluster_function(name: str) -> Any:
    problems = []
    for module_name in _CLUSTER_MODULES:
        try:
            function = getattr(importlib.import_module(module_name), name, None)
        except ImportError as error:
            problems.append(f"{module_name} does not import ({error})")
            continue
        if function is not None:
            return function
    detail = f": {'; '.join(problems)}" if problems else ""
    raise PlanError(f"the cluster model provides no {name}() in this build{detail}; the planner needs it")


def to_parallel_plan(problem: Problem, c: Candidate) -> ParallelPlan:
    """The cluster's plan for a candidate."""
    return make_plan(
        tp=c.tp, pp=c.pp, dp=c.dp, cp=c.cp, ep=c.ep, zero_stage=c.zero_stage, micro_batch=c.micro_batch,
        global_batch=problem.job.global_batch, interleave=c.interleave,
        schedule=Schedule.INTERLEAVED if c.interleave > 1 else Schedule.ONE_F_ONE_B,
        recompute=c.recompute, sequence_parallel=problem.job.sequence_parallel and c.tp > 1,
    )


class ClusterEvaluator:
    """Evaluates candidates with the cluster model (picklable, so it runs on Ray workers)."""

    def __init__(self, topology_overrides: Mapping[str, float] | None = None) -> None:
        """``topology_overrides``: dotted keys of the system's topology file (a what-if's links)."""
        self._check = _cluster_function("check_plan")
        self._estimate = _cluster_function("estimate_step")
        self._topology_overrides = dict(topology_overrides or {})

    def __getstate__(self) -> dict[str, Any]:
        return {"topology_overrides": self._topology_overrides}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def goodput(self, problem: Problem, step_time_s: float) -> float:
        """The cluster's goodput model at this scale: failures, checkpoints and restarts.

        Failure rate, restart time and checkpoint write bandwidth per node come from the system's
        topology file (its ``reliability`` table); the checkpoint holds the full training state.
        """
        reliability = topology_for_system(problem.system.config).reliability
        result = estimate_goodput(
            problem.chips, step_time_s, problem.model.params * CHECKPOINT_BYTES_PER_PARAM,
            failure_rate_per_chip_hour=reliability.failure_rate_per_chip_hour,
            checkpoint_write_bytes_per_s=reliability.checkpoint_write_bytes_per_s_per_node * problem.nodes,
            restart_s=reliability.restart_s,
        )
        return result.goodput

    def _topology(self, problem: Problem) -> dict[str, Any]:
        """The ``topology=`` argument of ``estimate_step`` when a what-if changes the links."""
        if not self._topology_overrides:
            return {}
        return {"topology": topology_for_system(problem.system.config, overrides=self._topology_overrides)}

    def check(self, problem: Problem, candidate: Candidate) -> Infeasible | None:
        """The cluster's cheap check (divisibility, schedule, memory)."""
        try:
            plan = to_parallel_plan(problem, candidate)
            self._check(problem.model.config, problem.system.config, problem.ranks, plan, problem.job.seq_len,
                        Precision(problem.job.precision))
        except InfeasiblePlanError as error:
            return Infeasible(str(error.reason), str(error))
        except ConfigError as error:
            return Infeasible("invalid-plan", str(error))
        return None

    def evaluate(self, problem: Problem, candidate: Candidate) -> StepEstimate | Infeasible:
        """The cluster's step estimate; a plan that does not fit comes back as infeasible."""
        try:
            plan = to_parallel_plan(problem, candidate)
            result = self._estimate(
                problem.model.config, problem.system.config, problem.ranks, plan, problem.job.seq_len,
                Precision(problem.job.precision), **self._topology(problem),
            )
        except InfeasiblePlanError as error:
            return Infeasible(str(error.reason), str(error))
        if not getattr(result, "fits", True):
            return Infeasible("memory", f"{candidate.describe()} does not fit in memory")
        goodput = getattr(result, "goodput", None)
        if goodput is None:
            goodput = self.goodput(problem, float(result.step_time_s))
        return StepEstimate(
            step_time_s=float(result.step_time_s),
            tokens_per_s=float(result.tokens_per_s),
            mfu=float(result.mfu),
            memory_per_rank_bytes=float(result.memory_per_rank_bytes),
            breakdown_s={str(k): float(v) for k, v in dict(result.breakdown).items()},
            goodput=float(goodput),
            memory_capacity_bytes=getattr(result, "memory_capacity_bytes", None),
        )
