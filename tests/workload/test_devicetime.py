"""Device time of ops: roofline, GPU/TPU analytic curves, Trainium tables and the disk cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from trnsim.devicetime.cache import LatencyCache
from trnsim.devicetime.efficiency import load_efficiency
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase, executed_attention_flops
from trnsim.devicetime.tables import OpTable, find_table, load_table, table_path
from trnsim.devicetime.timing import Method, time_op, time_op_detailed, time_step
from trnsim.devicetime.trainium_scale import load_trainium_scale
from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_chip, load_system
from trnsim.workload.graph import build_step
from trnsim.workload.models import load_model
from trnsim.workload.shard import Shard


def _matmul(m: int, k: int, n: int, dtype: Dtype = Dtype.BF16, count: int = 1) -> Op:
    return Op("mm", OpClass.MATMUL, Phase.FWD, 2.0 * m * k * n, float((m * k + k * n) * dtype.nbytes),
              float(m * n * 2), {"m": m, "k": k, "n": n}, dtype, count, kernel="matmul")


def test_roofline_on_a_trn2_logical_core() -> None:
    # 4096³ BF16 GEMM: 2·4096³ = 1.374e11 FLOP at 667e12/4 FLOP/s per LNC=2 rank = 0.824 ms;
    # bytes 3·4096²·2 = 100.7 MB at 2.9e12/4 B/s = 0.139 ms: compute bound.
    op = _matmul(4096, 4096, 4096, count=3)
    expected = 3 * 2 * 4096**3 / (667e12 / 4)
    assert time_op(op, load_system("trn2"), "roofline") == pytest.approx(expected, rel=1e-12)
    # LNC=1 halves the rank: twice the time.
    assert time_op(op, load_chip("trn2"), "roofline", ranks_per_chip=8) == pytest.approx(2 * expected)


def test_roofline_memory_bound_op() -> None:
    # A residual add of 8192 x 4096 BF16: reads 2 tensors, writes 1 = 201 MB at 3.35 TB/s.
    op = Op("add", OpClass.ELEMENTWISE, Phase.FWD, 8192 * 4096, 2 * 8192 * 4096 * 2, 8192 * 4096 * 2,
            {"rows": 8192, "cols": 4096})
    assert time_op(op, load_chip("h100"), "roofline") == pytest.approx(3 * 8192 * 4096 * 2 / 3.35e12)


def test_h100_matmul_follows_its_efficiency_curve() -> None:
    # log10(1.374e11) = 11.138: between the h100.toml points (11, 0.72) and (12, 0.78), so
    # efficiency 0.72 + 0.138·0.06, times the fitted calibration_scale 0.81; time = FLOPs /
    # (989e12 · eff) + the 4 us launch overhead.
    op = _matmul(4096, 4096, 4096)
    x = math.log10(op.flops)
    eff = (0.72 + (x - 11) * 0.06) * 0.81
    expected = op.flops / (989e12 * eff) + 4e-6
    result = time_op_detailed(op, load_chip("h100"))
    assert result.method is Method.ANALYTIC
    assert result.seconds == pytest.approx(expected, rel=1e-9)


def test_small_gemms_are_less_efficient_than_large() -> None:
    chip = load_chip("h100")
    small = _matmul(256, 256, 256)
    large = _matmul(8192, 8192, 8192)
    eff = [op.flops / time_op(op, chip) / 989e12 for op in (small, large)]
    # Curve ends 0.08 (1e8 FLOPs) and 0.80 (1e13), times the calibration scale 0.80.
    assert eff[0] < 0.1 < 0.55 < eff[1] < 0.8 * 0.80


def test_fp8_uses_the_fp8_peak_where_there_is_one() -> None:
    bf16 = time_op(_matmul(8192, 8192, 8192), load_chip("h100"), "roofline")
    fp8 = time_op(_matmul(8192, 8192, 8192, Dtype.FP8), load_chip("h100"), "roofline")
    assert fp8 == pytest.approx(bf16 * 989 / 1979)
    # A100 and TPU v5p have no FP8 rate: FP8 runs at the BF16 rate.
    assert time_op(_matmul(8192, 8192, 8192, Dtype.FP8), load_chip("a100"), "roofline") == pytest.approx(
        time_op(_matmul(8192, 8192, 8192), load_chip("a100"), "roofline"))


def test_causal_attention_executes_about_half_the_blocks() -> None:
    # 4096 queries in blocks of 128: n = 32 blocks, 32·33/2 of 32² block pairs = 33/64.
    op = Op("attn", OpClass.ATTENTION, Phase.FWD, 1e12, 1.0, 1.0,
            {"batch_heads": 32, "seq_q": 4096, "seq_kv": 4096, "head_dim_qk": 128, "head_dim_v": 128,
             "causal": 1})
    assert executed_attention_flops(op) == pytest.approx(1e12 * 33 / 64)


def test_unknown_or_wrong_methods_are_clear_errors() -> None:
    op = _matmul(128, 128, 128)
    with pytest.raises(ConfigError, match="unknown timing method 'fast'"):
        time_op(op, load_chip("h100"), "fast")
    with pytest.raises(ConfigError, match="applies to Trainium only"):
        time_op(op, load_chip("h100"), "table")
    with pytest.raises(ConfigError, match="applies to GPUs and TPUs"):
        time_op(op, load_chip("trn2"), "analytic")


def test_user_efficiency_file_overrides_the_shipped_one(tmp_path: Path) -> None:
    shipped = (Path(__file__).parents[2] / "src/trnsim/devicetime/data/efficiency/h100.toml").read_text()
    (tmp_path / "efficiency").mkdir()
    (tmp_path / "efficiency" / "h100.toml").write_text(shipped.replace("launch_overhead_s = 4.0e-6",
                                                                       "launch_overhead_s = 1.0e-3"))
    assert load_efficiency(load_chip("h100"), str(tmp_path)).memory.launch_overhead_s == 1e-3
    bad = tmp_path / "bad"
    (bad / "efficiency").mkdir(parents=True)
    (bad / "efficiency" / "h100.toml").write_text(shipped.replace("efficiency = [0.02", "efficiency = [1.5"))
    with pytest.raises(ConfigError, match="efficiency values must be in"):
        load_efficiency(load_chip("h100"), str(bad))


def _power_law_table(tmp_path: Path) -> OpTable:
    # A synthetic table with t = 0.5 ns · m·k·n / 128³ + nothing else: exact in log-log.
    grid = ((128, 512, 2048), (128, 1024), (512, 4096))
    times = np.array([[[0.5 * m * k * n / 128**3 for n in grid[2]] for k in grid[1]] for m in grid[0]])
    table = OpTable("matmul", "bf16", "trn2", ("m", "k", "n"), grid, times, provenance="synthetic")
    path = table_path("matmul", "bf16", "trn2", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(table.to_json())
    return load_table(path)


def test_table_interpolation_is_exact_for_power_laws(tmp_path: Path) -> None:
    table = _power_law_table(tmp_path)
    for m, k, n in [(300, 700, 1000), (128, 128, 512), (2048, 1024, 4096)]:
        assert table.interpolate_ns({"m": m, "k": k, "n": n}) == pytest.approx(0.5 * m * k * n / 128**3)
    # Beyond the grid: linear in each axis (the same tiles repeated).
    beyond = table.interpolate_ns({"m": 8192, "k": 1024, "n": 8192})
    assert beyond == pytest.approx(0.5 * 8192 * 1024 * 8192 / 128**3)
    assert find_table("matmul", "bf16", "trn2", tmp_path) is not None
    assert find_table("matmul", "fp8", "trn2", tmp_path) is None


def test_bad_table_files_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"kernel": "matmul", "dtype": "bf16", "target": "trn2", "axes": ["m"], '
                    '"grid": [[1, 2]], "times_ns": [1.0]}')
    with pytest.raises(ConfigError, match="times_ns must be positive with shape"):
        load_table(path)


def test_disk_cache_round_trip_and_use(tmp_path: Path) -> None:
    cache = LatencyCache(tmp_path / "c.sqlite")
    op = _matmul(1024, 1024, 1024, count=2)
    from trnsim.devicetime import kernel_path

    version = kernel_path.timing_model_version("trn2")
    cache.put("matmul", op.shape, "bfloat16", "trn2", version, 5000.0)
    cache.close()
    reopened = LatencyCache(tmp_path / "c.sqlite")
    assert reopened.get("matmul", dict(op.shape), "bfloat16", "trn2", version) == 5000.0
    # A cached exact shape is used in auto mode: 5 us per call on one core, LNC=2 splits it over
    # the two cores of the logical core, twice (count=2), over the chip's calibration scale.
    timed = time_op_detailed(op, load_system("trn2"), cache=reopened)
    assert timed.method is Method.KERNEL
    scale = load_trainium_scale(load_chip("trn2")).calibration_scale
    assert timed.seconds == pytest.approx(2 * 5000e-9 / 2 / scale)


def test_time_step_adds_up_and_breaks_down() -> None:
    graph = build_step(load_model("llama3-8b"), Shard(tp=2), 1, 2048)
    step = time_step(graph, load_system("p5"))
    passes = [t.seconds for t in step.op_times if t.op.phase is not Phase.OPTIMIZER]
    assert step.compute_s == pytest.approx(sum(passes))
    assert sum(step.by_class_s.values()) == pytest.approx(step.total_s)
    assert step.by_class_s[OpClass.MATMUL] > step.by_class_s[OpClass.NORM]
    assert step.to_dict()["methods"] == {"analytic": len(step.op_times)}


def test_attention_tables_grow_quadratically_beyond_the_grid() -> None:
    # Causal attention with seq_k = seq_q: twice the sequence beyond the grid, four times the work.
    times = np.array([[100.0], [400.0]])
    table = OpTable("flash_attention_fwd", "bfloat16", "trn2", ("seq_q", "head_dim"), ((1024, 2048), (128,)),
                    times, extrapolation={"seq_q": 2.0})
    assert table.interpolate_ns({"seq_q": 4096, "head_dim": 128}) == pytest.approx(1600.0)
    assert table.interpolate_ns({"seq_q": 1448, "head_dim": 128}) == pytest.approx(100 * (1448 / 1024) ** 2)


def test_tables_from_another_chip_model_version_are_reported_stale(tmp_path: Path) -> None:
    from trnsim.devicetime.kernel_path import timing_model_version
    from trnsim.devicetime.tables import stale_tables

    for name, version in (("old", "trn2:000000000000"), ("new", timing_model_version("trn2"))):
        table = OpTable(name, "bfloat16", "trn2", ("rows",), ((128, 256),), np.array([1.0, 2.0]),
                        model_version=version)
        path = table_path(name, "bfloat16", "trn2", tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(table.to_json())
    assert stale_tables(tmp_path) == ["trn2/old-bfloat16"]


def test_the_timing_model_version_hashes_the_sources_once_for_every_target() -> None:
    """The sources behind a simulated latency are the same for every target: a process that times
    Trainium 1 and 2 (``trnsim compare``) reads and hashes them once, and tags each target's entries."""
    from trnsim.devicetime.kernel_path import _sources_digest, timing_model_version

    _sources_digest.cache_clear()
    versions = [timing_model_version(target) for target in ("trn1", "trn2", "trn1")]
    assert _sources_digest.cache_info().misses == 1
    assert [v.split(":")[0] for v in versions] == ["trn1", "trn2", "trn1"]
    assert len({v.split(":")[1] for v in versions}) == 1


def test_the_shipped_tables_were_made_by_the_installed_kernels_and_chip_model() -> None:
    """Every shipped op table carries the hash of the kernel and chip-model sources it was simulated
    with; a change to those sources (even a comment) without re-stamping ships tables `trnsim` then
    reports as stale. Re-stamp with `python -m trnsim.devicetime.regenerate` and check that only the
    model_version/provenance lines moved, unless the change meant to move values."""
    from trnsim.devicetime.tables import stale_tables

    assert stale_tables() == []
