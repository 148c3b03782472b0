"""What-if hardware goes through the catalog's override mechanism (in memory), traceably."""

from __future__ import annotations

import pytest

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.plan.sweep import WhatIf
from trnsim.plan.whatif import load_system_whatif


def test_scale_and_set_change_only_what_they_name() -> None:
    base = load_system("trn2")
    whatif = WhatIf(name="hbm-x2", scale={"chip.hbm_bw_bytes_per_s": 2.0},
                    set={"system.price_usd_per_node_hour": 40.0})
    changed = load_system_whatif("trn2", whatif)
    assert changed.chip.hbm_bw_bytes_per_s == 2 * base.chip.hbm_bw_bytes_per_s
    assert changed.price_usd_per_node_hour == 40.0
    assert changed.chip.peak_flops_bf16 == base.chip.peak_flops_bf16
    assert changed.chips_per_node == base.chips_per_node
    assert "hbm-x2" in changed.chip.sources["hbm_bw_bytes_per_s"].source
    assert load_system("trn2").chip.hbm_bw_bytes_per_s == base.chip.hbm_bw_bytes_per_s  # shipped intact


def test_baseline_is_the_shipped_system() -> None:
    assert load_system_whatif("p5", WhatIf(name="baseline")) == load_system("p5")


@pytest.mark.parametrize(
    ("whatif", "needle"),
    [
        (WhatIf(name="w", scale={"chip.hbm_speed": 2.0}), "unknown chip field 'hbm_speed'"),
        (WhatIf(name="w", scale={"gpu.hbm_bytes": 2.0}), "expected 'chip.<field>'"),
        (WhatIf(name="w", scale={"chip.display_name": 2.0}), "no number"),
    ],
)
def test_bad_whatif_is_one_line(whatif: WhatIf, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_system_whatif("trn2", whatif)
    assert needle in str(info.value) and "\n" not in str(info.value)
