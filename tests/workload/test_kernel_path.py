"""The Trainium kernel path: op -> kernel call -> chip model, disk cache, generated tables.

The mechanism is tested with a stand-in simulator whose latency is a known function of the shape,
so every expected value below follows from that function; the real kernels and chip model are
exercised by ``test_real_kernel_path`` when those layers are installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from trnsim.devicetime import kernel_path, tables
from trnsim.devicetime import timing as timing_module
from trnsim.devicetime.cache import CACHE_ENV
from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase
from trnsim.devicetime.regenerate import GRIDS, generate_table
from trnsim.devicetime.tables import OpTable, table_path
from trnsim.devicetime.timing import Method, time_op_detailed
from trnsim.devicetime.trainium_scale import load_trainium_scale
from trnsim.hardware.catalog import load_chip, load_system
from trnsim.workload.graph import build_step
from trnsim.workload.models import load_model
from trnsim.workload.shard import Shard


def _fake_ns(kernel: str, shape: dict[str, int]) -> float:
    """Stand-in chip model: 1 us launch + work proportional to the shape."""
    if kernel == "matmul":
        return 1000.0 + shape["m"] * shape["k"] * shape["n"] / 128**2
    if kernel.startswith("flash_attention"):
        return 1000.0 + shape["seq_q"] * shape["seq_k"] * shape["head_dim"] / 128
    return 1000.0 + float(sum(shape.values()))


@pytest.fixture
def fake_layers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, dict[str, int]]]:
    calls: list[tuple[str, dict[str, int]]] = []

    def entry(name: str) -> SimpleNamespace:
        return SimpleNamespace(kernel=name, make_args=lambda shape, dtype: (name, dict(shape), dtype))

    def predict(kernel: str, name: str, shape: dict[str, int], dtype: str, target: str) -> float:
        calls.append((name, shape))
        return _fake_ns(name, shape)

    monkeypatch.setattr(kernel_path, "_registry", lambda: SimpleNamespace(get=entry))
    monkeypatch.setattr(kernel_path, "_core", lambda: predict)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return calls


def _scale(chip: str) -> float:
    """The chip's end-to-end calibration scale: every simulated-kernel time is divided by it."""
    return load_trainium_scale(load_chip(chip)).calibration_scale


def _mm(m: int, k: int, n: int) -> Op:
    return Op("mm", OpClass.MATMUL, Phase.FWD, 2.0 * m * k * n, 1.0, 1.0, {"m": m, "k": k, "n": n},
              Dtype.BF16, 1, kernel="matmul")


def test_kernel_method_simulates_once_then_hits_the_disk_cache(fake_layers) -> None:
    system = load_system("trn2")  # LNC=2: the two cores of the logical core split the op
    op = _mm(1024, 2048, 512)
    first = time_op_detailed(op, system, "kernel")
    again = time_op_detailed(op, system, "auto")
    assert len(fake_layers) == 1 and fake_layers[0] == ("matmul", {"m": 1024, "k": 2048, "n": 512})
    assert first.method is again.method is Method.KERNEL
    assert first.seconds == again.seconds == pytest.approx(
        _fake_ns("matmul", op.shape) / 2 * 1e-9 / _scale("trn2"))


def test_attention_ops_launch_one_kernel_per_head(fake_layers) -> None:
    graph = build_step(load_model("llama3-8b"), Shard(tp=8, cp=2), 1, 4096)
    attn = next(op for op in graph.ops if op.name == "attention")
    timed = time_op_detailed(attn, load_system("trn1"), "kernel")  # trn1: LNC=1
    shape = {"batch": 1, "heads": 1, "kv_heads": 1, "seq_q": 2048, "seq_k": 4096, "head_dim": 128,
             "causal": 1}
    assert fake_layers == [("flash_attention_fwd", shape)]
    # 32 heads / tp 8 = 4 heads, batch 1: four launches per layer, 32 layers.
    expected = 4 * 32 * _fake_ns("flash_attention_fwd", shape) * 1e-9 / _scale("trn1")
    assert timed.seconds == pytest.approx(expected)


