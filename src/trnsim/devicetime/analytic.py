"""GPU and TPU op times: peak by dtype, HBM bandwidth, efficiency curves, launch overheads."""

from __future__ import annotations

from trnsim.devicetime.efficiency import EfficiencyCurves
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.devicetime.rank import RankView

__all__ = ["analytic_time_s", "executed_attention_flops"]

_CAUSAL_BLOCK = 128  # query/key block of a FlashAttention kernel


def executed_attention_flops(op: Op) -> float:
    """FLOPs a FlashAttention kernel executes: causal masking skips blocks above the diagonal.

    With n = seq_q / block query blocks against as many key blocks, a causal kernel visits
    n·(n+1)/2 of n² block pairs: a fraction (n+1)/(2n). Context-parallel chunks (seq_kv > seq_q)
    are load-balanced, so each rank executes the same fraction of its full matrix.
    """
    if not op.shape.get("causal", 0):
        return op.flops
    n = max(1, op.shape.get("seq_q", 1) // _CAUSAL_BLOCK)
    return op.flops * (n + 1) / (2 * n)


def analytic_time_s(op: Op, rank: RankView, curves: EfficiencyCurves) -> float:
    """Seconds for one instance of ``op``: max(compute at curve efficiency, memory) + launch."""
    memory = (op.bytes_read + op.bytes_written) / (rank.hbm_bw_bytes_per_s * curves.memory.bw_efficiency)
    flops = op.flops
    if op.op_class in (OpClass.MATMUL, OpClass.ROUTER):
        curve = curves.matmul_fp8 if op.dtype is Dtype.FP8 else curves.matmul_bf16
        compute = flops / (rank.peak_flops(op.dtype) * curve(flops)) if flops else 0.0
    elif op.op_class is OpClass.ATTENTION:
        flops = executed_attention_flops(op)
        curve = curves.attention_bwd if op.phase is Phase.BWD else curves.attention_fwd
        compute = flops / (rank.peak_flops(op.dtype) * curve(flops)) if flops else 0.0
    else:
        # Norms, elementwise ops, the loss and the optimizer run on the vector units, at a
        # fraction of the matrix peak given in the chip's efficiency file.
        compute = flops / (rank.peak_flops(Dtype.BF16) * curves.memory.vector_peak_fraction)
    return max(compute, memory) + curves.memory.launch_overhead_s
