"""The headline sentence and the break-even prices, on entries whose answers follow by hand."""

from __future__ import annotations

import pytest

from trnsim.report.story import break_even_prices, headline_sentence


def _entry(system: str, days: float, cost: float | None, hours: float, band: float | None = None) -> dict:
    return {"kind": "equal-chips", "system": system, "series": system, "chips": 64,
            "time_to_train_days": days, "cost_usd": cost, "instance_hours": hours, "error_band": band}


ENTRIES = [_entry("trn2", 10.0, None, 1000.0), _entry("p5e", 12.5, 130_000.0, 500.0),
           _entry("trn1", 40.0, 100_000.0, 2000.0), {**_entry("p5e", 1.0, 1.0, 1.0), "kind": "scaling"}]


def test_break_even_price_makes_the_cost_the_reference_cost_over_one_plus_the_margin() -> None:
    (even,) = break_even_prices(ENTRIES, "p5e")
    # 30 % better price-performance: cost 130,000 / 1.3 = 100,000 over 1,000 node-hours.
    assert even.system == "trn2" and even.prices == pytest.approx((100.0, 130_000 / 1.4 / 1000))
    assert even.cost_at(even.prices[0]) == pytest.approx(100_000.0)
    assert break_even_prices(ENTRIES, "trn2") == []  # an unpriced reference has no cost to beat


def test_headline_names_fastest_cheapest_and_trn2_against_trn1_and_p5e() -> None:
    text = headline_sentence(ENTRIES, "p5e")
    assert text == (
        "At 64 chips each, trn2 trains fastest: 10.0 days, 1.25× faster than the next, p5e; the cheapest "
        "priced is trn1 at $100k (the next, p5e, costs 1.30× as much). trn2 is 4.00× faster than trn1 and "
        "1.25× faster than p5e. trn2 has no public price: it is 30% / 40% better in price-performance than "
        "p5e (this job's cost, goodput included) at $100.00 and $92.86 per node-hour or less.")


def test_headline_carries_the_error_band_and_says_when_nothing_fits() -> None:
    banded = [_entry("p5e", 12.5, 130_000.0, 500.0, 0.06), _entry("trn2", 15.0, None, 900.0, 0.41)]
    text = headline_sentence(banded, "p5e")
    assert text.startswith("At 64 chips each, p5e trains fastest: 12.5 days (±6%)")
    assert "trn2 is 1.20× slower than p5e (±41%)." in text
    assert headline_sentence([], "p5e") == "No system has a feasible plan at the compared chip count."
