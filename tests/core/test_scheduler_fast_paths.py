"""The scheduler's inline fast paths and memo keys give the schedule of the reference paths.

``_Simulation._run_stream`` answers dependency queries inline (remembered answers, one box or a
slice of one box of a disjoint allocation, else the tracker's full query per operand) and keys
compute costs on a compact tuple (``costs.cost_key``). The reference is the same simulation with
every tracker fast path off (``RegionTracker.exact_lookups`` false, every query through the
bisection scan of ``_Table.overlapping``). Both simulate the same random traces: whole tiles,
slices inside tiles, boxes across tiles and empty boxes in SBUF, PSUM and HBM, on every engine and
the DMA queues, on one and two cores (with collectives), and every field of every scheduled
instruction and of the result must be equal (floats compared exactly).
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from typing import Any

import numpy as np
import pytest

from trnsim.core import simulate as simulate_module
from trnsim.core import simulate_trace
from trnsim.core.analysis import peak_psum_banks
from trnsim.core.costs import ComputeCostModel, cost_key
from trnsim.core.deps import Record, RegionTracker, _Table
from trnsim.core.dma import DmaCostModel
from trnsim.core.result import TimelineResult
from trnsim.hardware.neuroncore_timing import load_timing
from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace, Operand, Region

from .builder import TraceBuilder

_SPACE_BASE = {MemorySpace.SBUF: 0, MemorySpace.PSUM: 10, MemorySpace.HBM: 20}


def _box(rng: random.Random, written: bool, tidy: bool, partition_tiles: bool) -> tuple[int, int, int, int]:
    """A box of [128 partitions, 1024 bytes] tiled by 256 bytes (and by 32 partitions if asked).

    Tidy allocations are written a whole tile at a time and read whole or in slices inside a
    tile (what the scheduler answers inline); the others also see boxes across tiles and empty
    boxes (the tracker's full query).
    """
    kind = rng.random()
    if kind < (1.0 if written and tidy else 0.5):  # a whole tile
        b = rng.randrange(4) * 256
        if partition_tiles:  # tiles that start at the same byte (rewritten in place or moved)
            p = rng.randrange(4) * 32
            return (p, p + 32, b, b + 256)
        return (0, 128, b, b + 256)
    if kind < (1.0 if tidy else 0.8):  # a slice inside a tile
        p, b = rng.randrange(4) * 32, rng.randrange(4) * 256 + rng.randrange(0, 256, 64)
        return (p, p + 32, b, b + 64)
    if kind < 0.95:  # anything, across tiles
        p0, b0 = rng.randrange(128), rng.randrange(1024)
        return (p0, rng.randrange(p0 + 1, 129), b0, rng.randrange(b0 + 1, 1025))
    p, b = rng.randrange(128), rng.randrange(1024)  # empty
    return (p, p, b, b) if rng.random() < 0.5 else (p, p + 1, b, b)


def _operand(rng: random.Random, space: MemorySpace, dtype: str = "bfloat16",
             written: bool = False) -> Operand:
    alloc = rng.randrange(8)  # allocations 0..6 tidy (6 tiled by partitions too), 7 not
    p0, p1, b0, b1 = _box(rng, written, alloc < 7, alloc == 6)
    if space == MemorySpace.HBM:
        p0, p1, b0, b1 = 0, 1, b0 * 64, b1 * 64
    size = 2 if dtype == "bfloat16" else 4
    free = max(0, (b1 - b0) // size)
    parts = max(0, p1 - p0)
    return Operand("t", space, (parts, free), dtype, parts * free * size,
                   Region(alloc + _SPACE_BASE[space], p0, p1, b0, b1),
                   rng.choice((free * size, 64, 0)), rng.choice((size, size, 64)))


def _random_trace(seed: int, target: str, cores: int, length: int = 300) -> KernelTrace:
    rng = random.Random(seed)
    sbuf, psum, hbm = MemorySpace.SBUF, MemorySpace.PSUM, MemorySpace.HBM
    trace = KernelTrace(kernel=f"random{seed}", target=target)
    # a prologue writes every tile on chip (a kernel writes a tile before it reads it) and
    # reads every HBM tile (the kernel's inputs)
    inputs: tuple[Operand, ...]
    outputs: tuple[Operand, ...]
    for space in (sbuf, psum, hbm):
        for alloc in range(8):
            rows = ((0, 128),) if space == hbm or alloc != 6 else ((p, p + 32) for p in range(0, 128, 32))
            for (p0, p1), b in itertools.product(rows, range(0, 1024, 256)):
                if space == hbm:
                    tile = Operand("t", hbm, (256, 32), "bfloat16", 16384,
                                   Region(20 + alloc, 0, 1, b * 64, (b + 256) * 64), 64, 2)
                    inputs, outputs = (tile,), ()
                else:
                    tile = Operand("t", space, (p1 - p0, 128), "bfloat16", (p1 - p0) * 256,
                                   Region(_SPACE_BASE[space] + alloc, p0, p1, b, b + 256), 256, 2)
                    inputs, outputs = (), (tile,)
                trace.append(Instruction(
                    seq=len(trace.instructions), engine=Engine.GPSIMD, opcode="memset", inputs=inputs,
                    outputs=outputs, kernel=trace.kernel, source_file="random.py", source_line=0,
                    core=rng.randrange(cores), attrs={"value": 1.0}))
    for _ in range(length):
        seq = len(trace.instructions)
        kind = rng.random()
        attrs: dict[str, object] = {}
        if kind < 0.3:
            engine, opcode = Engine.TENSOR, "nc_matmul"
            inputs = (_operand(rng, sbuf), _operand(rng, sbuf))
            if rng.random() < 0.3:
                inputs += (_operand(rng, psum, "float32"),)
            # mostly PSUM; an SBUF output now and then, so that TensorE reads tiles it wrote itself
            outputs = (
                _operand(rng, rng.choice((psum,) * 4 + (sbuf,)), "float32", written=True),)
            if rng.random() < 0.1:
                attrs["transpose"] = True
        elif kind < 0.55:
            engine = rng.choice((Engine.VECTOR, Engine.SCALAR, Engine.GPSIMD))
            opcode = rng.choice(("tensor_tensor", "tensor_copy", "activation", "tensor_reduce", "memset"))
            dtypes = ("bfloat16", "float32")
            inputs = () if opcode == "memset" else tuple(
                _operand(rng, rng.choice((sbuf, sbuf, psum)), rng.choice(dtypes))
                for _ in range(rng.randrange(1, 3)))
            outputs = (_operand(rng, rng.choice((sbuf, psum)), rng.choice(dtypes), written=True),)
            attrs = {"op": rng.choice(("add", "multiply", "max")), "value": rng.choice((0.0, 1.0))}
        elif kind < 0.95:
            engine = Engine.DMA
            opcode = rng.choice(("load", "store", "dma_copy"))
            if opcode == "load":
                inputs, outputs = (_operand(rng, hbm),), (_operand(rng, sbuf, written=True),)
            elif opcode == "store":
                inputs, outputs = (_operand(rng, sbuf),), (_operand(rng, hbm, written=True),)
            else:
                inputs = (_operand(rng, rng.choice((sbuf, hbm))),)
                outputs = (_operand(rng, sbuf, written=True),)
        elif cores > 1 and rng.random() < 0.7:
            # a collective of both cores: each member reads a tile and writes one; while the meeting
            # is open its reads are held (the scheduler then must not rewrite records in place)
            for member in range(2):
                trace.append(Instruction(
                    seq=len(trace.instructions), engine=Engine.COLLECTIVE, opcode="all_reduce",
                    inputs=(_operand(rng, sbuf),), outputs=(_operand(rng, sbuf, written=True),),
                    kernel=trace.kernel, source_file="random.py", source_line=seq, core=member,
                    attrs={"collective": "all_reduce", "group": (0, 1), "meeting": f"m{seq}",
                           "bytes": 4096}))
            continue
        else:
            engine, opcode, inputs, outputs = Engine.NONE, "alloc", (), ()
        trace.append(Instruction(seq=seq, engine=engine, opcode=opcode, inputs=inputs, outputs=outputs,
                                 kernel=trace.kernel, source_file="random.py", source_line=seq,
                                 core=rng.randrange(cores), attrs=attrs))
    trace.num_cores = cores
    return trace


def _fields(result: TimelineResult) -> list[object]:
    """Every field of the result and of each scheduled instruction, in order."""
    values: list[object] = [getattr(result, f.name) for f in dataclasses.fields(result)
                            if f.name != "instructions"]
    for item in result.instructions:
        values.append(tuple(getattr(item, f.name) for f in dataclasses.fields(item)))
    return values


def _reference_found(self: RegionTracker, table: _Table, box: Region) -> list[Record]:
    table.disjoint = False
    return table.overlapping(box)


@pytest.mark.parametrize(("seed", "target", "cores"), [
    (0, "trn1", 1), (1, "trn2", 1), (2, "trn3", 1), (3, "trn1", 2), (4, "trn2", 2), (5, "trn3", 1),
    (6, "trn2", 2), (7, "trn3", 2),
])
def test_inline_dependency_paths_match_the_reference_scan(seed: int, target: str, cores: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    trace = _random_trace(seed, target, cores)
    # a what-if HBM slow enough that the DMA queues book it (the HBM calendar path)
    timing = load_timing(target, {"chip": {"hbm_bandwidth_bytes_per_s": 2e11}})
    full_queries = 0
    wait = RegionTracker.wait

    def counted(self: RegionTracker, *args: Any) -> tuple[float, int, list[Record]]:
        nonlocal full_queries
        full_queries += 1
        return wait(self, *args)

    monkeypatch.setattr(RegionTracker, "wait", counted)
    fast = [_fields(simulate_trace(trace, target))]
    # the inline paths answered every compute and DMA instruction (collectives ask the tracker)
    assert full_queries == sum(1 for i in trace.instructions if i.engine == Engine.COLLECTIVE)
    fast.append(_fields(simulate_trace(trace, timing)))
    monkeypatch.setattr(RegionTracker, "exact_lookups", False)
    monkeypatch.setattr(RegionTracker, "_found", _reference_found)
    reference = [_fields(simulate_trace(trace, target)), _fields(simulate_trace(trace, timing))]
    assert fast == reference
    # the traces exercise dependencies: most instructions wait for another one
    waited = sum(1 for item in simulate_trace(trace, target).instructions if item.predecessor >= 0)
    assert waited > len(trace) // 2


def _vector_add(b: TraceBuilder, value: object) -> Instruction:
    a = b.sbuf((128, 512), "bfloat16")
    return b.add(Engine.VECTOR, "tensor_tensor", (a, b.sbuf((128, 512), "bfloat16")),
                 (b.sbuf((128, 512), "bfloat16"),), op="add", value=value)


def test_cost_key_keys_what_the_cost_depends_on() -> None:
    b = TraceBuilder("trn2")
    model = ComputeCostModel(load_timing("trn2"))
    add = _vector_add(b, 0.0)
    # an unhashable attribute value is keyed on its text, and costs the same
    unhashable = _vector_add(b, [0.0])
    with pytest.raises(TypeError):
        hash(cost_key(unhashable))
    assert model.cost(unhashable) == model.cost(add)
    # regions and names are not part of the key; the op, the engine and the operands' place are
    assert cost_key(add) == cost_key(_vector_add(b, 0.0))
    divide = _vector_add(b, 0.0)
    divide.attrs["op"] = "divide"
    assert cost_key(divide) != cost_key(add)
    assert model.cost(divide).issue_ns > model.cost(add).issue_ns  # add has the fast bf16 rate
    on_gpsimd = _vector_add(b, 0.0)
    on_gpsimd.engine = Engine.GPSIMD
    assert cost_key(on_gpsimd) != cost_key(add)
    # the same operands split differently between inputs and outputs are different instructions
    x, y, z = (b.sbuf((128, 512), "bfloat16") for _ in range(3))
    two_in = b.add(Engine.VECTOR, "tensor_copy", (x, y), (z,))
    two_out = b.add(Engine.VECTOR, "tensor_copy", (x,), (y, z))
    assert cost_key(two_in) != cost_key(two_out)
    # three inputs (tensor_scalar with two scalar operands, activation with a bias): the third counts
    def scalar_op(third: Operand) -> Instruction:
        return b.add(Engine.VECTOR, "tensor_scalar", (x, y, third), (z,), op="add", op1="multiply")

    three = scalar_op(b.sbuf((128, 1), "float32"))
    assert cost_key(three) == cost_key(scalar_op(b.sbuf((128, 1), "float32")))  # another tile alike
    assert cost_key(three) != cost_key(scalar_op(b.sbuf((128, 2), "float32")))
    assert cost_key(three) != cost_key(scalar_op(b.sbuf((128, 1), "bfloat16")))


def test_a_box_rewritten_while_a_collective_holds_its_read_gets_a_new_record() -> None:
    # Core 0's collective reads tile A and parks (core 1 has not arrived). Core 1 then rewrites A
    # (memset), arrives, and rewrites A again. The collective's read is of A's record before the
    # first rewrite: when the meeting ends that record lasts until the collective's end, but the
    # second rewrite waits only for the first (same engine: queue order), not for the collective.
    b = TraceBuilder("trn2")
    tile = b.sbuf((128, 256), "bfloat16")
    a0, a1 = b.sbuf((128, 256), "bfloat16"), b.sbuf((128, 256), "bfloat16")
    for core, data in ((0, a0), (1, a1)):
        b.add(Engine.COLLECTIVE, "all_reduce", (tile if core == 0 else data,), (data,), core=core,
              collective="all_reduce", group=(0, 1), meeting="m", bytes=1 << 20)
        if core == 0:
            b.add(Engine.GPSIMD, "memset", (), (tile,), core=1, value=1.0)
    b.add(Engine.GPSIMD, "memset", (), (tile,), core=1, value=2.0)
    result = simulate_trace(b.trace, "trn2")
    first, collective, second = (result.instructions[i] for i in (1, 2, 3))
    assert (first.core, collective.track, second.core) == (1, "collective", 1)
    assert second.start_ns == first.end_ns < collective.end_ns
    assert second.reason == "queue"


def test_the_scheduler_keys_costs_as_cost_key_and_never_reuses_one_that_does_not_fit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The scheduler builds its cost key inline for one output and 1 to 3 inputs (cost_key's fields as
    # one flat tuple) and takes cost_key's otherwise: each compute instruction's scheduled work is
    # its own cost's, whatever it shares with the instructions before it, and each distinct
    # cost_key is costed once (the inline key tells apart what cost_key tells apart, no more).
    b = TraceBuilder("trn2")
    instructions = []
    for dtype, _ in itertools.product(("bfloat16", "float32"), range(2)):  # each shape twice
        for free in (128, 512):
            for stride in (None, 64):
                x = b.sbuf((128, free), dtype, stride_bytes=stride)
                y = b.sbuf((128, free), dtype)
                for engine in (Engine.VECTOR, Engine.GPSIMD):
                    for op in ("add", "divide"):
                        out = b.sbuf((128, free), dtype)
                        instructions.append(b.add(engine, "tensor_tensor", (x, y), (out,), op=op))
                    instructions.append(b.add(engine, "tensor_copy", (x,), (b.sbuf((128, free), dtype),)))
                    for third_stride in (None, 64):  # a third input (tensor_scalar's scalar operand)
                        third = b.sbuf((128, 1), dtype, stride_bytes=third_stride)
                        instructions.append(b.add(engine, "tensor_scalar", (y, y, third),
                                                  (b.sbuf((128, free), dtype),), op="add", op1="multiply"))
                    instructions.append(b.add(engine, "memset", (), (b.sbuf((128, free), dtype),), value=0.0))
                    instructions.append(b.add(engine, "memset", (), (b.sbuf((128, free), dtype),), value=1.0))
                instructions.append(b.add(Engine.TENSOR, "nc_matmul", (b.sbuf((128, 128), dtype), y),
                                          (b.psum((128, free), "float32"),)))
                instructions.append(b.add(Engine.TENSOR, "nc_matmul", (b.sbuf((128, 128), dtype), y),
                                          (b.psum((128, free), "float32"),), transpose=True))
    timing = load_timing("trn2")  # fresh memos (not the shipped target's)
    model = ComputeCostModel(timing)

    costed = 0
    compute_cost = simulate_module._Simulation._compute_cost

    def counted(self: Any, instruction: Instruction, key: Any) -> Any:
        nonlocal costed
        costed += 1
        return compute_cost(self, instruction, key)

    monkeypatch.setattr(simulate_module._Simulation, "_compute_cost", counted)
    result = simulate_trace(b.trace, timing)
    assert costed == len({cost_key(i) for i in instructions})
    by_instruction = {id(item.instruction): item for item in result.instructions}
    for instruction in instructions:
        item = by_instruction[id(instruction)]
        cost = model.cost(instruction)
        assert (item.compute_ns, item.flops) == (cost.work_ns, cost.flops)
    assert len({item.compute_ns for item in result.instructions}) > 10  # the costs differ


def test_the_scheduler_plans_each_transfer_by_what_its_plan_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # One-to-one transfers are planned once per (opcode, each operand's space, bytes and contiguous
    # bytes, transpose, dge_mode, descriptors) and the plan is remembered (DmaCostModel.plan): each
    # transfer's scheduled fixed and data time are those of its own plan, and transfers that
    # differ in any of those get their own.
    b = TraceBuilder("trn2")
    transfers = []
    for _ in range(2):  # each transfer twice
        for rows, cols in ((128, 512), (128, 2048), (64, 512)):
            for contiguous in (None, 64):
                for attrs in ({}, {"transpose": True}, {"dge_mode": "hwdge"}, {"descriptors": 7}):
                    source = b.hbm((rows, cols), contiguous_bytes=contiguous)
                    transfers.append(b.add(Engine.DMA, "load", (source,), (b.sbuf((rows, cols), "bfloat16"),),
                                           **attrs))
                transfers.append(b.add(Engine.DMA, "dma_copy", (b.sbuf((rows, cols), "bfloat16"),),
                                       (b.sbuf((rows, cols), "bfloat16"),)))
                transfers.append(b.add(Engine.DMA, "store", (b.sbuf((rows, cols), "bfloat16"),),
                                       (b.hbm((rows, cols), contiguous_bytes=contiguous),)))
    timing = load_timing("trn2")  # fresh memos
    reference = DmaCostModel(timing)
    planned = 0
    plan = DmaCostModel._plan

    def counted(self: DmaCostModel, instruction: Instruction) -> Any:
        nonlocal planned
        planned += 1
        return plan(self, instruction)

    monkeypatch.setattr(DmaCostModel, "_plan", counted)
    result = simulate_trace(b.trace, timing)
    # once per distinct plan input (a copy between SBUF tiles does not depend on the HBM side's runs)
    distinct = {(t.opcode, tuple((o.space, o.nbytes, o.contiguous_bytes) for o in (*t.inputs, *t.outputs)),
                 tuple(t.attrs.items())) for t in transfers}
    assert planned == len(distinct) <= len(transfers) // 2
    by_instruction = {id(item.instruction): item for item in result.instructions}
    for transfer in transfers:
        item, want = by_instruction[id(transfer)], reference._plan(transfer)
        assert (item.dma_fixed_ns, item.dma_data_ns, len(item.parts), item.nbytes) == (
            want.fixed_ns, want.part_bytes / want.rate_bytes_per_ns, want.parts, want.total_bytes)
    assert len({(item.dma_fixed_ns, item.dma_data_ns) for item in result.instructions}) > 10


def test_tiles_written_once_are_answered_as_the_reference_scan_answers_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The scheduler keeps a tile written once as one box without a table (RegionTracker.singles)
    # and answers reads of the box and of slices inside it, and a rewrite of the whole box, from
    # it; every other access (a read across the box or beside it, a partial or a second write, two
    # outputs, a collective) turns it into a table first. Each case against the reference scan.
    b = TraceBuilder("trn2")
    tiles = [b.alloc() for _ in range(8)]
    kernel_input = b.alloc()

    def tile(alloc: int, partitions: int = 128, start: int = 0, nbytes: int = 1024,
             first: int = 0) -> Operand:
        return b.sbuf((partitions, nbytes // 4), alloc=alloc, byte_start=start, partition_start=first)

    def vector(inputs: tuple[Operand, ...], outputs: tuple[Operand, ...],
               engine: Engine = Engine.VECTOR) -> None:
        b.add(engine, "tensor_copy", inputs, outputs)

    whole = [tile(alloc) for alloc in tiles]
    for out in whole:
        vector((), (out,), Engine.GPSIMD)  # each tile written once, whole
    vector((whole[0],), (b.sbuf((128, 256)),))  # the box itself
    vector((tile(tiles[1], 32, 256, 512, 64),), (b.sbuf((32, 128)),))  # a slice inside it
    vector((tile(tiles[2], 128, 512, 1024),), (b.sbuf((128, 256)),))  # across its end: a table
    vector((tile(tiles[3], 128, 2048, 256),), (b.sbuf((128, 64)),))  # beside it (unwritten bytes)
    vector((whole[4],), (whole[4],))  # rewritten whole, by the engine that read it
    vector((), (tile(tiles[5], 64, 0, 512),))  # a partial overwrite
    vector((), (tile(tiles[6], 128, 1024, 1024),))  # a second box beside the first
    vector((whole[7],), (whole[7], tile(tiles[0], 128, 0, 512)))  # two outputs
    vector((tile(kernel_input, 64, 0, 256),), (b.sbuf((64, 64)),))  # a kernel input, then read again
    vector((tile(kernel_input, 32, 0, 128, 16),), (b.sbuf((32, 32)),))
    vector((tile(kernel_input, 128, 0, 512),), (b.sbuf((128, 128)),))
    for out in whole:  # every tile read whole after all of that, and written again
        vector((out,), (b.sbuf((128, 256)),), Engine.SCALAR)
        vector((), (out,), Engine.GPSIMD)
    empty = Operand("e", MemorySpace.SBUF, (0, 64), "float32", 0, Region(b.alloc(), 0, 0, 0, 256), 256, 4)
    vector((whole[3],), (empty,))  # a new tile's empty box: a table, as the tracker makes it
    vector((empty,), (b.sbuf((128, 64)),))
    vector((), (empty,), Engine.GPSIMD)
    b.add(Engine.COLLECTIVE, "all_reduce", (whole[1],), (whole[2],), collective="all_reduce", group=(0,),
          meeting="m", bytes=1 << 16)
    vector((whole[2],), (whole[1],))
    fast = _fields(simulate_trace(b.trace, "trn2"))
    monkeypatch.setattr(RegionTracker, "exact_lookups", False)
    monkeypatch.setattr(RegionTracker, "_found", _reference_found)
    assert fast == _fields(simulate_trace(b.trace, "trn2"))
    # the cases exercise dependencies: most instructions wait for another one
    assert sum(1 for item in simulate_trace(b.trace, "trn2").instructions if item.predecessor >= 0) > 20


def test_the_single_box_path_holds_tiles_written_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The tiles written once are held without a table until another box of theirs is accessed.
    b = TraceBuilder("trn2")
    first, second = b.sbuf((128, 256)), b.sbuf((128, 256))
    b.add(Engine.VECTOR, "memset", (), (first,), value=0.0)
    b.add(Engine.VECTOR, "memset", (), (second,), value=0.0)
    b.add(Engine.VECTOR, "tensor_copy", (first,), (second,))
    assert second.region is not None
    across = Operand("x", MemorySpace.SBUF, (128, 128), "float32", 65536,
                     Region(second.region.alloc_id, 0, 128, 512, 1536), 512, 4)
    copy = b.sbuf((128, 128))
    b.add(Engine.VECTOR, "tensor_copy", (across,), (copy,))
    made: list[RegionTracker] = []
    init = RegionTracker.__init__

    def remembered(self: RegionTracker) -> None:
        init(self)
        made.append(self)

    monkeypatch.setattr(RegionTracker, "__init__", remembered)
    simulate_trace(b.trace, "trn2")
    tracker, = made
    assert first.region is not None and copy.region is not None
    assert set(tracker.singles) == {first.region.alloc_id, copy.region.alloc_id}
    assert set(tracker.tables) == {second.region.alloc_id}


def test_the_engine_s_previous_cost_is_reused_only_for_an_equal_key() -> None:
    # The scheduler compares a compute instruction's cost key with its engine's previous one before
    # the memo. An attribute value that neither hashes nor compares (an array: its == is elementwise)
    # is costed without the memo, and the instructions after it get their own costs again.
    b = TraceBuilder("trn2")
    x, y = b.sbuf((128, 512), "bfloat16"), b.sbuf((128, 512), "bfloat16")

    def tensor_tensor(op: object, dtype: str = "bfloat16") -> Instruction:
        return b.add(Engine.VECTOR, "tensor_tensor", (x, y), (b.sbuf((128, 512), dtype),), op=op)

    instructions = [tensor_tensor("add"), tensor_tensor("add"), tensor_tensor(np.array(["add", "divide"])),
                    tensor_tensor(np.array(["add", "divide"])), tensor_tensor("add"), tensor_tensor("divide"),
                    tensor_tensor("divide", "float32"), tensor_tensor("add")]
    timing = load_timing("trn2")  # fresh memos (not the shipped target's)
    model = ComputeCostModel(timing)
    result = simulate_trace(b.trace, timing)
    works = [item.compute_ns for item in result.instructions]
    assert works == [model.cost(i).work_ns for i in instructions]
    assert len(set(works)) == 3  # add has the fast bf16 rate; an array op and divide do not


def _reference_place_dma(self: Any, instruction: Instruction, plan: Any, state: Any, core: int, index: int,
                         dep_ready: float, dep_pred: int) -> tuple[float, float]:
    """``_Simulation._place_dma`` part by part on the queues free first, without its shortcuts."""
    order = sorted(range(len(state.queue_free)), key=state.queue_free.__getitem__)[:plan.parts]
    calendar = self.hbm.get(core) if plan.hbm_crossings else None
    nominal_ns = plan.part_bytes / plan.rate_bytes_per_ns
    hbm_rate = min(plan.rate_bytes_per_ns * plan.hbm_crossings, self.hbm_share_bytes_per_ns / plan.parts)
    parts = []
    start_min, last_end = float("inf"), -1.0
    pred, reason, hbm_wait = -1, simulate_module._FREE, 0.0
    for queue in order:
        free = state.queue_free[queue]
        start = max(free, dep_ready)
        data_start = start + plan.fixed_ns
        if calendar is not None:
            end = calendar.transfer(data_start, plan.part_bytes * plan.hbm_crossings, hbm_rate)
        else:
            end = data_start + nominal_ns
        if end > last_end:
            last_end, hbm_wait = end, max(0.0, end - data_start - nominal_ns)
            if dep_pred >= 0 and dep_ready >= free:
                pred, reason = dep_pred, simulate_module._DEPENDENCY
            elif free > 0.0:
                pred, reason = state.queue_last[queue], simulate_module._QUEUE
            else:
                pred, reason = -1, simulate_module._FREE
        start_min = min(start_min, start)
        state.queue_free[queue], state.queue_last[queue] = end, index
        parts.append((queue, start, end))
        state.queue_busy[queue] += end - start
    self.dma_bytes += plan.total_bytes
    hbm_bytes = plan.total_bytes * plan.hbm_crossings
    self.hbm_bytes += hbm_bytes
    self.out.append((instruction, "dma", core, start_min, last_end, last_end, pred, reason, 0.0,
                     plan.fixed_ns, nominal_ns, hbm_wait, tuple(parts), 0.0, plan.total_bytes, hbm_bytes,
                     0.0))
    return start_min, last_end


def _random_transfers(seed: int, target: str, cores: int) -> KernelTrace:
    """Loads, stores and copies of 1 to 16 parts between a few tiles, with VectorE work between."""
    rng = random.Random(seed)
    b = TraceBuilder(target)
    tiles = [b.alloc() for _ in range(6)]
    for _ in range(250):
        core = rng.randrange(cores)
        shape = (128, rng.choice((64, 512, 2048, 8192)))
        tile = b.sbuf(shape, "bfloat16", alloc=rng.choice(tiles))
        kind = rng.random()
        if kind < 0.4:
            b.add(Engine.DMA, "load", (b.hbm(shape),), (tile,), core=core)
        elif kind < 0.6:
            b.add(Engine.DMA, "store", (tile,), (b.hbm(shape),), core=core)
        elif kind < 0.7:
            b.add(Engine.DMA, "dma_copy", (tile,), (b.sbuf(shape, "bfloat16", alloc=rng.choice(tiles)),),
                  core=core)
        else:
            copy = b.sbuf(shape, "bfloat16", alloc=rng.choice(tiles))
            b.add(Engine.VECTOR, "tensor_copy", (tile,), (copy,), core=core)
    return b.trace


@pytest.mark.parametrize(("seed", "target", "cores"), [(10, "trn1", 1), (11, "trn2", 2), (12, "trn3", 1)])
def test_transfers_whose_parts_start_together_are_placed_as_part_by_part(
        seed: int, target: str, cores: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # _place_dma places the parts of a transfer that all start at the same time (every queue free
    # at once, or the transfer waiting past the last of the queues it takes) in one step
    trace = _random_transfers(seed, target, cores)
    timing = load_timing(target, {"chip": {"hbm_bandwidth_bytes_per_s": 2e11}})  # the calendar path too
    fast = [simulate_trace(trace, target), simulate_trace(trace, timing)]
    together = sum(1 for item in fast[0].instructions
                   if len(item.parts) > 1 and len({start for _, start, _ in item.parts}) == 1)
    apart = sum(1 for item in fast[0].instructions if len({start for _, start, _ in item.parts}) > 1)
    assert together > 10 and apart > 10
    monkeypatch.setattr(simulate_module._Simulation, "_place_dma", _reference_place_dma)
    assert [_fields(r) for r in fast] == [_fields(simulate_trace(trace, target)),
                                         _fields(simulate_trace(trace, timing))]


def _hbm_piece(alloc: int, b0: int, b1: int) -> Operand:
    return Operand("x", MemorySpace.HBM, (1, (b1 - b0) // 2), "bfloat16", b1 - b0,
                   Region(alloc, 0, 1, b0, b1), b1 - b0, 2)


@pytest.mark.parametrize("seed", range(6))
def test_reads_of_unwritten_allocations_replay_as_the_reference(seed: int,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Kernel inputs read in overlapping pieces are logged, not tracked (RegionTracker.unwritten), and
    # replayed when a write comes: a store into the input, a DMA that reads and writes the same
    # input in one instruction, or a collective (the tracker's own query). Each schedule equals the
    # reference tracker's, which tracks every read as it comes.
    rng = random.Random(seed)
    trace = KernelTrace(kernel=f"inputs{seed}", target="trn2")

    def add(engine: Engine, opcode: str, inputs: tuple[Operand, ...], outputs: tuple[Operand, ...],
            **attrs: object) -> None:
        trace.append(Instruction(seq=len(trace.instructions), engine=engine, opcode=opcode, inputs=inputs,
                                 outputs=outputs, kernel=trace.kernel, source_file="inputs.py",
                                 source_line=len(trace.instructions), core=attrs.pop("core", 0), attrs=attrs))

    def piece(alloc: int) -> Operand:
        b0 = rng.randrange(0, 16384, 512)
        return _hbm_piece(alloc, b0, b0 + rng.choice((512, 1024, 4096)))

    for sbuf in range(1, 121):  # (each load into a tile of its own)
        alloc = 100 + rng.randrange(4)
        kind = rng.random()
        tile = Operand("s", MemorySpace.SBUF, (128, 64), "bfloat16", 16384, Region(sbuf, 0, 128, 0, 128),
                       128, 2)
        if kind < 0.6:  # a load of a piece (most pieces overlap earlier ones)
            add(Engine.DMA, "load", (piece(alloc),), (tile,))
        elif kind < 0.75:  # a store into the input
            add(Engine.DMA, "load", (piece(200),), (tile,))
            add(Engine.DMA, "store", (tile,), (piece(alloc),))
        elif kind < 0.9:  # a copy within one input: read and written by one instruction
            add(Engine.DMA, "dma_copy", (piece(alloc),), (piece(alloc),))
        else:  # an empty piece, read twice
            empty = _hbm_piece(alloc, 512, 512)
            add(Engine.DMA, "load", (empty,), (tile,))
            add(Engine.DMA, "load", (empty, piece(alloc)), (tile,))
    fast = _fields(simulate_trace(trace, "trn2"))
    monkeypatch.setattr(RegionTracker, "exact_lookups", False)
    monkeypatch.setattr(RegionTracker, "_found", _reference_found)
    assert fast == _fields(simulate_trace(trace, "trn2"))
    # the stores and copies waited for loads of the pieces they overwrite
    assert any(item.reason == "dependency" for item in simulate_trace(trace, "trn2").instructions
               if item.instruction.opcode in ("store", "dma_copy"))


@pytest.mark.parametrize(("seed", "cores"), [(0, 1), (1, 1), (2, 2), (3, 2)])
def test_psum_bank_spans_match_each_access(seed: int, cores: int) -> None:
    # The scheduler updates the spans of the PSUM banks a region touches inline, found by the region
    # (the last one by identity): each bank from the earliest start to the latest end of the
    # accesses that touch it (outputs until ready, inputs until the end), here recounted access by
    # access. Regions cross banks (2 KiB per partition) and overlap within an allocation.
    rng = random.Random(seed)
    b = TraceBuilder("trn2")
    allocs = [b.alloc() for _ in range(3)]

    def psum() -> Operand:
        return b.psum((128, rng.choice((128, 512, 1024, 1536))), "float32", alloc=rng.choice(allocs),
                      byte_start=rng.randrange(0, 8192, 512))

    for _ in range(80):
        core = rng.randrange(cores)
        if rng.random() < 0.5:
            operands = (b.sbuf((128, 128), "bfloat16"), b.sbuf((128, 512), "bfloat16"))
            b.add(Engine.TENSOR, "nc_matmul", operands, (psum(),), core=core)
        else:
            b.add(Engine.VECTOR, "tensor_copy", (psum(),), (b.sbuf((128, 512), "float32"),), core=core)
    result = simulate_trace(b.trace, "trn2")
    bank_bytes = 2048
    live: dict[tuple[int, int, int], list[float]] = {}
    for item in result.instructions:
        accesses = [(o, item.ready_ns) for o in item.instruction.outputs]
        accesses += [(o, item.end_ns) for o in item.instruction.inputs]
        for operand, until in accesses:
            if operand.space != MemorySpace.PSUM:
                continue
            region = operand.region
            for bank in range(region.byte_start // bank_bytes, (region.byte_stop - 1) // bank_bytes + 1):
                span = live.setdefault((item.core, region.alloc_id, bank), [item.start_ns, until])
                span[0], span[1] = min(span[0], item.start_ns), max(span[1], until)
    assert result.psum_banks_used == peak_psum_banks(live) > 1


def test_a_tensor_cost_changes_with_nothing_its_scheduler_key_leaves_out() -> None:
    # The scheduler keys a TensorE instruction with two inputs and one output on less than cost_key
    # holds (simulate._TENSOR_KEY): the opcode, the attributes, the first input's space and shape,
    # the second's space, shape and dtype, and the output's space. Every other operand field is
    # changed here at random; the cost as the scheduler unpacks it must stay the same.
    rng = random.Random(13)
    spaces = (MemorySpace.SBUF, MemorySpace.PSUM, MemorySpace.HBM)
    dtypes = ("bfloat16", "float32", "float8_e4m3", "float8_e4m3_x4", "int8")

    def operand(space: MemorySpace, shape: tuple[int, ...], dtype: str) -> Operand:
        return Operand(rng.choice(("t", "u")), space, shape, dtype, rng.choice((0, 512, 65536, 131072)),
                       Region(rng.randrange(50), 0, rng.randrange(1, 129), 0, rng.randrange(1, 4096)),
                       rng.choice((0, 2, 256, 4096)), rng.choice((1, 2, 4, 64)))

    def shape() -> tuple[int, ...]:
        return rng.choice(((128, 128), (128, 512), (64, 256), (128,), (), (32, 4, 16), (1, 1)))

    for target in ("trn1", "trn2", "trn3"):
        timing = load_timing(target)
        simulation = simulate_module._Simulation(KernelTrace(kernel="k", target=target), timing,
                                                 simulate_module.SimulationOptions())
        for _ in range(400):
            opcode = rng.choice(("nc_matmul", "nc_matmul", "nc_transpose", "nc_matmul_mx", "matmul"))
            attrs = rng.choice(({}, {"transpose": True}, {"perf_mode": "double_row"}, {"is_transpose": 1},
                                {"perf_mode": "none", "accumulate": True}))
            a_space, a_shape = rng.choice(spaces), shape()
            b_space, b_shape, b_dtype = rng.choice(spaces), shape(), rng.choice(dtypes)
            c_space = rng.choice(spaces)
            costs = set()
            for _ in range(4):
                instruction = Instruction(
                    seq=0, engine=Engine.TENSOR, opcode=opcode,
                    inputs=(operand(a_space, a_shape, rng.choice(dtypes)),
                            operand(b_space, b_shape, b_dtype)),
                    outputs=(operand(c_space, shape(), rng.choice(dtypes)),), kernel="k", source_file="f.py",
                    source_line=1, attrs=dict(attrs))
                simulation.compute = ComputeCostModel(timing)  # (no memo: each cost computed anew)
                costs.add(simulation._compute_cost(instruction, None))
            assert len(costs) == 1, (target, opcode, attrs)
