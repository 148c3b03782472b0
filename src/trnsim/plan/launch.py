"""A planned configuration as something to run: ``trnsim estimate`` arguments and launch settings.

- :func:`estimate_args`: the ``trnsim estimate`` arguments that reproduce a plan's step exactly
  (model, system, ranks and every knob of the cluster plan the search timed).
- :func:`nxdt_yaml`: a YAML fragment in NeuronX Distributed Training's config layout
  (``distributed_strategy``, ``data``, ``model`` sections) for Trainium systems.
- :func:`megatron_flags`: Megatron-LM command-line flags for GPU systems.

The launch settings carry the plan's knobs only; paths, optimizer and model definition stay the
user's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trnsim.cluster.plan import ParallelPlan
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import SystemSpec
from trnsim.plan.candidate import Candidate
from trnsim.plan.choices import LaunchFormat
from trnsim.plan.problem import Problem, TrainingJob
from trnsim.workload.config import ModelConfig
from trnsim.workload.options import Recompute

__all__ = ["LaunchFormat", "add_estimate_args", "candidate_of", "check_launch_family", "estimate_args",
           "launch_settings",
           "megatron_flags", "nxdt_yaml"]


def _flag(name: str, on: bool) -> str:
    return f"--{name}" if on else f"--no-{name}"


def estimate_args(problem: Problem, candidate: Candidate, model: str,
                  catalog: str | None = None) -> list[str]:
    """``trnsim estimate`` arguments giving this plan's step time (the JSON's ``estimate_args``).

    ``model`` is the name or path the user gave; ``catalog`` the user catalog directory, if any.
    """
    plan = problem.parallel_plan(candidate)
    args = ["--model", model, "--system", problem.system.name, "--ranks", str(problem.ranks)]
    system = problem.system
    if system.lnc and system.lnc != system.chip.default_lnc:
        args += ["--lnc", str(system.lnc)]
    if catalog:
        args += ["--catalog", catalog]
    args += [
        "--tp", str(plan.tp), "--pp", str(plan.pp), "--dp", str(plan.dp), "--cp", str(plan.cp),
        "--ep", str(plan.ep), "--zero", str(plan.zero_stage), _flag("fsdp", plan.fsdp),
        "--recompute", str(plan.recompute), "--micro-batch", str(plan.micro_batch),
        "--global-batch", str(plan.global_batch), "--seq-len", str(problem.job.seq_len),
        "--interleave", str(plan.interleave), "--schedule", str(plan.schedule),
        _flag("sequence-parallel", plan.sequence_parallel), _flag("overlap-dp", plan.overlap_dp_comm),
        _flag("overlap-tp", plan.overlap_tp_comm), "--precision", str(problem.job.precision),
        _flag("flash-attention", plan.flash_attention), "--grad-reduce-dtype", str(plan.grad_reduce_dtype),
    ]
    if plan.account_for_embedding_loss:
        args.append("--account-for-embedding-loss")
    return args


def candidate_of(entry: Mapping[str, Any]) -> Candidate:
    """The candidate of a report entry (its ``plan_*`` fields)."""
    return Candidate.from_dict({k.removeprefix("plan_"): v for k, v in entry.items()
                                if k.startswith("plan_") and k != "plan"})


def add_estimate_args(entries: list[dict[str, Any]], model: ModelConfig, systems: Mapping[str, SystemSpec],
                      job: TrainingJob, model_arg: str, catalog: str | None = None) -> None:
    """Give every entry its ``estimate_args`` (entries of systems not in ``systems`` are left)."""
    for entry in entries:
        system = systems.get(str(entry["system"]))
        if system is not None:
            problem = Problem(model, system, int(entry["ranks"]), job)
            entry["estimate_args"] = estimate_args(problem, candidate_of(entry), model_arg, catalog)


_NXDT_ACTIVATIONS = {Recompute.NONE: "null", Recompute.SELECTIVE: "selective", Recompute.FULL: "full"}


def nxdt_yaml(problem: Problem, candidate: Candidate) -> str:
    """The plan in NeuronX Distributed Training's YAML config layout (a fragment to merge)."""
    plan: ParallelPlan = problem.parallel_plan(candidate)
    lines = [
        f"# trnsim plan: {plan.describe()} on {problem.ranks} ranks of {problem.system.name}",
        f"trainer:\n  num_nodes: {problem.nodes}",
        "distributed_strategy:",
        f"  tensor_model_parallel_size: {plan.tp}",
        f"  pipeline_model_parallel_size: {plan.pp}",
        f"  virtual_pipeline_model_parallel_size: {plan.interleave if plan.interleave > 1 else 'null'}",
        f"  context_parallel_size: {plan.cp}",
        f"  expert_model_parallel_size: {plan.ep}",
        f"  zero1: {'true' if plan.effective_zero_stage >= 1 else 'false'}",
        f"  sequence_parallel: {'true' if plan.sequence_parallel else 'false'}",
        "data:",
        f"  micro_batch_size: {plan.micro_batch}",
        f"  global_batch_size: {plan.global_batch}",
        f"  seq_length: {problem.job.seq_len}",
        "model:",
        f"  activations_checkpoint_granularity: {_NXDT_ACTIVATIONS[plan.recompute]}",
    ]
    if plan.effective_zero_stage > 1:
        lines.insert(1, f"# NxDT has ZeRO-1 only: the plan's ZeRO-{plan.effective_zero_stage} "
                        "is not expressible")
    if problem.job.precision == "fp8":
        lines.insert(1, "# the plan trains in FP8: set the precision section for FP8 as your NxDT "
                        "version names it")
    return "\n".join(lines) + "\n"


