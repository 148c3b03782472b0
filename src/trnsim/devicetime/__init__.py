"""trnsim.devicetime: how long one operation takes on one rank of a chip.

Trainium: the project's kernels run through the NeuronCore model (exact shapes, cached on disk),
tables of such simulations interpolated, or the roofline. GPUs and TPUs: an analytic model with
size-dependent efficiency curves from data files. See :mod:`trnsim.devicetime.timing`.
"""

from trnsim.devicetime.efficiency import EfficiencyCurves, load_efficiency
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase, executed_attention_flops
from trnsim.devicetime.rank import RankView
from trnsim.devicetime.roofline import roofline_time_s
from trnsim.devicetime.timing import DeviceStepTime, Method, OpTime, time_op, time_op_detailed, time_step

__all__ = [
    "DeviceStepTime",
    "Dtype",
    "EfficiencyCurves",
    "Method",
    "Op",
    "OpClass",
    "OpTime",
    "Phase",
    "RankView",
    "executed_attention_flops",
    "load_efficiency",
    "roofline_time_s",
    "time_op",
    "time_op_detailed",
    "time_step",
]
