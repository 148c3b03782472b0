"""What-if knobs: one piece of hardware scaled in the catalog, the NeuronCore timing and the topology.

Expected values are the shipped data files' own figures times the knob's factor; a sweep on trn2
then shows each what-if moving the step time the way the hardware change must.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from trnsim.cluster.topology import topology_for_system
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.hardware.neuroncore_timing import load_timing
from trnsim.plan.inputs import run_point
from trnsim.plan.runner import run_sweep
from trnsim.plan.store import PointStatus, SweepStore
from trnsim.plan.sweep import Knob, SweepPoint, WhatIf, load_sweep_spec
from trnsim.plan.whatif import apply_whatif


def test_hbm_knob_scales_catalog_timing_and_on_chip_links_together() -> None:
    base, timing = load_system("trn2"), load_timing("trn2")
    hardware = apply_whatif("trn2", WhatIf(name="hbm_bw_x2"))
    chip = hardware.system.chip
    assert chip.hbm_bw_bytes_per_s == 2 * base.chip.hbm_bw_bytes_per_s
    assert chip.dma_bw_bytes_per_s == 2 * (base.chip.dma_bw_bytes_per_s or 0)
    assert chip.peak_flops_bf16 == base.chip.peak_flops_bf16
    assert "hbm_bw_x2" in chip.sources["hbm_bw_bytes_per_s"].source
    assert dict(chip.nc_timing_overrides) == {
        "chip.hbm_bandwidth_bytes_per_s": 2 * timing.chip.hbm_bandwidth_bytes_per_s.value,
        "dma.queue_bandwidth_bytes_per_s": 2 * timing.dma.queue_bandwidth_bytes_per_s.value,
    }
    on_chip = topology_for_system(base).on_chip
    assert on_chip is not None
    assert hardware.topology_overrides == {
        "on_chip.link_bandwidth_gbytes_per_s": 2 * on_chip.link_bw_bytes_per_s / 1e9}
    assert load_system("trn2").chip.nc_timing_overrides == ()  # the shipped system is untouched


def test_shorthand_name_is_the_knob() -> None:
    assert WhatIf(name="tensor_x2").knobs == {Knob.TENSOR: 2.0}
    assert WhatIf(name="hbm-x2").is_baseline  # not a knob name: an ordinary (empty) what-if
    explicit = apply_whatif("trn2", WhatIf(name="t", knobs={Knob.TENSOR: 2.0})).system
    short = apply_whatif("trn2", WhatIf(name="tensor_x2")).system
    assert explicit.chip.nc_timing_overrides == short.chip.nc_timing_overrides == (
        ("tensor.clock_hz", 2 * load_timing("trn2").tensor.clock_hz.value),)
    fp8 = load_system("trn2").chip.peak_flops_fp8 or 0
    assert explicit.chip.peak_flops_fp8 == short.chip.peak_flops_fp8 == 2 * fp8


def test_link_knobs_reach_the_topology() -> None:
    base = load_system("trn2")
    up = apply_whatif("trn2", WhatIf(name="scale_up_bw_x2"))
    topo = topology_for_system(up.system, overrides=up.topology_overrides)
    for before, after in zip(topology_for_system(base).dimensions, topo.dimensions, strict=True):
        assert after.link_bw_bytes_per_s == pytest.approx(2 * before.link_bw_bytes_per_s)
    out = apply_whatif("trn2", WhatIf(name="scale_out_bw_x2")).system
    assert topology_for_system(out).scale_out.link_bw_bytes_per_s == pytest.approx(
        2 * topology_for_system(base).scale_out.link_bw_bytes_per_s)
    # TPU v5p's topology file gives its own scale-out bandwidth (400 Gbit/s): scaled there.
    tpu = apply_whatif("tpu-v5p", WhatIf(name="scale_out_bw_x2"))
    assert tpu.topology_overrides == {"scale_out.bandwidth_gbit_per_s": 800.0}
    assert topology_for_system(tpu.system, overrides=tpu.topology_overrides).scale_out.link_bw_bytes_per_s \
        == pytest.approx(2 * topology_for_system(load_system("tpu-v5p")).scale_out.link_bw_bytes_per_s)


def test_timing_scale_and_set_take_raw_timing_paths() -> None:
    whatif = WhatIf(name="dma", timing_scale={"dma.queue_bandwidth_bytes_per_s": 3.0},
                    timing_set={"dma.fixed_cost_ns": 650.0})
    chip = apply_whatif("trn2", whatif).system.chip
    assert dict(chip.nc_timing_overrides) == {
        "dma.queue_bandwidth_bytes_per_s": 3 * load_timing("trn2").dma.queue_bandwidth_bytes_per_s.value,
        "dma.fixed_cost_ns": 650.0}
    assert chip.hbm_bw_bytes_per_s == load_system("trn2").chip.hbm_bw_bytes_per_s


@pytest.mark.parametrize(
    ("system", "whatif", "needle"),
    [
        ("p5", WhatIf(name="vector_x2"), "apply to Trainium only"),
        ("p5", WhatIf(name="w", timing_scale={"tensor.clock_hz": 2.0}), "apply to Trainium only"),
        ("trn2", WhatIf(name="w", timing_set={"tensor.rows": 256.0}), "cannot be honoured"),
        ("trn2", WhatIf(name="w", timing_scale={"dma.speed": 2.0}), "no NeuronCore timing value 'dma.speed'"),
    ],
)
def test_what_cannot_be_honoured_is_one_line(system: str, whatif: WhatIf, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_whatif(system, whatif)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_tensor_knob_on_a_gpu_scales_its_peak_only() -> None:
    chip = apply_whatif("p5", WhatIf(name="tensor_x2")).system.chip
    assert chip.peak_flops_bf16 == 2 * load_system("p5").chip.peak_flops_bf16
    assert chip.nc_timing_overrides == ()


SPEC = """
tokens = 1e12
seq_len = 4096
global_batch = 256
models = ["llama3-8b"]
systems = ["trn2"]
chips = [16]

