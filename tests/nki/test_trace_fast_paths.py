"""The trace phase's shortcuts record what the long way records.

* kernel source lines come from a cache by code object and bytecode offset (``frame.f_lineno``
  scans the code's line table): each instruction's line is the line of its call, found here by
  markers in the kernel's source, also when the cache is cleared between kernels;
* template keys number allocation layouts: two layouts never share a number, also after the
  table of numbers starts again;
* spill planning decides "nothing to spill" from the peak live bytes of one scan of first and last
  uses: those are the full planner's, and plan_spills spills what the planner run everywhere does.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

import numpy as np
import pytest

from trnsim.nki import runtime, templates, trace_kernel
from trnsim.nki import spill as spill_mod
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl
from trnsim.nki.runtime import Allocation, Buffer
from trnsim.nki.spill import TileSize
from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace, Operand, Region


def marked_body(a: Any) -> Any:
    """Loads, copies and stores on marked lines, some in loops (one call site runs many times)."""
    out = nl.ndarray((256, 512), nl.float32, buffer=nl.shared_hbm)
    for i in nl.affine_range(2):
        t = nl.load(a[i * 128 : (i + 1) * 128, :])  # mark:load
        for _ in nl.sequential_range(3):
            t = nl.copy(  # mark:copy
                t
            )
        nl.store(out[i * 128 : (i + 1) * 128, :], value=t)  # mark:store
    return out


marked_lines = jit(marked_body)


def _marks(func: Any) -> dict[str, int]:
    lines, first = inspect.getsourcelines(func)
    return {
        line.split("# mark:")[1].strip(): first + k for k, line in enumerate(lines) if "# mark:" in line
    }


def _expected_lines(trace: Any, marks: dict[str, int]) -> list[int]:
    by_opcode = {"load": marks["load"], "tensor_copy": marks["copy"], "store": marks["store"]}
    return [by_opcode[i.opcode] for i in trace.instructions]


def test_instruction_lines_are_the_lines_of_their_calls() -> None:
    a = np.zeros((256, 512), np.float32)
    trace = trace_kernel(marked_lines, a, target="trn1", timing_only=True)
    assert [i.opcode for i in trace.instructions].count("tensor_copy") == 6
    assert [i.source_line for i in trace.instructions] == _expected_lines(trace, _marks(marked_body))
    assert {i.source_file for i in trace.instructions} == {inspect.getsourcefile(marked_body)}


def test_lines_stay_right_when_the_cache_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels compiled one after another (code objects freed, ids reused) with the cache holding
    one code object at a time: every line is still the line of its call."""
    monkeypatch.setattr(runtime, "_MAX_LINE_CODES", 1)
    a = np.zeros((256, 512), np.float32)
    source = textwrap.dedent(inspect.getsource(marked_body))
    for pad in range(4):
        # the same kernel shifted down by ``pad`` blank lines: other lines at the same offsets
        scope: dict[str, Any] = {"nl": nl, "Any": Any}
        code = compile("\n" * pad + source, f"<kernel {pad}>", "exec")
        exec(code, scope)
        kernel = jit(scope["marked_body"])
        trace = trace_kernel(kernel, a, target="trn1", timing_only=True)
        marks = {k: v + pad for k, v in _marks_in(source).items()}
        assert [i.source_line for i in trace.instructions] == _expected_lines(trace, marks)
        del kernel, scope, code


def _marks_in(source: str) -> dict[str, int]:
    lines = source.splitlines()
    return {line.split("# mark:")[1].strip(): k + 1 for k, line in enumerate(lines) if "# mark:" in line}


def _alloc(shape: tuple[int, ...], dtype: Any, buffer: Buffer) -> Allocation:
    return Allocation(0, buffer, np.dtype(dtype), shape, shape[0], int(np.prod(shape[1:])), "", None, 0)


def test_layout_numbers_differ_per_layout_also_after_starting_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "_MAX_LAYOUTS", 2)
    monkeypatch.setattr(templates, "_LAYOUTS", {})
    x = _alloc((128, 512), np.float32, Buffer.SBUF)
    y = _alloc((128, 512), np.float32, Buffer.PSUM)  # differs in the buffer only
    z = _alloc((128, 512), np.float16, Buffer.SBUF)  # in the dtype only
    x2 = _alloc((128, 512), np.float32, Buffer.SBUF)  # x's layout
    nx, ny = templates._layout_number(x), templates._layout_number(y)
    assert nx != ny and x.layout == nx
    assert templates._layout_number(x2) == nx  # the same layout, the table not yet full
    nz = templates._layout_number(z)  # the table was full: it starts again
    assert nz not in (nx, ny)
    x3 = _alloc((128, 512), np.float32, Buffer.SBUF)
    assert templates._layout_number(x3) not in (ny, nz)  # maybe a new number for x's layout, never y's
    x4 = _alloc((128, 512), np.float32, Buffer.SBUF)
    x4.implicit = True  # a result placed by default: another layout
    assert templates._layout_number(x4) not in (nx, ny, nz, x3.layout)


