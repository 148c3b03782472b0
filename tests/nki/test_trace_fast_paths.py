"""The trace phase's shortcuts record what the long way records.

* kernel source lines come from a cache by code object and bytecode offset (``frame.f_lineno``
  scans the code's line table): each instruction's line is the line of its call, found here by
  markers in the kernel's source, also when the cache is cleared between kernels;
* template keys number allocation layouts: two layouts never share a number, also after the
  table of numbers starts again;
* spill planning decides "nothing to spill" from first and last uses: wherever it does, the full
  planner spills nothing either.
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
from trnsim.nki.trace import MemorySpace


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


def test_capacity_check_from_spans_never_skips_a_spill() -> None:
    """Random live ranges: where ``_fits`` says the tiles fit, ``_plan`` spills nothing."""
    rng = np.random.default_rng(7)
    for trial in range(300):
        n = int(rng.integers(1, 40))
        tiles = int(rng.integers(1, 12))
        uses: dict[int, list[int]] = {}
        sizes: dict[int, TileSize] = {}
        for aid in range(tiles):
            picks = sorted({int(p) for p in rng.integers(0, n, size=int(rng.integers(1, 5)))})
            uses[aid] = picks
            sizes[aid] = TileSize(MemorySpace.SBUF, 128, int(rng.integers(1, 9)) * 1024, "float32", 4)
        cap = int(rng.integers(1, 30)) * 1024
        spans = {aid: (u[0], u[-1]) for aid, u in uses.items()}
        positions = list(range(n))
        fits = spill_mod._fits(spans, n, sizes, cap)
        planned = spill_mod._plan(uses, positions, sizes, cap)
        if fits:
            assert planned == [], trial
        # the live bytes _fits sums are _plan's: over the cap somewhere means not fitting
        live = np.zeros(n, dtype=np.int64)
        for aid, (start, end) in spans.items():
            live[start : end + 1] += sizes[aid].bytes_per_partition
        assert fits == (int(live.max()) <= cap), trial
