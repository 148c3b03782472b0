"""The materialised attention's dropout over the probabilities is a pass of its own (Megatron-LM's
CoreAttention: baddbmm, fused scale-mask-softmax, dropout, bmm), rerun by selective recomputation."""

from __future__ import annotations

from trnsim.devicetime.ops import Op, OpClass, Phase
from trnsim.workload.graph import ATTENTION_PROBS_DROPOUT, build_step
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard

from .helpers import gpt


def _ops(recompute: Recompute, flash: bool, dropout: bool = True) -> dict[tuple[str, Phase], Op]:
    model = gpt(6144, 48, 64, dropout=dropout)  # Korthikanti's 22B
    graph = build_step(model, Shard(tp=8), 4, 2048, Precision.BF16, recompute, flash_attention=flash)
    return {(op.name, op.phase): op for op in graph.ops}


def test_dropout_pass_moves_the_scores_each_way() -> None:
    ops = _ops(Recompute.NONE, flash=False)
    op = ops[(ATTENTION_PROBS_DROPOUT, Phase.FWD)]
    # micro-batch 4 x 64/8 heads x 2048 queries rows, 2048 keys: 4·8·2048·2048 = 134 M scores,
    # read 2 B and written 2 B each (BF16), 48 layers
    scores = 4 * 8 * 2048 * 2048
    assert op.op_class is OpClass.ELEMENTWISE and op.count == 48
    assert (op.bytes_read, op.bytes_written) == (2.0 * scores, 2.0 * scores)
    back = ops[(f"{ATTENTION_PROBS_DROPOUT}.bwd", Phase.BWD)]
    # backward: read the output gradient and the saved input side, write the input gradient
    assert (back.bytes_read, back.bytes_written) == (4.0 * scores, 2.0 * scores)


def test_selective_recompute_reruns_it_and_full_recompute_too() -> None:
    assert (f"{ATTENTION_PROBS_DROPOUT}.recompute", Phase.RECOMPUTE) in _ops(Recompute.SELECTIVE, flash=False)
    assert (f"{ATTENTION_PROBS_DROPOUT}.recompute", Phase.RECOMPUTE) in _ops(Recompute.FULL, flash=False)
    assert (f"{ATTENTION_PROBS_DROPOUT}.recompute", Phase.RECOMPUTE) not in _ops(Recompute.NONE, flash=False)


def test_no_pass_without_dropout_or_with_a_flash_kernel() -> None:
    assert (ATTENTION_PROBS_DROPOUT, Phase.FWD) not in _ops(Recompute.NONE, flash=True)
    assert (ATTENTION_PROBS_DROPOUT, Phase.FWD) not in _ops(Recompute.NONE, flash=False, dropout=False)
