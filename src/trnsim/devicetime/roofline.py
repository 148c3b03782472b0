"""The roofline: an op takes as long as its FLOPs at peak or its bytes at full HBM bandwidth.

The fast path for every chip, and the lower bound any other estimate should respect.
"""

from __future__ import annotations

from trnsim.devicetime.ops import Op, executed_attention_flops
from trnsim.devicetime.rank import RankView

__all__ = ["roofline_time_s"]


def roofline_time_s(op: Op, rank: RankView) -> float:
    """Seconds for one instance of ``op`` on one rank: max(compute, memory).

    Causal attention counts the FLOPs its kernel executes, not the full score matrix.
    """
    compute = executed_attention_flops(op) / rank.peak_flops(op.dtype)
    memory = (op.bytes_read + op.bytes_written) / rank.hbm_bw_bytes_per_s
    return max(compute, memory)
