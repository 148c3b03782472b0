"""A GPU framework's embedding weight gradient is dense over the rank's table ([embedding]), by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from trnsim.devicetime.efficiency import load_efficiency
from trnsim.devicetime.ops import Op, OpClass, Phase
from trnsim.devicetime.timing import time_op
from trnsim.hardware.catalog import load_chip
from trnsim.workload.graph import build_step
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard

from .helpers import gpt


def _embedding_bwd(tp: int) -> Op:
    model = gpt(2048, 24, 16, vocab=131072, seq=4096, dropout=False)
    graph = build_step(model, Shard(tp=tp), 1, 4096, Precision.BF16, Recompute.NONE)
    return next(op for op in graph.ops if op.op_class is OpClass.EMBEDDING and op.phase is Phase.BWD)


def test_h100_embedding_backward_adds_the_dense_table_gradient() -> None:
    chip = load_chip("h100")
    curves = load_efficiency(chip)
    bandwidth = chip.hbm_bw_bytes_per_s * curves.memory.bw_efficiency
    launch = curves.memory.launch_overhead_s
    op = _embedding_bwd(tp=2)
    assert op.shape["vocab"] == 131072 // 2  # the rank's rows of the vocabulary-parallel table
    rows = (op.bytes_read + op.bytes_written) / bandwidth + launch  # the tokens' rows (graph bytes)
    # zero the BF16 table gradient (2 B), add it into the FP32 main gradient (2 + 4 + 4 B): 2 kernels
    dense = 65536 * 2048 * 12 / bandwidth + 2 * launch
    assert time_op(op, chip) == pytest.approx(rows + dense)


def test_trainium_keeps_the_per_token_rows() -> None:
    # no efficiency file: the table size changes nothing on Trainium (its time rests on the rows)
    op = _embedding_bwd(tp=1)
    assert op.bytes_read == 4096 * 2048 * (2 + 4) and op.bytes_written == 4096 * 2048 * 4
    without = replace(op, shape={k: v for k, v in op.shape.items() if k != "vocab"})
    trn1 = load_chip("trn1")
    assert time_op(op, trn1) == time_op(without, trn1)
