"""What a plan evaluation shares and memoises gives the values computed afresh.

The step graphs of a model's stages share their layer blocks and ends (parts); a block of ``L``
layers is a one-layer template counted again; an efficiency curve interpolates in Python; a
repeated ``time_ops`` call returns a memo hit's value, which its ``later`` list announces. Each
check compares against the plain computation.
"""

from __future__ import annotations

import itertools

import numpy as np

from trnsim.devicetime.efficiency import EFFICIENCY, Curve, EfficiencyCurves, load_efficiency
from trnsim.devicetime.timing import clear_memo, time_ops, time_runs
from trnsim.hardware.catalog import load_system
from trnsim.hardware.datafile import CATALOG_ENV
from trnsim.workload.graph import _dims, build_skeleton, build_step, clear_cache, params_on_rank
from trnsim.workload.models import load_model
from trnsim.workload.options import Precision, Recompute
from trnsim.workload.shard import Shard


def test_curve_interpolation_is_numpys_to_the_last_bit() -> None:
    curves = [EFFICIENCY.load_model(name, EfficiencyCurves) for name in EFFICIENCY.names()]
    cases = [c for curve in curves for c in (curve.matmul_bf16, curve.attention_fwd, curve.attention_bwd)]
    cases.append(Curve(log10_flops=(0.5, 1.7, 1.9, 6.25), efficiency=(0.9, 0.013, 0.5, 0.25)))
    rng = np.random.default_rng(13)
    for curve in cases:
        xp, fp = np.asarray(curve.log10_flops), np.asarray(curve.efficiency)
        knots = [10.0**x for x in curve.log10_flops]
        points = [0.0, 1.0, 3.0, *knots, *(k * (1 + 1e-12) for k in knots), *(k * (1 - 1e-12) for k in knots),
                  *(10.0 ** rng.uniform(-1.0, 16.0, 400)), 1e300]
        for flops in points:
            assert curve(flops) == float(np.interp(np.log10(max(flops, 1.0)), xp, fp)), (curve, flops)


def _fields(op: object) -> tuple[object, ...]:
    return tuple(getattr(op, name) for name in ("name", "op_class", "phase", "flops", "bytes_read",
                                                "bytes_written", "dtype", "kernel", "epilogue_of"))


def test_a_block_of_l_layers_is_one_layer_counted_l_times() -> None:
    # MoE (experts counted per local expert) and dense layers, each recompute mode.
    for name, recompute in itertools.product(("mixtral-8x7b", "llama3-8b"), Recompute):
        model = load_model(name)
        ep = 2 if model.is_moe else 1
        one, five = (build_step(model, Shard(tp=2, ep=ep, layers=n, has_embedding=False, has_lm_head=False),
                                1, 1024, recompute=recompute, flash_attention=False) for n in (1, 5))
        assert [_fields(op) for op in five.ops] == [_fields(op) for op in one.ops]
        assert [op.shape for op in five.ops] == [op.shape for op in one.ops]
        assert [op.count for op in five.ops] == [5 * op.count for op in one.ops]
        assert [(t.name, t.nbytes, t.count) for t in five.saved] == [
            (t.name, t.nbytes, 5 * t.count) for t in one.saved]
        assert five.layer_working_bytes == one.layer_working_bytes


def test_stage_graphs_share_their_layer_parts() -> None:
    model = load_model("llama3-8b")
    first = build_step(model, Shard(tp=4, sequence_parallel=True, layers=8, has_lm_head=False), 1, 2048)
    middle = build_step(model, Shard(tp=4, sequence_parallel=True, layers=8, first_layer=8,
                                     has_embedding=False, has_lm_head=False), 1, 2048)
    last = build_step(model, Shard(tp=4, sequence_parallel=True, layers=8, first_layer=16,
                                   has_embedding=False), 1, 2048)
    for graph in (first, middle, last):
        assert graph.ops == tuple(op for part in graph.parts for op in part)
    shared = {id(part) for part in middle.parts}
    assert shared <= {id(part) for part in first.parts} and shared <= {id(part) for part in last.parts}
    assert len(first.parts) == len(middle.parts) + 2 == len(last.parts)  # an end's forward and backward


def test_time_ops_later_is_what_a_repeated_call_returns() -> None:
    clear_memo()
    clear_cache()
    graph = build_step(load_model("llama3-70b"), Shard(tp=8, sequence_parallel=True, layers=7), 1, 4096)
    for name in ("p5", "trn2"):
        system = load_system(name)
        later: list[float] = []
        first = time_ops(graph.ops, system, later=later)
        again = time_ops(graph.ops, system)
        assert later == again and len(first) == len(graph.ops)
        # a memo hit is (first / count) * count: two roundings of at most half an ulp each
        assert all(abs(a - b) <= 2.0**-52 * abs(a) for a, b in zip(first, again, strict=True))


