"""trnsim.workload: a transformer's training step on one rank, in FLOPs, bytes, memory and time.

``load_model`` reads a preset or a Hugging Face ``config.json``; ``build_step`` turns a model, a
shard and a micro-batch into the ops of one forward+backward pass (and the optimizer);
``estimate_memory`` gives the memory per rank; ``model_flops``/``hardware_flops`` the MFU/HFU
numerators; ``estimate_device_step`` times it all on a chip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

    from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
    from trnsim.workload.config import AttentionKind, MlpKind, ModelConfig, NormKind, PositionKind
    from trnsim.workload.estimate import DeviceEstimate, estimate_device_step
    from trnsim.workload.flops import forward_flops_per_token, hardware_flops, model_flops, model_flops_causal
    from trnsim.workload.graph import ParamsOnRank, SavedTensor, StepGraph, build_optimizer_ops, build_step
    from trnsim.workload.hf_config import SUPPORTED_MODEL_TYPES
    from trnsim.workload.memory import MemoryBreakdown, estimate_memory
    from trnsim.workload.models import list_models, load_model
    from trnsim.workload.options import Precision, Recompute
    from trnsim.workload.shard import Shard

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "AttentionKind",
    "DeviceEstimate",
    "Dtype",
    "MemoryBreakdown",
    "MlpKind",
    "ModelConfig",
    "NormKind",
    "Op",
    "OpClass",
    "ParamsOnRank",
    "Phase",
    "PositionKind",
    "Precision",
    "Recompute",
    "SavedTensor",
    "Shard",
    "StepGraph",
    "build_optimizer_ops",
    "build_step",
    "estimate_device_step",
    "estimate_memory",
    "forward_flops_per_token",
    "hardware_flops",
    "list_models",
    "load_model",
    "model_flops",
    "model_flops_causal",
]


def __getattr__(name: str) -> object:
    """An exported name, imported from its submodule on first use (PEP 562).

    Importing one light submodule (e.g. the option enums for the CLI) then does not pull in
    numpy and the whole model; the imports are ordinary ones, so the layering test sees them.
    """
    module: ModuleType
    if name in ("Dtype", "Op", "OpClass", "Phase"):
        import trnsim.devicetime.ops as module
    elif name in ("AttentionKind", "MlpKind", "ModelConfig", "NormKind", "PositionKind"):
        import trnsim.workload.config as module
    elif name in ("DeviceEstimate", "estimate_device_step"):
        import trnsim.workload.estimate as module
    elif name in ("forward_flops_per_token", "hardware_flops", "model_flops", "model_flops_causal"):
        import trnsim.workload.flops as module
    elif name in ("ParamsOnRank", "SavedTensor", "StepGraph", "build_optimizer_ops", "build_step"):
        import trnsim.workload.graph as module
    elif name in ("SUPPORTED_MODEL_TYPES",):
        import trnsim.workload.hf_config as module
    elif name in ("MemoryBreakdown", "estimate_memory"):
        import trnsim.workload.memory as module
    elif name in ("list_models", "load_model"):
        import trnsim.workload.models as module
    elif name in ("Precision", "Recompute"):
        import trnsim.workload.options as module
    elif name in ("Shard",):
        import trnsim.workload.shard as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value  # later lookups do not come back here
    return value
