"""Autocast weight casts and FP32 gradient accumulation per micro-batch (devicetime/param_passes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trnsim.devicetime.param_passes import ParamPasses, load_param_passes, param_pass_ops
from trnsim.devicetime.tables import find_table
from trnsim.devicetime.timing import time_op
from trnsim.devicetime.trainium_scale import load_trainium_scale
from trnsim.hardware.catalog import CATALOG_ENV, load_chip, load_system
from trnsim.workload.config import ModelConfig
from trnsim.workload.graph import build_step
from trnsim.workload.shard import Shard

_AUTOCAST = ParamPasses(source="test", date="2024", confidence="test", param_bytes=4, compute_bytes=2,
                        grad_bytes=4)


def test_cast_and_accumulate_bytes_follow_the_dtypes() -> None:
    # P FP32 weights cast to BF16: read 4P, write 2P. BF16 gradient cast and added into an FP32
    # accumulator in one pass: read 2P + 4P, write 4P.
    p = 1000
    cast, acc = param_pass_ops(p, _AUTOCAST)
    assert (cast.bytes_read, cast.bytes_written) == (4 * p, 2 * p)
    assert (acc.bytes_read, acc.bytes_written) == (6 * p, 4 * p)
    assert cast.phase.value == "fwd" and acc.phase.value == "bwd"


def test_no_passes_without_a_precision_mode_or_parameters() -> None:
    assert param_pass_ops(1000, None) == ()
    assert param_pass_ops(0, _AUTOCAST) == ()
    assert load_param_passes(load_chip("h100")) is None  # Megatron: fused into the wgrad GEMM
    shipped = load_param_passes(load_chip("trn1"))
    assert shipped is not None
    assert (shipped.param_bytes, shipped.compute_bytes, shipped.grad_bytes) == (4, 2, 4)


def test_passes_stream_at_the_add_kernels_rate() -> None:
    # 4096 x 8192 parameters lie on the add table's grid point (4096 rows of 8192): the add kernel
    # moves 3 x 2 bytes per element in t; the cast moves 6 bytes per parameter (same t), the
    # accumulation 10 (t x 10/6); every simulated-kernel time over the chip's calibration scale.
    system = load_system("trn1")
    table = find_table("add", "bfloat16", "trn1")
    assert table is not None
    scale = load_trainium_scale(system.chip).calibration_scale
    t = table.interpolate_ns({"rows": 4096, "cols": 8192}) * 1e-9 / scale
    cast, acc = param_pass_ops(4096 * 8192, _AUTOCAST)
    assert time_op(cast, system) == pytest.approx(t, rel=1e-9)
    assert time_op(acc, system) == pytest.approx(t * 10 / 6, rel=1e-9)


def _llama() -> ModelConfig:
    return ModelConfig(name="t", family="llama", hidden_size=512, num_layers=2, num_heads=8, num_kv_heads=8,
                       head_dim=64, ffn_hidden_size=1024, vocab_size=1000, max_seq_len=256)


def test_every_micro_batch_pays_the_passes_of_the_ranks_parameters(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from trnsim.cluster import estimate_step, make_plan
    from trnsim.cluster.step import clear_cache

    system = load_system("trn1")
    plan = make_plan(tp=2, pp=1, dp=1, micro_batch=1, global_batch=4, sequence_parallel=True)
    params = build_step(_llama(), Shard(tp=2, sequence_parallel=True), 1, 256).params.total
    cast, acc = param_pass_ops(params, load_param_passes(system.chip))
    per_micro_batch = time_op(cast, system) + time_op(acc, system)
    with_passes = estimate_step(_llama(), system, 2, plan, 256)
    assert with_passes.compute_by_class["param_passes"]["step"] == pytest.approx(4 * per_micro_batch)
    # A user file for a pure-BF16 mode (BF16 weights and gradients): the same passes move fewer
    # bytes, and the step's compute drops by the difference.
    (tmp_path / "param_passes").mkdir()
    (tmp_path / "param_passes" / "trainium.toml").write_text(
        'source = "mine"\ndate = "2024"\nconfidence = "test"\nparam_bytes = 2\ncompute_bytes = 2\n'
        'grad_bytes = 2\n')
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path))
    clear_cache()
    bf16 = estimate_step(_llama(), system, 2, plan, 256)
    clear_cache()
    # cast 4 B instead of 6, accumulation 6 B instead of 10: 10 of 16 bytes per parameter
    expected = 4 * per_micro_batch * 10 / 16
    assert bf16.compute_by_class["param_passes"]["step"] == pytest.approx(expected, rel=1e-6)
    assert (with_passes.breakdown["compute"] - bf16.breakdown["compute"]
            == pytest.approx(4 * per_micro_batch * 6 / 16, rel=1e-6))


def test_zero3_casts_and_accumulates_only_the_ranks_shard() -> None:
    # ZeRO-3 over dp = 4: each rank casts its quarter of the weights before the BF16 gather and
    # accumulates its quarter of the gradients after the reduce-scatter.
    from trnsim.cluster import estimate_step, make_plan

    system = load_system("trn1")
    plan = make_plan(tp=1, pp=1, dp=4, micro_batch=1, global_batch=8, zero_stage=3)
    params = build_step(_llama(), Shard(), 1, 256).params.total
    cast, acc = param_pass_ops(-(-params // 4), load_param_passes(system.chip))
    per_micro_batch = time_op(cast, system) + time_op(acc, system)
    result = estimate_step(_llama(), system, 4, plan, 256)
    assert result.compute_by_class["param_passes"]["step"] == pytest.approx(2 * per_micro_batch)
