"""The chip model's public entry points refuse a wrong argument with one TrnsimError line.

``simulate_trace(trace, None)`` raised ``AttributeError: 'NoneType' object has no attribute
'memory'`` from deep in the model; a wrong ``options`` was taken and ignored. Each now says which
argument is wrong, what it got, and what would be valid (the known target names).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import trnsim.core as core
from trnsim.core.api import estimate_latency_ns
from trnsim.errors import TrnsimError
from trnsim.hardware.neuroncore_timing import known_targets

from .builder import TraceBuilder

TRACE = TraceBuilder("trn2").trace
TARGETS = ", ".join(known_targets())


@pytest.mark.parametrize(("call", "message"), [
    (lambda: core.simulate_trace(TRACE, None), f"timing must be a target name ({TARGETS}) or a "
                                               "NeuronCoreTiming (load_timing), got None"),
    (lambda: core.simulate_trace(TRACE, 2), "timing must be a target name"),
    (lambda: core.simulate_trace(None, "trn2"), "trace must be a KernelTrace"),
    (lambda: core.simulate_trace(TRACE, "trn2", options=1), "options must be a SimulationOptions or None"),
    (lambda: core.summarize(None), "result must be a TimelineResult"),
    (lambda: core.chrome_trace(None), "results must be a sequence of TimelineResults"),
    (lambda: core.chrome_trace([None]), "results must be a sequence of TimelineResults"),
    (lambda: core.predict_latency_ns(lambda: None, target=None), "target must be a target name"),
    (lambda: estimate_latency_ns(None), "trace must be a KernelTrace"),
])
def test_misuse_is_one_clear_line(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(TrnsimError) as caught:
        call()
    text = str(caught.value)
    assert message in text and "\n" not in text, text


def test_right_arguments_still_simulate() -> None:
    result = core.simulate_trace(TRACE, "trn2", options=core.SimulationOptions())
    assert core.summarize(result)["target"] == "trn2"
    assert core.chrome_trace([result])["traceEvents"]
