"""Spill planning reads the uses a launch noted as it recorded its trace (``Simulation.writes_of``,
``reads``, ``reread``; :class:`trnsim.nki.spill.UseLog`) instead of every operand
of the finished trace: on random kernels (loads, copies, element-wise ops, results assigned into
buffers, ``acc += nc_matmul(...)``, reductions that add an output, tiles dropped, some over SBUF's
capacity) and library kernels, in both modes and on a launch's templates kept for the next, the
first and last use of every allocation are those a reference copy of the former scan finds, and
the spills made (instructions, bytes) are those planned from every operand.
"""

from __future__ import annotations

import copy
from array import array
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import trnsim.nki.kernel as kernel_mod
from trnsim.kernels import registry
from trnsim.nki import spill as spill_mod
from trnsim.nki import trace_kernel
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl
from trnsim.nki.trace import MemorySpace


def _reference_live_peaks(instrs: Any, sizes: Any, spaces: Any, ids: int) -> dict[MemorySpace, int] | None:
    """The capacity check's scan before the notes (``spill._live_peaks`` at 874a1d2): the same visits."""
    first = [0] * ids
    last = [0] * ids
    core = instrs[0].core
    position = 1
    try:
        for ins in instrs:
            if ins.core != core:
                return None
            for op in (*ins.inputs, *ins.outputs):
                r = op[5]
                if r is not None:
                    a = r[0]
                    if not first[a]:
                        first[a] = position
                    last[a] = position
            position += 1
    except IndexError:
        bound = max(r[0] for ins in instrs for op in (*ins.inputs, *ins.outputs) if (r := op[5]) is not None)
        return _reference_live_peaks(instrs, sizes, spaces, bound + 1)
    firsts = np.frombuffer(array("Q", first), dtype=np.uint64).astype(np.intp)
    used = np.flatnonzero(firsts)
    starts = firsts[used] - 1
    stops = np.frombuffer(array("Q", last), dtype=np.uint64).astype(np.intp)[used]
    tiles = list(map(sizes.get, used.tolist()))
    count = position - 1
    peaks: dict[MemorySpace, int] = {}
    for space in spaces:
        nbytes = np.frombuffer(
            array("Q", [0 if t is None or t[0] is not space else t[2] for t in tiles]), dtype=np.uint64
        ).astype(np.int64)
        delta = np.zeros(count + 1, dtype=np.int64)
        np.add.at(delta, starts, nbytes)
        np.add.at(delta, stops, -nbytes)
        peaks[space] = int(np.cumsum(delta[:count]).max())
    return peaks


def _reference_spans(instrs: Any) -> dict[int, tuple[int, int]]:
    """Every allocation's first and last use, read from every operand."""
    spans: dict[int, tuple[int, int]] = {}
    for pos, ins in enumerate(instrs):
        for op in (*ins.inputs, *ins.outputs):
            if op.region is not None:
                a = op.region.alloc_id
                spans[a] = (spans.get(a, (pos, pos))[0], pos)
    return spans


