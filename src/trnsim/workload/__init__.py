"""trnsim.workload: a transformer's training step on one rank, in FLOPs, bytes, memory and time.

``load_model`` reads a preset or a Hugging Face ``config.json``; ``build_step`` turns a model, a
shard and a micro-batch into the ops of one forward+backward pass (and the optimizer);
``estimate_memory`` gives the memory per rank; ``model_flops``/``hardware_flops`` the MFU/HFU
numerators; ``estimate_device_step`` times it all on a chip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trnsim.lazy import lazy_exports

if TYPE_CHECKING:
    from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
    from trnsim.workload.config import AttentionKind, MlpKind, ModelConfig, NormKind, PositionKind
    from trnsim.workload.estimate import DeviceEstimate, estimate_device_step
    from trnsim.workload.flops import forward_flops_per_token, hardware_flops, model_flops
    from trnsim.workload.graph import ParamsOnRank, SavedTensor, StepGraph, build_optimizer_ops, build_step
    from trnsim.workload.hf_config import SUPPORTED_MODEL_TYPES
    from trnsim.workload.memory import MemoryBreakdown, estimate_memory
    from trnsim.workload.models import list_models, load_model
    from trnsim.workload.options import Precision, Recompute
    from trnsim.workload.shard import Shard

# Names load on first use (PEP 562), so importing one light submodule (e.g. the option enums for
# the CLI) does not pull in numpy and the whole step model.
_SOURCE = {
    "Dtype": "trnsim.devicetime.ops",
    "Op": "trnsim.devicetime.ops",
    "OpClass": "trnsim.devicetime.ops",
    "Phase": "trnsim.devicetime.ops",
    "AttentionKind": "trnsim.workload.config",
    "MlpKind": "trnsim.workload.config",
    "ModelConfig": "trnsim.workload.config",
    "NormKind": "trnsim.workload.config",
    "PositionKind": "trnsim.workload.config",
    "DeviceEstimate": "trnsim.workload.estimate",
    "estimate_device_step": "trnsim.workload.estimate",
    "forward_flops_per_token": "trnsim.workload.flops",
    "hardware_flops": "trnsim.workload.flops",
    "model_flops": "trnsim.workload.flops",
    "ParamsOnRank": "trnsim.workload.graph",
    "SavedTensor": "trnsim.workload.graph",
    "StepGraph": "trnsim.workload.graph",
    "build_optimizer_ops": "trnsim.workload.graph",
    "build_step": "trnsim.workload.graph",
    "SUPPORTED_MODEL_TYPES": "trnsim.workload.hf_config",
    "MemoryBreakdown": "trnsim.workload.memory",
    "estimate_memory": "trnsim.workload.memory",
    "list_models": "trnsim.workload.models",
    "load_model": "trnsim.workload.models",
    "Precision": "trnsim.workload.options",
    "Recompute": "trnsim.workload.options",
    "Shard": "trnsim.workload.shard",
}

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
]


__getattr__ = lazy_exports(__name__, _SOURCE, globals())
