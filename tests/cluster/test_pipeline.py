"""Pipeline schedules: bubble, warm-up and activations in flight, derived by hand."""

from __future__ import annotations

import pytest

from trnsim.cluster.pipeline import Schedule, inflight_whole, pipeline_timing
from trnsim.errors import ConfigError


def test_1f1b_bubble_fraction() -> None:
    # p = 4 stages, m = 8 micro-batches, t_f = 1, t_b = 2: ideal 8 x 3 = 24; bubble (4-1) x 3 = 9;
    # fraction (p-1)/m = 3/8.
    t = pipeline_timing(Schedule.ONE_F_ONE_B, 4, 8, 1.0, 2.0)
    assert t.compute_s == pytest.approx(24.0)
    assert t.bubble_s == pytest.approx(9.0)
    assert t.bubble_fraction == pytest.approx(3 / 8)
    assert t.total_s == pytest.approx(33.0)
    # 1F1B holds at most p micro-batches; GPipe holds all m, for the same bubble.
    assert t.inflight_microbatches == 4
    gpipe = pipeline_timing(Schedule.GPIPE, 4, 8, 1.0, 2.0)
    assert gpipe.bubble_s == t.bubble_s and gpipe.inflight_microbatches == 8


def test_interleaving_divides_the_bubble_and_raises_memory() -> None:
    # v = 2: bubble (p-1)(t_f+t_b)/v = 4.5; first stage holds p (1 + (p-1)/(p v)) = 4 x 11/8 = 5.5.
    t = pipeline_timing(Schedule.INTERLEAVED, 4, 8, 1.0, 2.0, interleave=2)
    assert t.bubble_s == pytest.approx(4.5)
    assert t.bubble_fraction == pytest.approx(3 / 16)
    assert t.inflight_microbatches == pytest.approx(5.5)
    assert inflight_whole(t) == 6


def test_stage_sends_on_the_critical_path() -> None:
    # p2p 0.1 each; m = 8, v = 1: 2 v m + 2 (p-1) = 22 sends -> 2.2 s; v = 2 -> 38 sends.
    assert pipeline_timing(Schedule.ONE_F_ONE_B, 4, 8, 1, 2, p2p_s=0.1).p2p_s == pytest.approx(2.2)
    assert pipeline_timing(Schedule.INTERLEAVED, 4, 8, 1, 2, 2, p2p_s=0.1).p2p_s == pytest.approx(3.8)
    # One stage: no bubble, no sends.
    single = pipeline_timing(Schedule.ONE_F_ONE_B, 1, 8, 1, 2, p2p_s=0.1)
    assert single.bubble_s == 0 and single.p2p_s == 0


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="interleave 2 needs schedule 'interleaved'"):
        pipeline_timing(Schedule.ONE_F_ONE_B, 4, 8, 1, 2, interleave=2)
    with pytest.raises(ConfigError, match=">= 1"):
        pipeline_timing(Schedule.GPIPE, 0, 8, 1, 2)