def test_ops_without_a_kernel_use_the_add_kernel_as_proxy_or_the_roofline(
        fake_layers, tmp_path, monkeypatch) -> None:
    graph = build_step(load_model("llama3-8b"), Shard(), 1, 2048)
    rope = next(op for op in graph.ops if op.name == "rope")
    with pytest.raises(kernel_path.KernelPathUnavailable, match="has no Trainium kernel"):
        time_op_detailed(rope, load_system("trn2"), "kernel")
    # A synthetic add table: 1 ns per element pair over the grid (rows 128..4096, cols 1024..8192).
    grid = ((128, 4096), (1024, 8192))
    times = np.array([[float(r * c) for c in grid[1]] for r in grid[0]])
    path = table_path("add", "bfloat16", "trn2", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(OpTable("add", "bfloat16", "trn2", ("rows", "cols"), grid, times).to_json())
    add_table = tables.load_table(path)
    monkeypatch.setattr(timing_module, "find_table", lambda *a: add_table if a[0] == "add" else None)
    timing_module.clear_memo()
    timed = time_op_detailed(rope, load_system("trn2"))
    # RoPE over 2048 rows x (32 + 8) x 128 columns reads and writes one BF16 tensor: its bytes over
    # the add kernel's (3 tensors) times the add time rows·cols ns, halved by the LNC=2 pair, over
    # the chip's calibration scale.
    rows, cols = rope.shape["rows"], rope.shape["cols"]
    expected = rows * cols * (rope.bytes_read + rope.bytes_written) / (3 * rows * cols * 2) / 2 * 1e-9
    assert timed.method is Method.PROXY
    assert timed.seconds == pytest.approx(expected * rope.count / _scale("trn2"))
    monkeypatch.setattr(timing_module, "find_table", lambda *a: None)
    timing_module.clear_memo()
    assert time_op_detailed(rope, load_system("trn2")).method is Method.ROOFLINE
    timing_module.clear_memo()


def test_generated_table_matches_fresh_simulations_off_grid(fake_layers, tmp_path, monkeypatch) -> None:
    spec = next(s for s in GRIDS if s.kernel == "matmul")
    table = generate_table(spec, "bfloat16", "trn2")
    path = table_path("matmul", "bfloat16", "trn2", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(table.to_json())
    monkeypatch.setattr(tables, "TABLE_DIR", tmp_path)
    tables.find_table.cache_clear()
    try:
        worst = 0.0
        for m, k, n in [(300, 700, 1000), (1500, 3000, 1024), (4096, 1024, 3000)]:
            interpolated = table.interpolate_ns({"m": m, "k": k, "n": n})
            fresh = _fake_ns("matmul", {"m": m, "k": k, "n": n})
            worst = max(worst, abs(interpolated / fresh - 1))
            print(f"{m}x{k}x{n}: table {interpolated:.0f} ns, simulated {fresh:.0f} ns")
        # Launch cost + a power law: log-log interpolation is within a few percent of it.
        assert worst < 0.1
    finally:
        tables.find_table.cache_clear()


_REAL = all(importlib.util.find_spec(m) is not None for m in ("trnsim.kernels.registry", "trnsim.nki.legacy"))


@pytest.mark.skipif(not _REAL, reason="the kernel library and NKI front end are not in this tree")
def test_real_kernel_path_against_the_roofline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    op = _mm(512, 512, 512)
    system = load_system("trn2")
    simulated = time_op_detailed(op, system, "kernel")
    roofline = time_op_detailed(op, system, "roofline")
    print(f"matmul 512^3 on a trn2 logical core: kernel {simulated.seconds * 1e6:.1f} us, "
          f"roofline {roofline.seconds * 1e6:.1f} us")
    # The roofline is a lower bound on any simulated kernel.
    assert simulated.seconds >= roofline.seconds


def test_matmul_call_pads_k_and_m_to_whole_pe_tiles() -> None:
    """Llama 2 13B's fc2 weight gradient at tp8: m = 13824/8 = 1728 rows of the stationary operand
    (13.5 tiles of 128 PE columns) and K = 4096 tokens; the partial tile occupies the array like a
    full one, so the call is m = 14·128 = 1792. N = 5120 splits into ⌈5120/2048⌉ = 3 launches of
    ⌈5120/3⌉ = 1707 → 1792 columns. fc2 forward: K = 1728 → 1792, m = 4096 → 2 launches of 2048."""
    wgrad = Op("fc2.wgrad", OpClass.MATMUL, Phase.BWD, 0.0, 0.0, 0.0, {"m": 1728, "k": 4096, "n": 5120},
               Dtype.BF16, 1, kernel="matmul")
    call = kernel_path.kernel_call(wgrad)
    assert call is not None and (dict(call.shape), call.repeats) == ({"m": 1792, "k": 4096, "n": 1792}, 3)
    fwd = Op("fc2", OpClass.MATMUL, Phase.FWD, 0.0, 0.0, 0.0, {"m": 4096, "k": 1728, "n": 5120},
             Dtype.BF16, 1, kernel="matmul")
    call = kernel_path.kernel_call(fwd)
    assert call is not None and (dict(call.shape), call.repeats) == ({"m": 2048, "k": 1792, "n": 1792}, 6)
