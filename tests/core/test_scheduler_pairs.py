"""The scheduler's written-out path for compute instructions with two inputs and one output gives the
schedule of the reference paths.

``_Simulation._run_stream`` looks up the dependencies of such an instruction (most of a kernel's:
a matmul, a ``tensor_tensor``) without loops or a list of reads: the remembered answers, a tile
written once (``RegionTracker.singles``), a first read of a slice inside one box of a disjoint table,
and ``RegionTracker.read_missed`` for the rest; its output is a tile written once, a remembered
rewrite or a new tile, else the general loop. The random traces here make those cases common (the
traces of ``test_scheduler_fast_paths`` write every allocation in tiles first, so they have few tiles
written once): fresh allocations written whole and then read whole, in slices, in other boxes and
across boxes, rewritten or written in new boxes; kernel inputs read before they are written;
operands without a region; a region object shared by several operands, as the kernel layer shares
them. The reference is the same simulation with every tracker fast path off.
"""

from __future__ import annotations

import random

import pytest

from trnsim.core import simulate_trace
from trnsim.core.deps import RegionTracker
from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace, Operand, Region

from .test_scheduler_fast_paths import _fields, _reference_found

_SBUF, _PSUM, _HBM = MemorySpace.SBUF, MemorySpace.PSUM, MemorySpace.HBM
_COMPUTE = (Engine.TENSOR, Engine.VECTOR, Engine.SCALAR, Engine.GPSIMD)


