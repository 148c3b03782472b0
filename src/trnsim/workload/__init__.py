"""trnsim.workload: a transformer's training step on one rank, in FLOPs, bytes, memory and time.

``load_model`` reads a preset or a Hugging Face ``config.json``; ``build_step`` turns a model, a
shard and a micro-batch into the ops of one forward+backward pass (and the optimizer);
``estimate_memory`` gives the memory per rank; ``model_flops``/``hardware_flops`` the MFU/HFU
numerators; ``estimate_device_step`` times it all on a chip.
"""

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
