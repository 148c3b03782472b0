"""Trainium device times under what-if NeuronCore timing (``ChipSpec.nc_timing_overrides``).

The mechanism (overrides reach the simulator, tables are regenerated and cached, never the
shipped ones) is tested with a stand-in simulator whose latency is a known function of the timing
it is given; the real kernels and chip model are then checked against expectations derived by
hand from the trn2 timing data.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from trnsim.devicetime import kernel_path, whatif_timing
from trnsim.devicetime import timing as timing_module
from trnsim.devicetime.cache import CACHE_ENV
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.devicetime.regenerate import GRIDS
from trnsim.devicetime.timing import Method, time_op_detailed
from trnsim.devicetime.trainium_scale import load_trainium_scale
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import SystemSpec, load_system
from trnsim.hardware.neuroncore_timing import NeuronCoreTiming, load_timing

#: Shipped trn2 DMA queue bandwidth; the stand-in simulator's latency is inversely proportional
#: to the queue bandwidth it is given.
_QUEUE_BW = load_timing("trn2").dma.queue_bandwidth_bytes_per_s.value


def _fake_ns(shape: dict[str, int], timing: NeuronCoreTiming | str) -> float:
    resolved = load_timing(timing) if isinstance(timing, str) else timing
    work = 1000.0 + float(sum(shape.values()))
    return work * _QUEUE_BW / resolved.dma.queue_bandwidth_bytes_per_s.value


@pytest.fixture
def fake_layers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []

    def entry(name: str) -> SimpleNamespace:
        return SimpleNamespace(kernel=name, make_args=lambda shape, dtype: (name, dict(shape), dtype))

    def predict(kernel: str, name: str, shape: dict[str, int], dtype: str, target: Any) -> float:
        calls.append((name, target))
        return _fake_ns(shape, target)

    monkeypatch.setattr(kernel_path, "_registry", lambda: SimpleNamespace(get=entry))
    monkeypatch.setattr(kernel_path, "_core", lambda: predict)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    whatif_timing._TABLES.clear()
    timing_module.clear_memo()
    yield calls
    whatif_timing._TABLES.clear()
    timing_module.clear_memo()


def _with_timing(system: SystemSpec, **values: float) -> SystemSpec:
    pairs = tuple(sorted((path.replace("__", "."), v) for path, v in values.items()))
    chip = system.chip.model_copy(update={"nc_timing_overrides": pairs})
    return system.model_copy(update={"chip": chip})


def _mm(m: int, k: int, n: int) -> Op:
    return Op("mm", OpClass.MATMUL, Phase.FWD, 2.0 * m * k * n, 1.0, 1.0, {"m": m, "k": k, "n": n},
              Dtype.BF16, 1, kernel="matmul")


def _add(rows: int, cols: int) -> Op:
    return Op("add", OpClass.ELEMENTWISE, Phase.FWD, rows * cols, 4.0 * rows * cols, 2.0 * rows * cols,
              {"rows": rows, "cols": cols}, Dtype.BF16, 1, kernel="add")


def test_overridden_timing_reaches_the_simulator_and_the_regenerated_table(fake_layers) -> None:
    base = load_system("trn2")
    faster = _with_timing(base, dma__queue_bandwidth_bytes_per_s=2 * _QUEUE_BW)
    op = _mm(512, 2048, 1024)  # a grid point of the matmul table: interpolation returns it exactly
    exact = time_op_detailed(op, faster, "kernel")
    # Stand-in latency: (1000 + m + k + n) ns at the shipped bandwidth, halved at twice of it;
    # LNC=2 halves it again (the two cores of the logical core split the op); the chip's
    # calibration scale divides every simulated-kernel time.
    scale = load_trainium_scale(base.chip).calibration_scale
    expected_s = (1000 + 512 + 2048 + 1024) / 2 / 2 * 1e-9 / scale
    assert exact.method is Method.KERNEL and exact.seconds == pytest.approx(expected_s)
    assert isinstance(fake_layers[0][1], NeuronCoreTiming)
    assert fake_layers[0][1].dma.queue_bandwidth_bytes_per_s.value == 2 * _QUEUE_BW
    # Another grid point (an exact shape already simulated is served from the latency cache).
    tabled = time_op_detailed(_mm(2048, 512, 512), faster, "table")
    expected_s = (1000 + 2048 + 512 + 512) / 2 / 2 * 1e-9 / scale
    assert tabled.method is Method.TABLE and tabled.seconds == pytest.approx(expected_s)
    grid = next(g for g in GRIDS if g.kernel == "matmul").grid
    assert len(fake_layers) == 1 + len(grid[0]) * len(grid[1]) * len(grid[2])  # the whole grid, once


def test_regenerated_tables_are_cached_on_disk_per_override_set(fake_layers, tmp_path) -> None:
    base = load_system("trn2")
    x2 = _with_timing(base, dma__queue_bandwidth_bytes_per_s=2 * _QUEUE_BW)
    x4 = _with_timing(base, dma__queue_bandwidth_bytes_per_s=4 * _QUEUE_BW)
    op = _add(1024, 4096)  # a grid point of the add table
    first = time_op_detailed(op, x2, "table").seconds
    simulated = len(fake_layers)
    whatif_timing._TABLES.clear()  # as a new process would start
    timing_module.clear_memo()
    assert time_op_detailed(op, x2, "table").seconds == first
    assert len(fake_layers) == simulated  # read back from disk, not simulated again
    files = list((tmp_path / "cache" / "whatif-tables").glob("trn2-*/trn2/add-bfloat16.json"))
    assert len(files) == 1
    # Another override set is another table: 4x the bandwidth halves the x2 time exactly.
    assert time_op_detailed(op, x4, "table").seconds == pytest.approx(first / 2)
    assert len(fake_layers) == 2 * simulated


def test_shipped_tables_are_never_used_under_overrides(fake_layers, monkeypatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError(f"shipped table read under a what-if: {args}")

    monkeypatch.setattr(timing_module, "find_table", refuse)
    faster = _with_timing(load_system("trn2"), dma__queue_bandwidth_bytes_per_s=2 * _QUEUE_BW)
    assert time_op_detailed(_add(1024, 4096), faster).method is Method.TABLE


def test_unknown_timing_path_is_one_line(fake_layers) -> None:
    bad = _with_timing(load_system("trn2"), dma__queue_speed=1.0)
    with pytest.raises(ConfigError) as info:
        time_op_detailed(_add(1024, 4096), bad, "kernel")
    assert "override key 'dma.queue_speed' does not exist" in str(info.value)
    assert "\n" not in str(info.value)


_REAL = all(importlib.util.find_spec(m) is not None for m in ("trnsim.kernels.registry", "trnsim.nki.legacy"))
real = pytest.mark.skipif(not _REAL, reason="the kernel library and NKI front end are not in this tree")


@pytest.fixture
def real_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    timing_module.clear_memo()


def _ratio(op: Op, changed: SystemSpec) -> float:
    base = load_system("trn2")
    return time_op_detailed(op, base, "kernel").seconds / time_op_detailed(op, changed, "kernel").seconds


_BIG_MM = _mm(2048, 4096, 2048)
_BIG_ADD = _add(4096, 8192)


@real
def test_every_rate_doubled_halves_the_simulated_time(real_cache) -> None:
    # An event simulation has no time scale of its own: with every clock and bandwidth doubled and
    # every fixed time halved, every duration and so the latency halve exactly.
    t = load_timing("trn2")
    doubled = _with_timing(
        load_system("trn2"),
        chip__hbm_bandwidth_bytes_per_s=2 * t.chip.hbm_bandwidth_bytes_per_s.value,
        dma__queue_bandwidth_bytes_per_s=2 * t.dma.queue_bandwidth_bytes_per_s.value,
        dma__fixed_cost_ns=t.dma.fixed_cost_ns.value / 2,
        dma__hwdge_fixed_cost_ns=t.dma.hwdge_fixed_cost_ns.value / 2,
        tensor__clock_hz=2 * t.tensor.clock_hz.value, vector__clock_hz=2 * t.vector.clock_hz.value,
        scalar__clock_hz=2 * t.scalar.clock_hz.value, gpsimd__clock_hz=2 * t.gpsimd.clock_hz.value,
    )
    for op in (_mm(1024, 2048, 1024), _add(1024, 4096)):
        assert _ratio(op, doubled) == pytest.approx(2.0, rel=1e-6)


@real
def test_tensor_engine_speeds_up_a_matmul_and_not_an_add(real_cache) -> None:
    t = load_timing("trn2")
    faster = _with_timing(load_system("trn2"), tensor__clock_hz=2 * t.tensor.clock_hz.value)
    # The add kernel issues no TensorE instruction: its time cannot change.
    assert _ratio(_BIG_ADD, faster) == pytest.approx(1.0, rel=1e-9)
    # 2048 x 4096 x 2048 BF16: 34.4 GFLOP, 437 us at one core's 78.6 TFLOP/s (2 x 128 x 128 x
    # 2.4 GHz), about half of its simulated time: halving that part gives more than 1.2x and, as
    # the rest is not TensorE, less than 2x.
    ratio = _ratio(_BIG_MM, faster)
    print(f"TensorE x2: matmul {ratio:.3f}x")
    assert 1.2 < ratio < 2.0


@real
def test_hbm_bandwidth_speeds_up_a_streaming_op_and_barely_a_compute_bound_matmul(real_cache) -> None:
    t = load_timing("trn2")
    faster = _with_timing(
        load_system("trn2"),
        chip__hbm_bandwidth_bytes_per_s=2 * t.chip.hbm_bandwidth_bytes_per_s.value,
        dma__queue_bandwidth_bytes_per_s=2 * t.dma.queue_bandwidth_bytes_per_s.value)
    # The matmul moves (2048x4096 + 4096x2048 + 2048x2048) x 2 B = 41.9 MB: 114 us at one core's
    # 16 x 23 GB/s, a tenth of its simulated ~850 us, mostly overlapped with TensorE: < 1.15x.
    mm = _ratio(_BIG_MM, faster)
    # The add streams 128 x 2048 BF16 tiles (512 KiB per DMA, 32 KiB per queue): 1,300 ns fixed
    # cost + 32 KiB / 23 GB/s = 1,425 ns per queue transfer; doubled bandwidth leaves the fixed
    # cost, so even a purely DMA-bound add gains at most about 2,725 / 2,012 = 1.35x (a little
    # more with the 384 B descriptor overhead).
    add = _ratio(_BIG_ADD, faster)
    print(f"HBM/DMA x2: matmul {mm:.3f}x, add {add:.3f}x")
    assert 1.0 <= mm < 1.15
    assert 1.15 < add < 1.45