def _skeleton_cases() -> list[tuple[str, Shard, Recompute, bool]]:
    cases = []
    for name, recompute, flash in itertools.product(("gpt3-175b", "mixtral-8x7b", "llama3-8b"), Recompute,
                                                   (True, False)):
        ep = 2 if name == "mixtral-8x7b" else 1
        roles = ((0, True, False), (8, False, False), (16, False, True), (0, True, True))  # the last: pp=1
        for first, embedding, head in roles:
            layers = None if embedding and head else 8
            cases.append((name, Shard(tp=2, sequence_parallel=True, ep=ep, layers=layers, first_layer=first,
                                      has_embedding=embedding, has_lm_head=head), recompute, flash))
    return cases


def test_a_skeleton_holds_its_graphs_ops_and_figures() -> None:
    # The runs, recounted, are the graph's parts op for op; the figures are the graph's, to the bit.
    for name, shard, recompute, flash in _skeleton_cases():
        model = load_model(name)
        graph = build_step(model, shard, 1, 2048, recompute=recompute, flash_attention=flash)
        skeleton = build_skeleton(model, shard, 1, 2048, recompute=recompute, flash_attention=flash)
        recounted = [[(op, times) for ops, times in part for op in ops] for part in skeleton.parts]
        assert [len(part) for part in recounted] == [len(part) for part in graph.parts]
        for runs, part in zip(recounted, graph.parts, strict=True):
            assert [(*_fields(op), op.count * times, dict(op.shape)) for op, times in runs] == [
                (*_fields(op), op.count, dict(op.shape)) for op in part]
        for figure in ("params", "dense_layers", "moe_layers", "activation_bytes", "head_activation_bytes",
                       "largest_written_bytes", "layer_working_bytes"):
            assert getattr(skeleton, figure) == getattr(graph, figure), (name, shard, recompute, figure)


def test_time_runs_is_time_ops_of_the_recounted_ops() -> None:
    # From an empty memo (the first call computes, the memo keeps a per-instance time) and again.
    model = load_model("llama3-70b")
    shard = Shard(tp=8, sequence_parallel=True, layers=7)
    for name in ("p5", "trn2"):
        system = load_system(name)
        clear_memo()
        clear_cache()
        graph = build_step(model, shard, 1, 4096)
        first_later: list[float] = []
        first = [t for part in graph.parts for t in time_ops(part, system, later=first_later)]
        clear_memo()
        clear_cache()
        skeleton = build_skeleton(model, shard, 1, 4096)
        runs_later: list[float] = []
        runs_first = [t for part in skeleton.parts for t in time_runs(part, system, later=runs_later)]
        assert runs_first == first and runs_later == first_later
        again = [t for part in skeleton.parts for t in time_runs(part, system)]  # per-instance cache hits
        assert again == first_later


def test_a_ranks_parameters_and_dimensions_do_not_depend_on_what_came_before() -> None:
    # Per-layer parameters are cached by (TP, EP) and a shard's dimensions by (TP, CP, SP, micro-batch,
    # sequence, precision): every shard, computed after the others in two orders, equals it alone.
    cases = []
    for name in ("gpt3-175b", "mixtral-8x7b", "deepseek-v3", "llama3-8b"):
        model = load_model(name)
        tps = [t for t in (1, 2, 4, 8) if model.num_heads % t == 0]
        eps = (1, 2) if model.is_moe else (1,)
        for tp, ep, cp, sp, (first, last), mb in itertools.product(
                tps, eps, (1, 2), (False, True), ((True, False), (False, False), (False, True), (True, True)),
                (1, 2)):
            if sp and tp == 1:
                continue
            shard = Shard(tp=tp, ep=ep, cp=cp, sequence_parallel=sp, layers=3, first_layer=2,
                          has_embedding=first, has_lm_head=last)
            cases.append((model, shard, mb))

    def figures(model: object, shard: Shard, mb: int) -> tuple[object, ...]:
        return (params_on_rank(model, shard), _dims(model, shard, mb, 4096, Precision.BF16),
                _dims(model, shard, mb, 2048, Precision.FP8))

    alone = []
    for case in cases:
        clear_cache()
        alone.append(figures(*case))
    for order in (range(len(cases)), reversed(range(len(cases)))):
        clear_cache()
        warm = {i: figures(*cases[i]) for i in order}
        assert [warm[i] for i in range(len(cases))] == alone


def test_an_efficiency_file_is_parsed_again_only_when_it_changed(tmp_path, monkeypatch) -> None:
    # clear_memo forgets the curves in force; the parsed file is kept by its bytes, so an unchanged
    # file gives the same curves without parsing, and a file edited in-process gives the new ones.
    chip = load_system("p5").chip
    user = tmp_path / "efficiency" / f"{chip.name}.toml"
    user.parent.mkdir()
    text = EFFICIENCY.shipped_file(chip.name).read_text()
    assert "\nbw_efficiency = 0.80\n" in text
    user.write_text(text)
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path))
    clear_memo()
    first = load_efficiency(chip)
    clear_memo()
    assert load_efficiency(chip) is first
    user.write_text(text.replace("\nbw_efficiency = 0.80\n", "\nbw_efficiency = 0.60\n"))
    clear_memo()
    edited = load_efficiency(chip)
    assert (first.memory.bw_efficiency, edited.memory.bw_efficiency) == (0.80, 0.60)
    monkeypatch.delenv(CATALOG_ENV)
    clear_memo()
    assert load_efficiency(chip).memory.bw_efficiency == 0.80  # the shipped file again
