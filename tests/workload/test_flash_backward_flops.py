"""A flash-attention backward is timed in the FLOP count its GPU curve was measured in (5 GEMMs, not 4)."""

from __future__ import annotations

import numpy as np
import pytest

from trnsim.devicetime.efficiency import load_efficiency
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.devicetime.timing import time_op
from trnsim.hardware.catalog import load_chip


def _attention_bwd(flash: int) -> Op:
    # one layer of a 1.7B GPT at seq 4096: 16 heads of 128, causal; the graph's backward FLOPs are
    # twice the forward's 2 s^2 (d_qk + d_v) per head (Megatron's convention)
    heads, seq, d = 16, 4096, 128
    forward = heads * 2.0 * seq * seq * (d + d)
    shape = {"batch_heads": heads, "seq_q": seq, "seq_kv": seq, "head_dim_qk": d, "head_dim_v": d,
             "causal": 1, "flash": flash}
    return Op("attention.bwd", OpClass.ATTENTION, Phase.BWD, 2.0 * forward, 1e6, 1e6, shape,
              Dtype.BF16, kernel="attention_bwd")


def _by_hand(op: Op, executed_per_graph_flop: float) -> float:
    chip = load_chip("h100")
    curves = load_efficiency(chip)
    n = 4096 // 128  # causal: n (n + 1) / 2 of n^2 blocks of 128 rows
    flops = op.flops * (n + 1) / (2 * n) * executed_per_graph_flop
    curve = curves.attention_bwd
    efficiency = float(np.interp(np.log10(flops), curve.log10_flops, curve.efficiency))
    compute = flops / (chip.peak_flops("bf16") * efficiency * curves.calibration_scale)
    return compute + curves.memory.launch_overhead_s


def test_flash_backward_counts_the_recomputed_scores() -> None:
    chip = load_chip("h100")
    assert load_efficiency(chip).attention_bwd.flash_flops_per_graph_flop == 1.25  # 2.5 / 2 (FA2 sec. 4.1)
    flash = _attention_bwd(1)
    assert time_op(flash, chip) == pytest.approx(_by_hand(flash, 2.5 / 2))


def test_materialised_backward_keeps_the_graph_count() -> None:
    # without the flash kernel the scores are saved: dP, dV, dQ, dK are the graph's 4 GEMMs
    plain = _attention_bwd(0)
    chip = load_chip("h100")
    assert time_op(plain, chip) == pytest.approx(_by_hand(plain, 1.0))
