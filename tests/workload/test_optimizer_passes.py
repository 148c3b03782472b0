"""The framework's optimizer-step passes beyond the Adam update (efficiency files' [optimizer]), by hand."""

from __future__ import annotations

import math

import pytest

from trnsim.cluster import estimate_step, make_plan
from trnsim.devicetime.efficiency import load_efficiency
from trnsim.devicetime.optimizer_passes import optimizer_pass_ops
from trnsim.devicetime.timing import time_op, time_ops
from trnsim.hardware.catalog import load_chip, load_system
from trnsim.workload.graph import ParamsOnRank, build_optimizer_ops
from trnsim.workload.models import load_model


def test_h100_passes_cover_the_rank_and_the_shard() -> None:
    chip = load_chip("h100")
    curves = load_efficiency(chip)
    assert curves.optimizer is not None
    bandwidth = chip.hbm_bw_bytes_per_s * curves.memory.bw_efficiency
    launch = curves.memory.launch_overhead_s
    held, shard = 1_000_000_000, math.ceil(1_000_000_000 / 48)  # ZeRO-1 over 48 ranks
    rank_op, shard_op = optimizer_pass_ops(chip, held, shard)
    # Megatron-core: zero the FP32 gradient buffer (4) and its NaN-check norm (4) over every parameter
    # the rank holds; the clipping norm (4) and the FP32 weight re-read for the BF16 copy (4) over the shard
    assert time_op(rank_op, chip) == pytest.approx(held * 8 / bandwidth + launch)
    assert time_op(shard_op, chip) == pytest.approx(shard * 8 / bandwidth + launch)


def test_a100_fp16_optimizer_passes() -> None:
    chip = load_chip("a100")
    curves = load_efficiency(chip)
    bandwidth = chip.hbm_bw_bytes_per_s * curves.memory.bw_efficiency
    launch = curves.memory.launch_overhead_s
    held = 2_000_000_000  # no ZeRO: the shard is every parameter
    ops = optimizer_pass_ops(chip, held, held)
    # zero FP16 grads (2); cast to FP32 (2 + 4), unscale in place (4 + 4), norm (4), weight re-read (4)
    expected = held * 2 / bandwidth + held * (6 + 8 + 4 + 4) / bandwidth + 2 * launch
    assert sum(time_op(op, chip) for op in ops) == pytest.approx(expected)


def test_trainium_has_no_framework_passes() -> None:
    assert optimizer_pass_ops(load_chip("trn1"), 10**9, 10**8) == ()


def test_step_optimizer_is_update_plus_passes() -> None:
    # tp1 pp1: the rank holds every parameter; ZeRO-1 over dp 8 updates an eighth of them
    model = load_model("llama3-8b")
    system = load_system("p5")
    plan = make_plan(tp=1, pp=1, dp=8, zero_stage=1, micro_batch=1, global_batch=8)
    result = estimate_step(model, system, 8, plan, 4096)
    held = model.n_params()
    shard = math.ceil(held / 8)
    chip = system.chip
    curves = load_efficiency(chip)
    bandwidth = chip.hbm_bw_bytes_per_s * curves.memory.bw_efficiency
    update = sum(time_ops(build_optimizer_ops(ParamsOnRank(held, 0), 8), system))
    passes = (8 * held + 8 * shard) / bandwidth + 2 * curves.memory.launch_overhead_s
    assert result.breakdown["optimizer"] == pytest.approx(update + passes, rel=1e-9)
