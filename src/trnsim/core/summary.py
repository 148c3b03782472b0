"""A JSON-ready summary of a predicted launch (what ``trnsim kernel profile --json`` writes)."""

from __future__ import annotations

from typing import Any

from trnsim.core.errors import wrong_argument
from trnsim.core.result import TimelineResult

__all__ = ["summarize"]


def summarize(result: TimelineResult) -> dict[str, Any]:
    """Latency, throughput, utilisation, busy fractions and bound of one launch."""
    if not isinstance(result, TimelineResult):
        raise wrong_argument("summarize", "result", "a TimelineResult (simulate_trace)", result)
    return {
        "kernel": result.kernel,
        "target": result.target,
        "cores": result.num_cores,
        "latency_us": result.latency_ns / 1e3,
        "flops": result.flops,
        "achieved_tflops": result.achieved_flops_per_s / 1e12,
        "tensor_peak_tflops": result.tensor_peak_flops_per_s / 1e12,
        "tensor_utilization": result.tensor_utilization,
        "dma_bytes": result.dma_bytes,
        "hbm_bytes": result.hbm_bytes,
        "hbm_bandwidth_used_gb_per_s": result.hbm_bandwidth_used_bytes_per_s / 1e9,
        "hbm_bandwidth_gb_per_s": result.hbm_bandwidth_bytes_per_s / 1e9,
        "engine_busy_fraction": result.engine_busy_fraction(),
        "dma_queue_busy_fraction": result.queue_busy_fraction(),
        "psum_banks_peak": result.psum_banks_used,
        "folded_psum_zero_fills": result.folded_psum_zero_fills,
        "bound": str(result.bound),
        "critical_path_us": {str(k): v / 1e3 for k, v in result.critical_path_ns.items()},
        "instructions": len(result.instructions),
    }