@pytest.fixture
def checked_plans(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every launch's spill planning checked against the reference; yields [launches, spilling]."""
    counts = [0, 0]
    plan = spill_mod.plan_spills

    def checked(trace: Any, sizes: Any, capacity: Any, next_alloc: int, log: Any = None) -> Any:
        instrs = trace.instructions
        assert log is not None and len(log.writes_of) == len(instrs)
        if instrs:
            spans = spill_mod._spans(instrs, next_alloc, log)
            assert spans is not None  # (one core)
            used, starts, stops = spans
            got = {int(a): (int(s), int(e) - 1) for a, s, e in zip(used, starts, stops, strict=True)}
            assert got == _reference_spans(instrs)
            assert spill_mod._live_peaks(instrs, sizes, capacity, next_alloc, log) == _reference_live_peaks(
                instrs, sizes, capacity, next_alloc
            )
        unnoted = copy.deepcopy(trace)
        expected = plan(unnoted, sizes, capacity, next_alloc)  # every operand read
        spills = plan(trace, sizes, capacity, next_alloc, log)
        assert spills == expected
        assert trace.instructions == unnoted.instructions
        assert (trace.spill_save_bytes, trace.spill_reload_bytes) == (
            unnoted.spill_save_bytes,
            unnoted.spill_reload_bytes,
        )
        counts[0] += 1
        counts[1] += bool(spills)
        return spills

    monkeypatch.setattr(kernel_mod, "plan_spills", checked)
    yield counts


def _program(seed: int) -> list[tuple[str, int, int]]:
    rng = np.random.default_rng(seed)
    ops = ["load", "zeros", "copy", "add", "assign", "matmul", "reduce", "store", "drop"]
    return [
        (str(rng.choice(ops)), int(rng.integers(0, 1 << 30)), int(rng.integers(1, 4)))
        for _ in range(int(rng.integers(4, 30)))
    ]


@jit
def _random_kernel(x: Any, steps: Any, width: int) -> Any:
    out = nl.ndarray((128, width), dtype=nl.float32, buffer=nl.shared_hbm)
    tiles = [nl.load(x)]
    acc = nl.zeros((128, 128), dtype=nl.float32, buffer=nl.psum)
    smalls = []
    for op, pick, reps in steps:
        for _ in nl.affine_range(reps) if op in ("copy", "matmul") else range(1):
            t = tiles[pick % len(tiles)]
            if op == "load":
                tiles.append(nl.load(x))
            elif op == "zeros":
                tiles.append(nl.zeros((128, width), dtype=nl.float32, buffer=nl.sbuf))
            elif op == "copy":
                tiles.append(nl.copy(t))
            elif op == "add":
                tiles.append(nl.add(t, tiles[(pick >> 3) % len(tiles)]))
            elif op == "assign":  # a fresh result retargeted into a buffer
                buf = nl.ndarray((128, width), dtype=nl.float32, buffer=nl.sbuf)
                buf[...] = nl.multiply(t, 2.0)
                tiles.append(buf)
            elif op == "matmul":
                acc += nisa.nc_matmul(t[:, 0:128], tiles[(pick >> 5) % len(tiles)][:, 0:128])
                smalls.append(nl.copy(acc))
                if len(smalls) > reps + 1:
                    smalls.pop(0)
            elif op == "reduce":  # an instruction that gains an output after it is recorded
                red = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
                tiles.append(
                    nisa.tensor_scalar_reduce(
                        data=t, op0=nl.add, operand0=1.0, reduce_op=nl.add, reduce_res=red
                    )
                )
            elif op == "store":
                nl.store(out, value=t)
            elif op == "drop" and len(tiles) > 1:
                tiles.pop(pick % len(tiles))
    nl.store(out, value=tiles[-1])
    return out


def test_noted_uses_are_every_operands_on_random_kernels(checked_plans: list[int]) -> None:
    for seed in range(60):
        width = 8192 if seed % 2 else 512  # 32 KiB per partition: some programs overflow SBUF
        x = np.random.default_rng(seed).standard_normal((128, width)).astype(np.float32)
        steps = _program(seed)
        # timing-only twice (the second replays the first's kept templates), then with values
        for timing in (True, True, False):
            trace_kernel(_random_kernel, x, steps, width, target="trn1", timing_only=timing)
    launches, spilling = checked_plans
    assert launches == 180 and 20 < spilling < 160  # both outcomes, often


@pytest.mark.parametrize(
    ("name", "params", "dtype"),
    [
        ("matmul_fully_blocked", {"m": 512, "k": 1024, "n": 1024}, "bfloat16"),
        (
            "flash_attention_fwd",
            {"batch": 1, "heads": 1, "kv_heads": 1, "seq_q": 256, "seq_k": 256, "head_dim": 64},
            "bfloat16",
        ),
        ("rmsnorm", {"rows": 256, "hidden": 1024}, "bfloat16"),
        ("cross_entropy", {"tokens": 256, "vocab": 4096}, "bfloat16"),
    ],
)
def test_noted_uses_are_every_operands_on_library_kernels(
    checked_plans: list[int], name: str, params: dict[str, int], dtype: str
) -> None:
    entry = registry.get(name)
    for target in ("trn1", "trn2"):
        for timing in (True, True, False):
            args = entry.make_args(params, dtype, np.random.default_rng(0))
            trace_kernel(entry.kernel, *args, target=target, timing_only=timing)
    assert checked_plans[0] == 6
