"""The chip model's per-launch passes and per-instruction work that were cut, checked against the
work they replace.

* A one-core launch (``KernelTrace.num_cores == 1``) is scheduled straight from the trace without a
  pass that collects the cores its instructions name; the schedule checks each instruction's core
  as it comes and, if one names another core (a hand-made trace that does not say), starts again
  with the cores collected. The result must be that of the same trace stating its cores.
* A run of instructions with one compute cost unpacks it once; a DMA in between must not leave its
  values in the cost's locals.
* The peak PSUM banks of one core skip the pass over the keys' cores.
* The DMA queues' order (by free time, ties by number) kept from one transfer to the next must be
  the sort's at every transfer.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from trnsim.core import simulate as simulate_module
from trnsim.core import simulate_trace
from trnsim.nki.trace import Engine, Instruction, KernelTrace

from .builder import TraceBuilder
from .test_scheduler_fast_paths import _fields, _random_trace


def _stated(trace: KernelTrace, cores: int) -> KernelTrace:
    """The same instructions (the same objects) with ``num_cores`` set to ``cores``."""
    return dataclasses.replace(trace, instructions=list(trace.instructions), num_cores=cores)


@pytest.mark.parametrize(("seed", "target"), [(3, "trn1"), (4, "trn2"), (7, "trn3")])
def test_a_trace_on_two_cores_that_says_one_is_scheduled_by_core(seed: int, target: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    trace = _random_trace(seed, target, 2)
    assert {i.core for i in trace.instructions} == {0, 1}
    restarts = 0
    init = simulate_module._Simulation.__init__

    def counted(self: simulate_module._Simulation, *args: object) -> None:
        nonlocal restarts
        restarts += len(args) == 5  # (the second start, with the cores collected)
        init(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(simulate_module._Simulation, "__init__", counted)
    said_one = simulate_trace(_stated(trace, 1), target)
    assert restarts == 1
    assert _fields(said_one) == _fields(simulate_trace(_stated(trace, 2), target))
    assert said_one.num_cores == 2


def test_a_late_instruction_on_another_core_restarts_the_launch() -> None:
    """Core 0's whole stream is scheduled before the one instruction of core 1 (an HBM load, which
    also halves core 0's HBM share); and a trace on core 1 alone, and one whose only instruction on
    another core takes no engine (it still names that core)."""
    trace = _random_trace(0, "trn1", 1)
    last = trace.instructions[-1]
    load = next(i for i in trace.instructions if i.engine == Engine.DMA and i.opcode == "load")
    moved = dataclasses.replace(load, seq=last.seq + 1, core=1)
    late = _stated(trace, 1)
    late.instructions.append(moved)
    assert _fields(simulate_trace(late, "trn1")) == _fields(simulate_trace(_stated(late, 2), "trn1"))
    on_one = _stated(trace, 1)
    on_one.instructions[:] = [dataclasses.replace(i, core=1) for i in trace.instructions]
    assert _fields(simulate_trace(on_one, "trn1")) == _fields(simulate_trace(_stated(on_one, 2), "trn1"))
    idle = _stated(trace, 1)
    idle.instructions.insert(5, Instruction(seq=-1, engine=Engine.NONE, opcode="alloc", inputs=(), outputs=(),
                                            kernel=trace.kernel, source_file="f.py", source_line=1, core=1))
    assert _fields(simulate_trace(idle, "trn1")) == _fields(simulate_trace(_stated(idle, 2), "trn1"))


def test_a_one_core_launch_does_not_collect_its_cores_first() -> None:
    trace = _random_trace(1, "trn1", 1)
    assert trace.num_cores == 1
    simulation = simulate_module._Simulation(trace, simulate_module._shipped_timing("trn1"),
                                             simulate_module.SimulationOptions())
    assert simulation.core_ids == {0}  # (taken, not collected: checked as the schedule goes)
    assert _fields(simulation.run()) == _fields(simulate_trace(trace, "trn1"))


def _two_matmuls(transfer_between: bool) -> KernelTrace:
    """Two TensorE multiplies of one cost accumulating into one PSUM tile they also read, and a
    VectorE copy of it, with or without an unrelated load between the multiplies."""
    b = TraceBuilder("trn1")
    acc = b.alloc()
    for i in range(2):
        b.add(Engine.TENSOR, "nc_matmul",
              (b.sbuf((128, 128), "bfloat16"), b.sbuf((128, 512), "bfloat16"), b.psum((128, 512), alloc=acc)),
              (b.psum((128, 512), alloc=acc),))
        if i == 0 and transfer_between:
            b.add(Engine.DMA, "load", (b.hbm((128, 512)),), (b.sbuf((128, 512), "bfloat16"),))
    b.add(Engine.VECTOR, "tensor_copy", (b.psum((128, 512), alloc=acc),), (b.sbuf((128, 512)),))
    return b.trace


def test_a_transfer_between_two_instructions_of_one_cost_leaves_none_of_its_values() -> None:
    """The scheduler unpacks a compute cost once for a run of instructions with that cost; a DMA
    in between overwrites some of those locals (its PSUM positions, no TensorE exemption), so the
    second multiply must unpack its cost again: it is placed as without the load (exempt from
    waiting for its own partial sums; its PSUM bank busy until it has read them)."""
    plain, with_load = simulate_trace(_two_matmuls(False), "trn1"), simulate_trace(_two_matmuls(True), "trn1")
    tensor = [(i.start_ns, i.end_ns, i.ready_ns, i.reason) for i in plain.instructions if i.track == "tensor"]
    assert tensor == [(i.start_ns, i.end_ns, i.ready_ns, i.reason)
                      for i in with_load.instructions if i.track == "tensor"]
    assert tensor[1][0] < tensor[0][2]  # (exempt: it starts before the first one's sums are ready)
    assert plain.psum_banks_used == with_load.psum_banks_used == 1


def test_the_peak_psum_banks_of_one_core_skip_the_pass_over_cores() -> None:
    from trnsim.core.analysis import peak_psum_banks

    live = {(0, alloc, 0): [float(alloc), float(alloc) + 2.5] for alloc in range(20)}
    assert peak_psum_banks(live, True) == peak_psum_banks(live) == 3


def _transfers(seed: int) -> KernelTrace:
    """Loads and stores of many sizes (their parts take 1 to 16 queues) between a few reused tiles,
    and VectorE work on them: transfers wait for their tiles' readers and writers, so parts start
    together on queues free at different times."""
    rng = random.Random(seed)
    b = TraceBuilder("trn1")
    tiles = [b.alloc() for _ in range(6)]
    outputs = [b.alloc() for _ in range(3)]
    for _ in range(300):
        rows, cols = rng.choice((1, 8, 32, 128)), rng.choice((64, 256, 512, 2048))
        tile = rng.choice(tiles)
        kind = rng.random()
        if kind < 0.5:
            b.add(Engine.DMA, "load", (b.hbm((rows, cols), alloc=rng.choice(outputs)),),
                  (b.sbuf((rows, cols), "bfloat16", alloc=tile),))
        elif kind < 0.75:
            b.add(Engine.DMA, "store", (b.sbuf((rows, cols), "bfloat16", alloc=tile),),
                  (b.hbm((rows, cols), alloc=rng.choice(outputs)),))
        else:
            b.add(Engine.VECTOR, "tensor_copy", (b.sbuf((rows, cols), "bfloat16", alloc=tile),),
                  (b.sbuf((rows, cols), "bfloat16", alloc=rng.choice(tiles)),))
    return b.trace


@pytest.mark.parametrize("kernel", ["matmul_fully_blocked", "flash_attention_fwd", "random"])
def test_the_queue_order_kept_between_transfers_is_the_sorted_order(kernel: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Each DMA transfer's parts take the queues free first (a stable sort of their free times); the
    order the transfer before left (``_CoreState.queue_order``) must be that sort whenever it is
    kept, and it is kept for most transfers."""
    if kernel == "random":
        traces = [_random_trace(seed, "trn2", 1, 600) for seed in range(4)]
        traces += [_transfers(seed) for seed in range(6)]
    else:
        from trnsim.kernels import registry
        from trnsim.nki import trace_kernel

        entry = registry.get(kernel)
        params = ({"m": 512, "k": 1024, "n": 2048} if kernel.startswith("matmul") else
                  {"batch": 1, "heads": 2, "kv_heads": 1, "seq_q": 512, "seq_k": 512, "head_dim": 128})
        traces = [trace_kernel(entry.kernel, *entry.make_args(params, "bfloat16"), target="trn1",
                               timing_only=True)]
    place = simulate_module._Simulation._place_dma
    kept = sorted_here = 0

    def checked(self: simulate_module._Simulation, instruction: Instruction, plan: object,
                state: simulate_module._CoreState, *args: object) -> object:
        nonlocal kept, sorted_here
        free = state.queue_free
        if state.queue_order is None:
            sorted_here += 1
        else:
            kept += 1
            assert list(state.queue_order) == sorted(range(len(free)), key=free.__getitem__)
        return place(self, instruction, plan, state, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(simulate_module._Simulation, "_place_dma", checked)
    for trace in traces:
        simulate_trace(trace, trace.target)
    assert kept > 0 and sorted_here > 0
    if kernel != "random":  # (random transfers' parts mostly start at different times)
        assert kept > sorted_here
