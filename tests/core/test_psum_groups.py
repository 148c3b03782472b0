"""The PSUM zero-fill pre-pass: its forward scans answer as the one pass over the trace.

``folded_psum_zero_fills`` finds the memsets by a search of the opcodes and scans forward from
each PSUM zero-fill to the next access of its allocation; past a budget of the trace's length it
switches to ``_folded_in_one_pass``. Random traces of zero-fills (and memsets that are not),
matmuls, reads and writes on a few PSUM and SBUF allocations must give the same positions both
ways, with and without the budget running out.
"""

from __future__ import annotations

import random

import pytest

from trnsim.core import psum_groups, simulate_trace
from trnsim.core.psum_groups import _folded_in_one_pass, folded_psum_zero_fills
from trnsim.core.simulate import SimulationOptions, _Simulation
from trnsim.hardware.neuroncore_timing import load_timing
from trnsim.nki.trace import Engine

from .builder import TraceBuilder


def _random_trace(seed: int, length: int = 400) -> TraceBuilder:
    rng = random.Random(seed)
    b = TraceBuilder("trn1")
    psum = [b.alloc() for _ in range(4)]
    sbuf = [b.alloc() for _ in range(3)]
    for _ in range(length):
        kind = rng.random()
        tile = b.psum((128, 128), alloc=rng.choice(psum))
        if kind < 0.3:  # a memset: mostly a PSUM zero-fill; some of SBUF, some not zero
            value = rng.choice((0.0, 0.0, 0, 1.0, "x"))
            out = tile if rng.random() < 0.8 else b.sbuf((128, 128), alloc=rng.choice(sbuf))
            b.add(Engine.VECTOR, "memset", (), (out,), value=value)
        elif kind < 0.6:  # a matmul into PSUM (now and then on another engine's queue, as a write)
            engine = Engine.TENSOR if rng.random() < 0.8 else Engine.VECTOR
            ins = (b.sbuf((128, 128), alloc=rng.choice(sbuf)), b.sbuf((128, 128), alloc=rng.choice(sbuf)))
            b.add(engine, "nc_matmul", ins, (tile,))
        elif kind < 0.8:  # a read of PSUM
            b.add(Engine.VECTOR, "tensor_copy", (tile,), (b.sbuf((128, 128), alloc=rng.choice(sbuf)),))
        elif kind < 0.9:  # TensorE reads and writes the same tile (accumulation)
            b.add(Engine.TENSOR, "nc_matmul", (b.sbuf((128, 128), alloc=rng.choice(sbuf)), tile), (tile,))
        else:  # SBUF only
            b.add(Engine.SCALAR, "activation", (b.sbuf((128, 128), alloc=rng.choice(sbuf)),),
                  (b.sbuf((128, 128), alloc=rng.choice(sbuf)),))
    return b


@pytest.mark.parametrize("seed", range(12))
def test_forward_scans_match_the_one_pass(seed: int) -> None:
    trace = _random_trace(seed).trace
    reference = _folded_in_one_pass(trace)
    assert reference  # the traces fold some zero-fills and keep others
    assert len(reference) < sum(1 for i in trace.instructions if i.opcode == "memset")
    assert folded_psum_zero_fills(trace) == reference


def test_long_scans_switch_to_the_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Many zero-fills up front and their matmuls at the end: each scan would cross the whole
    # trace; past the trace's length in steps the one pass answers (the same positions).
    b = TraceBuilder("trn1")
    accs = [b.alloc() for _ in range(40)]
    for acc in accs:
        b.add(Engine.VECTOR, "memset", (), (b.psum((128, 128), alloc=acc),), value=0.0)
    for acc in accs:
        b.add(Engine.TENSOR, "nc_matmul", (b.sbuf((128, 128)), b.sbuf((128, 128))),
              (b.psum((128, 128), alloc=acc),))
    calls = 0
    one_pass = psum_groups._folded_in_one_pass

    def counted(t: object) -> set[int]:
        nonlocal calls
        calls += 1
        return one_pass(t)  # type: ignore[arg-type]

    monkeypatch.setattr(psum_groups, "_folded_in_one_pass", counted)
    assert folded_psum_zero_fills(b.trace) == set(range(40))
    assert calls == 1


@pytest.mark.parametrize("seed", range(6))
def test_the_scheduler_folds_as_the_pre_pass(seed: int) -> None:
    """One core: the scheduler folds the zero-fills as it meets them (ZeroFills); the schedule and
    the count are those of the trace less the pre-pass's positions."""
    trace = _random_trace(seed, 300).trace
    result = simulate_trace(trace, "trn1")
    folded = folded_psum_zero_fills(trace)
    assert result.folded_psum_zero_fills == len(folded) > 0
    reference = _Simulation(trace, load_timing("trn1"), SimulationOptions())
    reference._run_stream([i for p, i in enumerate(trace.instructions) if p not in folded], 0)
    expected = reference._result()
    assert result.instructions == expected.instructions
    assert (result.latency_ns, result.critical_path_ns) == (expected.latency_ns, expected.critical_path_ns)
