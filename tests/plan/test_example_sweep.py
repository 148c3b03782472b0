"""The sweep spec the README points to parses and expands to models × systems × chips × what-ifs."""

from __future__ import annotations

from pathlib import Path

from trnsim.plan.sweep import Knob, load_sweep_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sweep.toml"


def test_example_sweep_spec_expands_to_every_combination() -> None:
    spec = load_sweep_spec(EXAMPLE)
    # 2 models × 2 systems × 2 chip counts × 3 what-ifs
    assert len(spec.points()) == 2 * 2 * 2 * 3
    by_name = {w.name: w for w in spec.whatif}
    assert by_name["baseline"].is_baseline
    assert by_name["hbm_bw_x2"].knobs == {Knob.HBM_BW: 2.0}  # the name shorthand
    assert by_name["faster-efa"].knobs == {Knob.SCALE_OUT_BW: 2.0}
    assert len({p.key for p in spec.points()}) == len(spec.points())