_MEGATRON_RECOMPUTE = {
    Recompute.NONE: [],
    Recompute.SELECTIVE: ["--recompute-activations"],
    Recompute.FULL: ["--recompute-granularity", "full", "--recompute-method", "uniform",
                     "--recompute-num-layers", "1"],
}


def megatron_flags(problem: Problem, candidate: Candidate) -> str:
    """The plan as Megatron-LM ``pretrain_gpt.py`` flags (one flag and its value per line)."""
    plan = problem.parallel_plan(candidate)
    flags = [
        ["--tensor-model-parallel-size", str(plan.tp)],
        ["--pipeline-model-parallel-size", str(plan.pp)],
        ["--context-parallel-size", str(plan.cp)],
        ["--expert-model-parallel-size", str(plan.ep)],
        ["--micro-batch-size", str(plan.micro_batch)],
        ["--global-batch-size", str(plan.global_batch)],
        ["--seq-length", str(problem.job.seq_len)],
        ["--bf16"] if problem.job.precision == "bf16" else ["--bf16", "--fp8-format", "hybrid"],
    ]
    if plan.account_for_embedding_loss:  # the embedding and the loss each fill a layer's slot
        per_chunk = (problem.model.num_layers + 2) // (plan.pp * plan.interleave)
        flags += [["--num-layers-per-virtual-pipeline-stage", str(per_chunk)],
                  ["--account-for-embedding-in-pipeline-split"], ["--account-for-loss-in-pipeline-split"]]
    elif plan.interleave > 1:
        per_chunk = problem.model.num_layers // (plan.pp * plan.interleave)
        flags.append(["--num-layers-per-virtual-pipeline-stage", str(per_chunk)])
    if plan.sequence_parallel:
        flags.append(["--sequence-parallel"])
    if plan.effective_zero_stage >= 1:
        flags.append(["--use-distributed-optimizer"])
    if plan.overlap_dp_comm:
        flags += [["--overlap-grad-reduce"], ["--overlap-param-gather"]]
    if plan.overlap_tp_comm:
        flags.append(["--tp-comm-overlap"])
    if plan.flash_attention:
        flags.append(["--use-flash-attn"])
    if _MEGATRON_RECOMPUTE.get(plan.recompute):
        flags.append(_MEGATRON_RECOMPUTE[plan.recompute])
    if plan.grad_reduce_dtype == "bf16":
        flags.append(["--grad-reduce-in-bf16"])
    head = (f"# trnsim plan: {plan.describe()} on {problem.ranks} GPUs ({problem.nodes} nodes) of "
            f"{problem.system.name}")
    notes = []
    if plan.effective_zero_stage > 2:
        notes.append("# the plan uses ZeRO-3: Megatron's distributed optimizer shards optimizer state and "
                     "gradients only; --use-torch-fsdp2 shards the parameters too")
    body = " \\\n".join("  " + " ".join(f) for f in flags)
    return "\n".join([head, *notes, "torchrun ... pretrain_gpt.py \\", body]) + "\n"


_FAMILY_OF_FORMAT = {LaunchFormat.NXDT: "trainium", LaunchFormat.MEGATRON: "gpu"}


def check_launch_family(kind: LaunchFormat, system: SystemSpec) -> None:
    """One clear error when ``kind``'s settings do not fit the system's chip family."""
    family = str(system.chip.family)
    if family != _FAMILY_OF_FORMAT[kind]:
        other = next((k.value for k, f in _FAMILY_OF_FORMAT.items() if f == family), None)
        hint = f"use --launch {other}" if other else "trnsim has no launch format for it"
        raise ConfigError(f"--launch {kind.value} is for {_FAMILY_OF_FORMAT[kind]} systems; "
                          f"{system.name} is a {family} system: {hint}")


def launch_settings(kind: LaunchFormat, problem: Problem, candidate: Candidate) -> str:
    """The plan as ``kind``'s launch settings; a clear error when the system is of another family."""
    check_launch_family(kind, problem.system)
    return nxdt_yaml(problem, candidate) if kind is LaunchFormat.NXDT else megatron_flags(problem, candidate)
