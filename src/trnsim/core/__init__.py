"""trnsim.core: the event-driven NeuronCore performance model.

From the instruction trace of a kernel launch (:class:`trnsim.nki.trace.KernelTrace`) it predicts
the latency on a target chip, the busy time of every engine and DMA queue, what bounds the kernel
and the full timeline (:class:`TimelineResult`). Importing the package registers it as the
latency estimator of ``nki.benchmark`` / ``nki.profile`` when the kernel layer offers the hook.
"""

from __future__ import annotations

from trnsim.core.api import predict_latency_ns, register_with_kernel_layer
from trnsim.core.chrome_trace import chrome_trace
from trnsim.core.errors import TimingModelError
from trnsim.core.result import Bound, PathCategory, ScheduledInstruction, StartReason, TimelineResult
from trnsim.core.simulate import SimulationOptions, simulate_trace
from trnsim.core.summary import summarize
from trnsim.hardware.neuroncore_timing import timing_data_digest

#: Changes when the model's rules (bump the first part) or its shipped timing data change; the
#: device-time tables use it as a cache key.
TIMING_MODEL_VERSION = f"2-{timing_data_digest()}"

__all__ = [
    "TIMING_MODEL_VERSION",
    "Bound",
    "PathCategory",
    "ScheduledInstruction",
    "SimulationOptions",
    "StartReason",
    "TimelineResult",
    "TimingModelError",
    "chrome_trace",
    "predict_latency_ns",
    "simulate_trace",
    "summarize",
]

register_with_kernel_layer()
