"""The framework's optimizer-step passes beyond the Adam update, on chips timed by efficiency curves.

The update itself is the workload's ``build_optimizer_ops`` (30 bytes per parameter of the rank's
shard). A GPU framework's step makes more passes over memory, given per chip in the efficiency
file's ``[optimizer]`` table with their source (e.g. Megatron-LM zeroes the whole FP32 gradient
buffer every step, not only the shard the distributed optimizer updates). Trainium has none here:
its precision mode's passes are ``param_passes``.
"""

from __future__ import annotations

from trnsim.devicetime.efficiency import has_efficiency_file, load_efficiency
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.hardware.catalog import ChipSpec

__all__ = ["optimizer_pass_ops"]


def optimizer_pass_ops(chip: ChipSpec, params_on_rank: int, shard_params: int) -> tuple[Op, ...]:
    """Memory-bound ops for the passes over every parameter on the rank and over its shard.

    ``params_on_rank``: parameters this rank holds (its gradient buffer); ``shard_params``: the
    parameters its optimizer updates (all of them without ZeRO). One op (one kernel) per pass kind,
    its bytes (read and written together) in ``bytes_read``: the pass is memory-bound.
    """
    if not has_efficiency_file(chip):
        return ()
    passes = load_efficiency(chip).optimizer
    if passes is None:
        return ()
    ops = []
    for name, count, per_param in (("optimizer.rank_passes", params_on_rank, passes.every_param_bytes),
                                   ("optimizer.shard_passes", shard_params, passes.shard_param_bytes)):
        if count <= 0 or per_param <= 0:
            continue
        ops.append(Op(name=name, op_class=OpClass.OPTIMIZER, phase=Phase.OPTIMIZER, flops=0.0,
                      bytes_read=per_param * count, bytes_written=0.0, shape={"params": int(count)},
                      dtype=Dtype.FP32, count=1, kernel="optimizer_passes"))
    return tuple(ops)