[[whatif]]
name = "baseline"

[[whatif]]
name = "tensor_x2"

[[whatif]]
name = "scale_out_bw_x2"
"""


def test_sweep_trainium_whatifs_move_the_step_time_the_right_way(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRNSIM_CACHE_DIR", str(tmp_path / "cache"))
    spec_path = tmp_path / "sweep.toml"
    spec_path.write_text(SPEC)
    points = load_sweep_spec(spec_path).points()
    with SweepStore(tmp_path / "sweep.sqlite") as store:
        run_sweep(points, store, run_point, use_ray=False)
        results = {r.point["whatif"]["name"]: r for r in store.results()}
    assert all(r.status is PointStatus.OK for r in results.values()), results
    step = {name: r.result["step_time_s"] for name, r in results.items()}
    print({name: f"{s:.3f} s" for name, s in step.items()})
    # A faster TensorE (clock and peak x2) shortens the device time of every matmul: the step of
    # the best plan must be shorter (the planner may pick another plan, which is only faster).
    assert step["tensor_x2"] < step["baseline"]
    # More scale-out bandwidth can only shorten collectives that cross instances.
    assert step["scale_out_bw_x2"] <= step["baseline"]
    assert "NeuronCore timing tensor.clock_hz = 4.8e+09" in results["tensor_x2"].result["whatif_changes"]
    assert results["baseline"].result["whatif_changes"] == []
    # Each Trainium point states which tables timed it: the what-if's own, regenerated.
    assert results["tensor_x2"].result["device_tables"].startswith("regenerated with what-if timing")
    assert results["baseline"].result["device_tables"].startswith("shipped")


def test_vector_knob_on_a_gpu_point_is_an_error_result() -> None:
    job = {"tokens": 1e12, "seq_len": 4096, "global_batch": 256, "precision": "bf16", "objective": "time"}
    point = SweepPoint(model="llama3-8b", system="p5", chips=8, whatif=WhatIf(name="vector_x2"), job=job)
    with pytest.raises(ConfigError, match="apply to Trainium only"):
        run_point(point)


def test_points_stored_before_knobs_existed_keep_their_keys() -> None:
    job = {"tokens": 1e12, "seq_len": 4096, "global_batch": 256, "precision": "bf16", "objective": "time"}
    whatif = WhatIf(name="hbm-x2", scale={"chip.hbm_bw_bytes_per_s": 2.0})
    point = SweepPoint(model="llama3-8b", system="trn2", chips=16, whatif=whatif, job=job)
    # The key as computed before knobs and timing overrides were added to WhatIf.
    old = {"model": "llama3-8b", "system": "trn2", "chips": 16, "job": job,
           "whatif": {"name": "hbm-x2", "scale": {"chip.hbm_bw_bytes_per_s": 2.0}, "set": {}}}
    canonical = json.dumps(old, sort_keys=True, separators=(",", ":"))
    assert point.key == hashlib.sha256(canonical.encode()).hexdigest()[:32]
    knob = point.model_copy(update={"whatif": WhatIf(name="hbm-x2", knobs={Knob.HBM_BW: 2.0})})
    assert knob.key != point.key
