"""The one-device estimate: time by op class, MFU/HFU, memory, JSON and rich output."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from trnsim.errors import ConfigError, UnknownNameError
from trnsim.hardware.catalog import load_chip
from trnsim.workload.estimate import estimate_device_step
from trnsim.workload.flops import model_flops
from trnsim.workload.models import load_model
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard


@pytest.mark.parametrize("device", ["p5", "trn2", "trn1", "tpu-v5p", "h200", "b200"])
def test_estimate_runs_on_every_family(device: str) -> None:
    est = estimate_device_step(load_model("llama3-8b"), device, 1, 4096, shard=Shard(tp=4))
    assert 0 < est.mfu <= est.hfu <= 1
    assert est.step_s == pytest.approx(est.time.compute_s + est.time.optimizer_s)
    json.dumps(est.to_dict())


def test_mfu_uses_megatron_model_flops_and_the_rank_peak() -> None:
    model = load_model("llama3-8b")
    est = estimate_device_step(model, "p5", 2, 4096, num_microbatches=4)
    # One whole model per H100: model FLOPs of 2·4·4096 tokens over step time × 989 TFLOP/s.
    flops = model_flops(model, 2 * 4 * 4096, 4096)
    assert est.model_flops == pytest.approx(flops)
    assert est.mfu == pytest.approx(flops / (est.step_s * 989e12))


def test_full_recompute_raises_hfu_over_mfu_by_a_third_of_the_layer_work() -> None:
    est = estimate_device_step(load_model("llama3-8b"), "p5", 1, 4096, recompute=Recompute.FULL)
    # Recompute adds one forward of every layer: hardware/model FLOPs ≈ 4/3 less the LM head.
    assert 1.25 < est.hardware_flops / est.model_flops < 4 / 3
    assert est.hfu > est.mfu


def test_trainium_rank_is_a_logical_core() -> None:
    est = estimate_device_step(load_model("afm-on-device"), "trn2.48xlarge", 1, 4096)
    assert est.ranks_per_chip == 4
    assert est.hbm_bytes_per_rank == 24 * 2**30
    assert est.peak_flops_per_rank == pytest.approx(667e12 / 4)
    lnc1 = estimate_device_step(load_model("afm-on-device"), "trn2", 1, 4096, lnc=1)
    assert lnc1.ranks_per_chip == 8


def test_fp8_is_faster_on_chips_with_fp8_units() -> None:
    model = load_model("llama3-70b")
    shard = Shard(tp=8, sequence_parallel=True)
    bf16 = estimate_device_step(model, "p5", 1, 8192, shard=shard)
    fp8 = estimate_device_step(model, "p5", 1, 8192, Precision.FP8, shard=shard)
    assert fp8.step_s < bf16.step_s
    # Utilisation of an FP8 run is against the FP8 peak (1,979 TFLOP/s on H100), so it stays below 1.
    assert fp8.peak_flops_per_rank == 1979e12 and fp8.hfu <= 1
    assert fp8.mfu_vs_bf16 == pytest.approx(fp8.mfu * 1979 / 989)
    a100_bf16 = estimate_device_step(model, load_chip("a100"), 1, 8192, shard=shard)
    a100_fp8 = estimate_device_step(model, load_chip("a100"), 1, 8192, Precision.FP8, shard=shard)
    # No FP8 units: the same GEMM rate; only bytes shrink.
    assert a100_fp8.step_s == pytest.approx(a100_bf16.step_s, rel=0.05)


def test_memory_verdict_and_rendering() -> None:
    est = estimate_device_step(load_model("llama3-70b"), "p5", 1, 8192)
    assert not est.fits and "short by" in est.memory_verdict()
    console = Console(record=True, width=120)
    console.print(est)
    text = console.export_text()
    assert "MFU" in text and "does not fit" in text and "matmul" in text


def test_unknown_device_and_bad_microbatches() -> None:
    with pytest.raises(UnknownNameError):
        estimate_device_step(load_model("llama3-8b"), "v100", 1, 4096)
    with pytest.raises(ConfigError, match="num_microbatches"):
        estimate_device_step(load_model("llama3-8b"), "p5", 1, 4096, num_microbatches=0)