class _Allocations:
    """Allocations of [128 partitions, 1024 bytes] (HBM: one partition of 64 KiB), the boxes written
    in each, and one Region object per value (the kernel layer shares them)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next_id = 1
        self.written: dict[int, list[tuple[int, int, int, int]]] = {}
        self.space: dict[int, MemorySpace] = {}
        self.regions: dict[tuple[int, ...], Region] = {}

    def region(self, alloc: int, box: tuple[int, int, int, int]) -> Region:
        key = (alloc, *box)
        found = self.regions.get(key)
        if found is None or self.rng.random() < 0.2:  # now and then an equal region, another object
            found = self.regions[key] = Region(*key)
        return found

    def new(self, space: MemorySpace) -> int:
        alloc = self.next_id
        self.next_id += 1
        self.space[alloc] = space
        self.written[alloc] = []
        return alloc

    def tile(self, space: MemorySpace) -> tuple[int, int, int, int]:
        if space == _HBM:
            b = self.rng.randrange(4) * 16384
            return (0, 1, b, b + 16384)
        b = self.rng.randrange(4) * 256
        return (0, 128, b, b + 256)

    def read(self, space: MemorySpace) -> Region | None:
        rng = self.rng
        kind = rng.random()
        if kind < 0.06:
            return None  # an immediate operand
        pool = [a for a, s in self.space.items() if s == space]
        if not pool or kind < 0.12:  # a kernel input (or a tile) nobody wrote yet
            alloc = self.new(space)
            return self.region(alloc, self.tile(space))
        alloc = rng.choice(pool)
        boxes = self.written[alloc]
        if boxes and kind < 0.5:  # a box as written
            return self.region(alloc, rng.choice(boxes))
        if boxes and kind < 0.8:  # a slice inside a box written
            p0, p1, b0, b1 = rng.choice(boxes)
            q0 = rng.randrange(p0, p1)
            c0 = rng.randrange(b0, b1)
            return self.region(alloc, (q0, rng.randrange(q0 + 1, p1 + 1), c0, rng.randrange(c0 + 1, b1 + 1)))
        if kind < 0.9:  # another tile of the allocation
            return self.region(alloc, self.tile(space))
        if kind < 0.97:  # anything, across tiles
            top = 1 if space == _HBM else 128
            size = 65536 if space == _HBM else 1024
            p0, b0 = rng.randrange(top), rng.randrange(size)
            box = (p0, rng.randrange(p0 + 1, top + 1), b0, rng.randrange(b0 + 1, size + 1))
            return self.region(alloc, box)
        p, b = rng.randrange(4), rng.randrange(1024)  # empty
        return self.region(alloc, (p, p, b, b + 8))

    def write(self, space: MemorySpace) -> Region | None:
        rng = self.rng
        kind = rng.random()
        if kind < 0.03:
            return None
        pool = [a for a, s in self.space.items() if s == space]
        if not pool or kind < 0.4:  # a fresh tile
            alloc = self.new(space)
            box = self.tile(space)
        else:
            alloc = rng.choice(pool)
            boxes = self.written[alloc]
            if boxes and kind < 0.75:  # the same box again (an accumulation, a loop's buffer)
                box = rng.choice(boxes)
            elif kind < 0.92:  # another tile of it
                box = self.tile(space)
            else:  # a piece across tiles
                top = 1 if space == _HBM else 128
                size = 65536 if space == _HBM else 1024
                p0, b0 = rng.randrange(top), rng.randrange(size)
                box = (p0, rng.randrange(p0 + 1, top + 1), b0, rng.randrange(b0 + 1, size + 1))
        self.written[alloc].append(box)
        return self.region(alloc, box)


def _operand(space: MemorySpace, region: Region | None, dtype: str) -> Operand:
    if region is None:
        return Operand("imm", MemorySpace.IMMEDIATE, (1,), dtype, 0, None, 0, 0)
    size = 2 if dtype == "bfloat16" else 4
    parts = max(0, region[2] - region[1]) if space != _HBM else 1
    free = max(0, region[4] - region[3]) // size
    return Operand("t", space, (parts, free) if space != _HBM else (free,), dtype, parts * free * size,
                   region, free * size, size)


def _random_trace(seed: int, target: str, length: int = 400) -> KernelTrace:
    rng = random.Random(seed)
    allocs = _Allocations(rng)
    trace = KernelTrace(kernel=f"pairs{seed}", target=target)
    inputs: tuple[Operand, ...]
    outputs: tuple[Operand, ...]
    for _ in range(length):
        seq = len(trace.instructions)
        kind = rng.random()
        attrs: dict[str, object] = {}
        if kind < 0.6:  # two inputs, one output (the written-out path)
            engine = rng.choice(_COMPUTE)
            if engine == Engine.TENSOR:
                opcode = "nc_matmul"
                inputs = (_operand(_SBUF, allocs.read(_SBUF), "bfloat16"),
                          _operand(rng.choice((_SBUF, _SBUF, _PSUM)), allocs.read(_SBUF), "bfloat16"))
                space = rng.choice((_PSUM, _PSUM, _SBUF))
                outputs = (_operand(space, allocs.write(space), "float32"),)
                attrs = {"accumulate": rng.random() < 0.5}
                if rng.random() < 0.3:  # reads what it accumulates into (TensorE's PSUM exemption)
                    inputs = (inputs[0], outputs[0])
            else:
                opcode = "tensor_tensor"
                inputs = tuple(_operand(s, allocs.read(s), "float32")
                               for s in (rng.choice((_SBUF, _PSUM)), rng.choice((_SBUF, _PSUM))))
                space = rng.choice((_SBUF, _SBUF, _PSUM))
                outputs = (_operand(space, allocs.write(space), "float32"),)
                attrs = {"op": rng.choice(("add", "multiply"))}
            if rng.random() < 0.1:  # one input twice
                inputs = (inputs[0], inputs[0])
        elif kind < 0.72:  # one or three inputs (the general loops)
            engine = rng.choice(_COMPUTE[1:])
            opcode = rng.choice(("tensor_copy", "activation"))
            inputs = tuple(_operand(_SBUF, allocs.read(_SBUF), "float32") for _ in range(rng.choice((1, 3))))
            outputs = (_operand(_SBUF, allocs.write(_SBUF), "float32"),)
        elif kind < 0.8:  # a PSUM zero-fill (folded when a matmul writes the tile next)
            engine, opcode = Engine.VECTOR, "memset"
            inputs, outputs = (), (_operand(_PSUM, allocs.write(_PSUM), "float32"),)
            attrs = {"value": 0.0}
        elif kind < 0.9:  # a load of a kernel input (read before any write)
            engine, opcode = Engine.DMA, "load"
            inputs = (_operand(_HBM, allocs.read(_HBM), "bfloat16"),)
            outputs = (_operand(_SBUF, allocs.write(_SBUF), "bfloat16"),)
        else:  # a store, now and then into an input already read
            engine, opcode = Engine.DMA, "store"
            inputs = (_operand(_SBUF, allocs.read(_SBUF), "bfloat16"),)
            outputs = (_operand(_HBM, allocs.write(_HBM), "bfloat16"),)
        trace.append(Instruction(seq=seq, engine=engine, opcode=opcode, inputs=inputs, outputs=outputs,
                                 kernel=trace.kernel, source_file="pairs.py", source_line=seq, attrs=attrs))
    return trace


_CASES = [(seed, ("trn1", "trn2", "trn3")[seed % 3]) for seed in range(12)]


@pytest.mark.parametrize(("seed", "target"), _CASES)
def test_pair_path_matches_the_reference_scan(seed: int, target: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    trace = _random_trace(seed, target)
    fast = _fields(simulate_trace(trace, target))
    monkeypatch.setattr(RegionTracker, "exact_lookups", False)
    monkeypatch.setattr(RegionTracker, "_found", _reference_found)
    assert fast == _fields(simulate_trace(trace, target))
