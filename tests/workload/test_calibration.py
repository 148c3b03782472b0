"""Device-only compute of the published runs must be a lower bound on their measured step time.

The measured steps also pay for collectives, pipeline bubbles and imperfect overlap, which this
layer does not model; so device-only ÷ measured must stay below 1 for every row (a curve that is
too pessimistic fails here). Per-row figures are printed; the cluster layer explains the rest.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_BENCH = Path(__file__).parents[2] / "benchmarks" / "device_calibration.py"


def _module():
    spec = importlib.util.spec_from_file_location("device_calibration", _BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_device_only_time_is_below_every_measured_step() -> None:
    bench = _module()
    directory = next((d for d in bench.DEFAULT_DIRS if d.is_dir()), None)
    if directory is None:
        pytest.skip("no calibration data directory")
    rows = bench.calibration_rows(directory)
    assert len(rows) == 27
    for label, device, measured in rows:
        print(f"{label}: device-only {device:.3f} s, measured {measured:.3f} s, "
              f"ratio {device / measured:.2f}")
    ratios = [device / measured for _, device, measured in rows]
    assert max(ratios) < 1.0
    # And not absurdly low: compute is most of a well-tuned Megatron step.
    assert min(ratios) > 0.4
