"""GPU and TPU op times: peak by dtype, HBM bandwidth, efficiency curves, launch overheads."""

from __future__ import annotations

from trnsim.devicetime.efficiency import EfficiencyCurves
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase, executed_attention_flops
from trnsim.devicetime.rank import RankView

__all__ = ["analytic_time_s", "executed_attention_flops"]

# Enum members as module constants: ``OpClass.LOSS`` goes through the enum metaclass's
# ``__getattr__`` hook on every read (a few hundred ns), and this runs once per op shape timed.
_LOSS, _EMBEDDING, _ATTENTION = OpClass.LOSS, OpClass.EMBEDDING, OpClass.ATTENTION
_GEMM_CLASSES = (OpClass.MATMUL, OpClass.ROUTER)
_BWD = Phase.BWD
_FP8, _BF16 = Dtype.FP8, Dtype.BF16


def analytic_time_s(op: Op, rank: RankView, curves: EfficiencyCurves) -> float:
    """Seconds for one instance of ``op``: max(compute at curve efficiency, memory) + launch."""
    bandwidth = rank.hbm_bw_bytes_per_s * curves.memory.bw_efficiency
    if op.op_class is _LOSS and curves.loss is not None and "cols" in op.shape:
        # The framework's cross-entropy: one kernel per pass over the (FP32) logits.
        logits = op.shape["rows"] * op.shape["cols"]
        backward = op.phase is _BWD
        per_logit = curves.loss.bytes_per_logit_bwd if backward else curves.loss.bytes_per_logit_fwd
        kernels = curves.loss.kernels_bwd if backward else curves.loss.kernels_fwd
        return logits * per_logit / bandwidth + kernels * curves.memory.launch_overhead_s
    memory = (op.bytes_read + op.bytes_written) / bandwidth
    extra = 0.0
    if (op.op_class is _EMBEDDING and op.phase is _BWD and curves.embedding is not None
            and "vocab" in op.shape):
        # The framework's dense weight gradient over the rank's whole table (zeroed, then added
        # into the main gradient), beside the graph's per-token rows.
        grad = curves.embedding
        extra = (op.shape["vocab"] * op.shape["cols"] * grad.dense_grad_bytes_per_weight / bandwidth
                 + grad.kernels * curves.memory.launch_overhead_s)
    flops = op.flops
    if op.op_class in _GEMM_CLASSES:
        curve = curves.matmul_fp8 if op.dtype is _FP8 else curves.matmul_bf16
        # the curve's efficiency times the chip's end-to-end calibration scale, at most 1
        compute = (flops / (rank.peak_flops(op.dtype) * min(1.0, curve(flops) * curves.calibration_scale))
                   if flops else 0.0)
    elif op.op_class is _ATTENTION:
        flops = executed_attention_flops(op)
        curve = curves.attention_bwd if op.phase is _BWD else curves.attention_fwd
        if op.shape.get("flash", 0):
            # in the FLOP count the curve's efficiencies were measured with (FlashAttention's
            # backward recomputes the scores: 5 GEMMs where the graph counts 4)
            flops *= curve.flash_flops_per_graph_flop
        compute = (flops / (rank.peak_flops(op.dtype) * min(1.0, curve(flops) * curves.calibration_scale))
                   if flops else 0.0)
    else:
        # Norms, elementwise ops, the loss and the optimizer run on the vector units, at a
        # fraction of the matrix peak given in the chip's efficiency file.
        compute = flops / (rank.peak_flops(_BF16) * curves.memory.vector_peak_fraction)
    return max(compute, memory) + curves.memory.launch_overhead_s + extra
