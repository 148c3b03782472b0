"""GPU cross-entropy timed as Megatron-LM's unfused FP32 passes (efficiency files' [loss]), by hand."""

from __future__ import annotations

import pytest

from trnsim.devicetime.efficiency import load_efficiency
from trnsim.devicetime.ops import Op, OpClass, Phase
from trnsim.devicetime.timing import time_op
from trnsim.hardware.catalog import load_chip


def _loss(phase: Phase, rows: int = 4096, cols: int = 131072) -> Op:
    logits = rows * cols
    return Op("cross_entropy", OpClass.LOSS, phase, 5.0 * logits, 2.0 * logits, 2.0 * logits,
              {"rows": rows, "cols": cols}, kernel="cross_entropy")


def test_h100_loss_is_the_passes_over_the_logits() -> None:
    chip = load_chip("h100")
    curves = load_efficiency(chip)
    assert curves.loss is not None
    bandwidth = chip.hbm_bw_bytes_per_s * curves.memory.bw_efficiency
    logits = 4096 * 131072
    launch = curves.memory.launch_overhead_s
    # forward: 38 bytes per logit in 6 kernels (upcast, max, subtract, exp, sum, divide)
    assert time_op(_loss(Phase.FWD), chip) == pytest.approx(logits * 38 / bandwidth + 6 * launch)
    # backward: 14 bytes per logit in 2 kernels (scale in place, cast to BF16)
    assert time_op(_loss(Phase.BWD), chip) == pytest.approx(logits * 14 / bandwidth + 2 * launch)
    # more than 9x what the graph's fused-kernel bytes (read and write BF16: 4 per logit) take
    fused = 4.0 * logits / bandwidth + launch
    assert time_op(_loss(Phase.FWD), chip) / fused > 9


def test_tpu_and_trainium_keep_their_fused_loss() -> None:
    assert load_efficiency(load_chip("tpu-v5p")).loss is None  # XLA fuses the loss
    op = _loss(Phase.FWD, 512, 4096)
    chip = load_chip("tpu-v5p")
    curves = load_efficiency(chip)
    bandwidth = chip.hbm_bw_bytes_per_s * curves.memory.bw_efficiency
    compute = op.flops / (chip.peak_flops("bf16") * curves.memory.vector_peak_fraction)
    expected = max(op.bytes_read + op.bytes_written, compute * bandwidth) / bandwidth
    assert time_op(op, chip) == pytest.approx(expected + curves.memory.launch_overhead_s)
