"""Comparisons at equal chips and equal budget, and the seed claims read from them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.plan.toy_steps import ToyStepModel, toy_model, toy_system
from trnsim.hardware.catalog import ChipFamily, SystemSpec
from trnsim.plan import fork
from trnsim.plan.claims import check_claims
from trnsim.plan.compare import compare_systems, nodes_for_budget
from trnsim.plan.problem import TrainingJob
from trnsim.plan.space import SearchSpace

SPACE = SearchSpace(cp=(1,), interleave=(1, 2), micro_batches=(1, 2, 4))
# Links so fast that communication vanishes: step time is compute (+ a bubble proportional to it),
# so a chip 4× faster trains exactly 4× faster with the same plan.
FAST_LINKS = ToyStepModel(capacity_bytes=64e9, link_bytes_per_s=1e30, dp_link_bytes_per_s=1e30)
TRN2 = toy_system("trn2-toy", chip="trn2", price=20.0, power_w=None, speed=4.0)
TRN1 = toy_system("trn1-toy", chip="trn1", price=10.0, power_w=None, speed=1.0)
H200 = toy_system("h200-toy", chip="h200", price=None, power_w=None, speed=2.0)
JOB = TrainingJob(tokens=1e10, seq_len=2048, global_batch=64)


def test_nodes_for_budget_by_hand() -> None:
    # $100/h at $7/h buys 14 nodes; the largest 2^k or 3·2^k ≤ 14 is 12.
    assert nodes_for_budget(100, 7) == 12
    assert nodes_for_budget(100, 30) == 3
    assert nodes_for_budget(100, 200) == 0


def test_equal_chips_and_equal_budget() -> None:
    result = compare_systems(toy_model(), [TRN2, TRN1, H200], JOB, 32, space=SPACE, steps=FAST_LINKS,
                             scaling_chips=(8, 16))
    trn2, trn1, h200 = (result.row(n) for n in ("trn2-toy", "trn1-toy", "h200-toy"))
    assert trn2 and trn1 and h200 and trn2.best and trn1.best and h200.best
    assert trn2.best.chips == trn1.best.chips == h200.best.chips == 32
    # Reference = first priced system (trn2-toy): 32 chips = 4 nodes × $20 = $80/h, which buys
    # 8 trn1 nodes ($10/h) = 64 chips; the H200 system has no price, so no equal-budget plan.
    assert result.reference == "trn2-toy" and result.hourly_budget_usd == 80.0
    assert trn1.equal_budget and trn1.equal_budget.best.chips == 64
    assert h200.equal_budget is None and h200.equal_budget_note and "unknown" in h200.equal_budget_note
    assert [p.chips for p in trn1.scaling] == [8, 16]
    assert h200.best.cost_usd is None


def test_claims_are_read_from_the_comparison() -> None:
    result = compare_systems(toy_model(), [TRN2, TRN1, H200], JOB, 32, space=SPACE, steps=FAST_LINKS)
    four_x, price_perf, ultra = check_claims(result)
    assert four_x.prediction.startswith("4.00×")  # 4× the FLOP/s and no communication: 4×
    assert "cannot be checked" in price_perf.prediction and "h200-toy" in price_perf.prediction
    assert "not evaluated" in ultra.prediction


def test_equal_budget_falls_back_to_a_power_of_two() -> None:
    # $130/h at $10/h buys 13 nodes, rounded to 12 = 3·4 → 96 ranks = 3·2^5. The factor 3 fits
    # nowhere: tp must divide 16 heads, pp the 32 layers or 32 + 2 (first and last stages one layer
    # lighter), dp the batch of 64, and cp is 1 here. So the comparison falls back to 8 nodes = 64 chips.
    result = compare_systems(toy_model(layers=32), [TRN1], JOB, 32, space=SPACE, steps=FAST_LINKS,
                             hourly_budget_usd=130.0)
    row = result.row("trn1-toy")
    assert row and row.equal_budget is not None
    assert row.equal_budget.best.chips == 8 * 8  # 12 nodes cannot split; 8 nodes can
    assert row.equal_budget_note and row.equal_budget_note.startswith("8 nodes")


def test_process_pool_gives_the_same_comparison() -> None:
    systems = [TRN2, TRN1]
    serial = compare_systems(toy_model(), systems, JOB, 32, space=SPACE, steps=FAST_LINKS,
                             scaling_chips=(8, 16))
    pooled = compare_systems(toy_model(), systems, JOB, 32, space=SPACE, steps=FAST_LINKS,
                             scaling_chips=(8, 16), workers=2)
    for a, b in zip(serial.rows, pooled.rows, strict=True):
        assert a.best and b.best and a.best.candidate == b.best.candidate
        assert a.best.time_to_train_s == b.best.time_to_train_s
        assert [p.chips for p in a.scaling] == [p.chips for p in b.scaling]


def _trainium(system: SystemSpec) -> SystemSpec:
    return system.model_copy(update={"chip": system.chip.model_copy(update={"family": ChipFamily.TRAINIUM})})


@pytest.mark.skipif(not fork.can_fork(), reason="forks only on Linux with a single thread")
def test_forked_half_gives_the_same_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    systems = [_trainium(TRN2), _trainium(TRN1), H200]
    serial = compare_systems(toy_model(), systems, JOB, 32, space=SPACE, steps=FAST_LINKS,
                             scaling_chips=(8, 16))
    forks: list[list[object]] = []
    real = fork.run_forked

    def recording(function: Callable[..., object], tasks: list[tuple[object, tuple[object, ...]]]) -> object:
        forks.append([tag for tag, _ in tasks])
        return real(function, tasks)

    monkeypatch.setattr(fork, "run_forked", recording)
    monkeypatch.setattr(fork, "spare_core", lambda cpus: True)  # whatever else runs on the machine
    split = compare_systems(toy_model(), systems, JOB, 32, space=SPACE, steps=FAST_LINKS,
                            scaling_chips=(8, 16), split=True)
    # the GPU's searches went to the child (forked where it can), the Trainium ones stayed here
    assert forks == [[("h200-toy", 32), ("h200-toy", 8), ("h200-toy", 16)]]
    for a, b in zip(serial.rows, split.rows, strict=True):
        assert a.best and b.best and a.best.candidate == b.best.candidate
        assert a.best.time_to_train_s == b.best.time_to_train_s
        assert a.best.estimate == b.best.estimate
        assert [(p.chips, p.candidate) for p in a.scaling] == [(p.chips, p.candidate) for p in b.scaling]
        assert a.equal_budget_note == b.equal_budget_note


def test_unknown_trn2_price_gives_the_break_even_price() -> None:
    # Same plan on both (communication-free toy), Trn2 toy 4/2 = 2× the H200 toy's tokens/s per
    # node. 30 % better tokens per USD than H200 at $10/h needs P ≤ 2 × 10 / 1.3 = $15.38 (40 %:
    # 2 × 10 / 1.4 = $14.29).
    trn2 = toy_system("trn2-toy", chip="trn2", price=None, power_w=None, speed=4.0)
    h200 = toy_system("h200-toy", chip="h200", price=10.0, power_w=None, speed=2.0)
    comparison = compare_systems(toy_model(), [trn2, h200], JOB, 32, space=SPACE, steps=FAST_LINKS)
    _, price_perf, _ = check_claims(comparison)
    assert "cannot be checked" in price_perf.prediction
    assert "trn2-toy ≤ $15/node-hour (40 %: ≤ $14)" in price_perf.prediction


def test_comparison_tables_fit_100_columns_without_wrapping() -> None:
    from rich.console import Console

    from trnsim.report.tables import comparison_notes, comparison_table, prices_table

    long_name = toy_system("trn2-ultraserver", price=None, power_w=None, speed=4.0)
    result = compare_systems(toy_model(), [long_name, TRN1, H200], JOB, 32, space=SPACE, steps=FAST_LINKS)
    console = Console(width=100, record=True)
    for equal_budget in (False, True):
        table = comparison_table(result, equal_budget=equal_budget)
        console.print(table)
        text = console.export_text()
        lines = text.splitlines()
        assert max(len(line.rstrip()) for line in lines) <= 100
        # title, 2 header lines (tok/s / per chip), rule, one line per system: nothing wrapped
        assert len(lines) == 4 + 3, text
    notes = comparison_notes(result, equal_budget=True)
    # the unpriced system has no equal-budget plan: its note says why, below the table
    assert any(n.startswith("trn2-ultraserver: price of trn2-ultraserver unknown") for n in notes)
    console.print(prices_table(result))
    assert max(len(line.rstrip()) for line in console.export_text().splitlines()) <= 100


def test_compare_reference_defaults_to_p5e_when_compared() -> None:
    import pytest

    from trnsim.cli.cmd_plan import DEFAULT_SYSTEMS, resolve_reference
    from trnsim.errors import ConfigError

    names = DEFAULT_SYSTEMS.split(",")
    assert resolve_reference(None, names) == "p5e"  # the seed claim is against P5e
    assert resolve_reference(None, ["trn2", "trn1"]) is None  # compare falls back to the first priced
    assert resolve_reference("trn1", names) == "trn1"
    with pytest.raises(ConfigError, match="not among --systems"):
        resolve_reference("b200", names)