def _random_trace(rng: np.random.Generator, cores: int) -> tuple[KernelTrace, dict[int, TileSize]]:
    """A short trace over a few planned tiles (SBUF or PSUM), HBM tensors and immediates."""
    tiles = int(rng.integers(1, 12))
    sizes = {
        aid: TileSize(
            MemorySpace.SBUF if rng.random() < 0.7 else MemorySpace.PSUM,
            128,
            int(rng.integers(1, 9)) * 1024,
            "float32",
            4,
        )
        for aid in range(tiles)
    }

    def operand() -> Operand:
        pick = int(rng.integers(0, tiles + 2))
        if pick == tiles:  # an immediate: no region
            return Operand("imm", MemorySpace.IMMEDIATE, (), "float32", 0, None, 0, 0)
        if pick == tiles + 1:
            return Operand("hbm", MemorySpace.HBM, (1, 8), "float32", 32, Region(100, 0, 1, 0, 32), 32, 4)
        size = sizes[pick]
        b = size.bytes_per_partition
        region = Region(pick, 0, 128, 0, b)
        return Operand(f"t{pick}", size.space, (128, b // 4), "float32", 128 * b, region, b, 4)

    trace = KernelTrace(kernel="k", target="trn1")
    for seq in range(int(rng.integers(1, 40))):
        inputs = tuple(operand() for _ in range(int(rng.integers(0, 4))))
        outputs = tuple(operand() for _ in range(int(rng.integers(0, 3))))
        core = int(rng.integers(0, cores))
        trace.append(Instruction(seq, Engine.VECTOR, "op", inputs, outputs, "k", "k.py", 1, core=core))
    return trace, sizes


def _planned_the_long_way(
    trace: KernelTrace, sizes: dict[int, TileSize], capacity: dict[MemorySpace, int]
) -> list[spill_mod.Spill]:
    """plan_spills without its capacity check: the full planner on every core and memory."""
    instrs = trace.instructions
    spills = []
    for core in sorted({i.core for i in instrs}):
        positions = [k for k, i in enumerate(instrs) if i.core == core]
        uses = spill_mod._uses(instrs, positions, sizes)
        for space, cap in capacity.items():
            mine = {a: u for a, u in uses.items() if sizes[a].space is space}
            spills += spill_mod._plan(mine, positions, sizes, cap)
    return spills


def test_live_peaks_are_the_peaks_of_the_full_use_lists() -> None:
    """Random traces: the peak live bytes of the one-pass scan are those of the planner's use lists
    (first to last use of each planned tile), per memory, whether the bound on alloc ids it is
    given holds or not; None when two cores are in the trace."""
    rng = np.random.default_rng(7)
    spaces = (MemorySpace.SBUF, MemorySpace.PSUM)
    for trial in range(300):
        trace, sizes = _random_trace(rng, 1)
        instrs = trace.instructions
        uses = spill_mod._uses(instrs, range(len(instrs)), sizes)
        expected = {}
        for space in spaces:
            live = np.zeros(len(instrs), dtype=np.int64)
            for aid, u in uses.items():
                if sizes[aid].space is space:
                    live[u[0] : u[-1] + 1] += sizes[aid].bytes_per_partition
            expected[space] = int(live.max())
        # the bound on alloc ids: above them all, or not (the scan then starts again)
        ids = int(rng.integers(1, 120))
        assert spill_mod._live_peaks(instrs, sizes, spaces, ids) == expected, trial
    trace, sizes = _random_trace(rng, 1)
    instrs = trace.instructions
    instrs[-1].core = 1
    assert len(instrs) == 1 or spill_mod._live_peaks(instrs, sizes, spaces, 200) is None


def test_capacity_check_never_skips_a_spill() -> None:
    """Random traces on one or two cores: plan_spills, which skips the planner where the peak live
    bytes fit (and, with few tiles, the scan where all planned tiles fit at once), spills exactly
    what the planner run on every core and memory spills."""
    rng = np.random.default_rng(11)
    spilled = 0
    for trial in range(400):
        trace, sizes = _random_trace(rng, 1 + trial % 2)
        capacity = {
            MemorySpace.SBUF: int(rng.integers(1, 40)) * 1024,
            MemorySpace.PSUM: int(rng.integers(1, 20)) * 1024,
        }
        expected = _planned_the_long_way(trace, sizes, capacity)
        assert spill_mod.plan_spills(trace, sizes, capacity, int(rng.integers(1, 1000))) == expected, trial
        spilled += bool(expected)
    assert 50 < spilled < 350  # both outcomes are tried often
