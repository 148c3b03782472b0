"""On-chip capacity under automatic allocation: live ranges in program order, spills to HBM.

The compiler (legacy ``nl.sbuf``/``nl.psum`` = ``auto_alloc``) never refuses a kernel for its
size: when live data exceeds SBUF it inserts spills and refills to HBM (nki-semantics §4; the
performance guide's ``spill_save_bytes`` / ``spill_reload_bytes``). A tile is live from its first
access to its last access in program order, whatever Python still holds a reference to it.

:func:`plan_spills` runs after a launch on the finished trace: per core and memory, it sweeps the
instructions, and where the live bytes per partition exceed the capacity it spills the tile whose
next use is furthest away (Belady's choice) over the gap between two of its uses, inserting a
``spill_save`` DMA after the earlier use and a ``spill_reload`` DMA before the later one, so the
chip model charges the traffic. PSUM overflow is undocumented; it is spilled the same way
(an assumption, stated in docs/nki.md). Tiles placed by direct allocation are not planned here.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace, Operand, Region

#: Up to this many planned tiles, plan_spills first sums all their bytes per memory (a bound on the
#: live bytes that spares a small kernel the scan's fixed numpy cost).
_FEW_TILES = 64


class TileSize(NamedTuple):
    """What a spill of one on-chip allocation moves (a named tuple: one is made per tile)."""

    space: MemorySpace
    partitions: int
    bytes_per_partition: int
    dtype: str
    itemsize: int


@dataclass(frozen=True, slots=True)
class Spill:
    """One tile moved out after instruction ``after`` and back before instruction ``before``."""

    alloc_id: int
    after: int
    before: int


class UseLog(NamedTuple):
    """What a launch noted of its trace's operands as it recorded them (the
    :class:`~trnsim.nki.runtime.Simulation` fields of these names), so that the capacity check does
    not read every operand of every instruction again.

    ``writes_of[k]``: the allocation id of an output of instruction ``k`` (:data:`UNNOTED`: none);
    ``reads``: pairs (an allocation id an input reads, the position of its instruction), one after
    the other; ``reread``: instructions whose operands are read from the instruction itself (with
    every operand of the others among the notes). Only for a trace on one core, its instructions
    in recording order.
    """

    writes_of: list[int]
    reads: list[int]
    reread: Sequence[int]


def plan_spills(
    trace: KernelTrace,
    sizes: dict[int, TileSize],
    capacity: dict[MemorySpace, int],
    next_alloc: int,
    log: UseLog | None = None,
) -> list[Spill]:
    """Insert spill/reload DMAs where live tiles exceed ``capacity``; returns the spills made.

    ``sizes`` maps the alloc ids of auto-allocated on-chip tensors to their sizes; ``next_alloc``
    is the first alloc id free for the HBM spill slots (above every alloc id in the trace).
    ``log``: the launch's notes of the operands (used for a trace on one core whose notes cover
    every instruction; without them every operand is read).
    Updates ``trace`` in place (instructions and ``spill_save_bytes`` / ``spill_reload_bytes``).
    """
    instrs = trace.instructions
    if not instrs or not sizes:
        return []
    if len(sizes) <= _FEW_TILES and all(
        sum(t[2] for t in sizes.values() if t[0] is space) <= cap for space, cap in capacity.items()
    ):
        return []  # all the planned tiles of each memory fit at once (a small kernel: no scan)
    spills: list[Spill] = []
    if log is None or trace.num_cores != 1 or len(log.writes_of) != len(instrs):
        log = None  # (every operand read from the instructions)
    peaks = _live_peaks(instrs, sizes, capacity, next_alloc, log)
    if peaks is not None:  # one core (the common case): the trace as it is
        groups: list[tuple[Sequence[int], dict[MemorySpace, int]]] = [(range(len(instrs)), peaks)]
    else:
        groups = []
        for core in sorted({i.core for i in instrs}):
            mine = [k for k, i in enumerate(instrs) if i.core == core]
            core_peaks = _live_peaks([instrs[k] for k in mine], sizes, capacity, next_alloc)
            assert core_peaks is not None  # (one core's instructions)
            groups.append((mine, core_peaks))
    for positions, peaks in groups:
        uses: dict[int, list[int]] | None = None
        for space, cap in capacity.items():
            if peaks[space] <= cap:
                continue  # what _plan finds at once, from the first and last uses alone
            if uses is None:
                uses = _uses(instrs, positions, sizes)  # one pass over the trace for every memory
            of_space = {a: u for a, u in uses.items() if sizes[a].space is space}
            spills.extend(_plan(of_space, positions, sizes, cap))
    if spills:
        _insert(trace, spills, sizes, next_alloc)
    return spills


#: ``UseLog.writes_of`` of an instruction whose output is not noted: the largest unsigned 64-bit
#: int, no allocation id (the notes hold unsigned ints; read as signed, see :func:`_as_array`: -1)
UNNOTED = (1 << 64) - 1


def _as_array(values: list[int]) -> np.ndarray:
    """``values`` (ints from 0 to :data:`UNNOTED`) as int64, UNNOTED as -1: an array of unsigned
    ints takes a list of ints in C at a third of the cost of a signed one (which parses each item
    as an argument) or of np.array, and its bytes read as signed need no cast."""
    return np.frombuffer(array("Q", values), dtype=np.int64)


def _live_peaks(
    instrs: Sequence[Instruction],
    sizes: dict[int, TileSize],
    spaces: Iterable[MemorySpace],
    ids: int,
    log: UseLog | None = None,
) -> dict[MemorySpace, int] | None:
    """The most bytes per partition of planned tiles live at once in each of ``spaces``, a tile
    being live from its first to its last use (:func:`_spans`): over a capacity exactly where
    :func:`_plan` (which starts from the same live bytes) spills. None when the instructions read
    run on more than one core (live ranges are per core)."""
    spans = _spans(instrs, ids, log)
    if spans is None:
        return None
    used, starts, stops = spans
    n = len(instrs)
    tiles = list(map(sizes.get, used.tolist()))  # None: not planned (HBM, or direct allocation)
    peaks: dict[MemorySpace, int] = {}
    for space in spaces:
        # (by index and identity: a member of an enum hashes and compares in Python)
        nbytes = _as_array([0 if t is None or t[0] is not space else t[2] for t in tiles])
        delta = np.zeros(n + 1, dtype=np.int64)
        np.add.at(delta, starts, nbytes)
        np.add.at(delta, stops, -nbytes)
        peaks[space] = int(np.cumsum(delta[:n]).max())
    return peaks


def _spans(
    instrs: Sequence[Instruction], ids: int, log: UseLog | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(the allocation ids used, ascending; the position of each one's first use; 1 + that of its
    last use), or None when the instructions read run on more than one core. ``ids``: a bound on
    the alloc ids (raised where one is above it).

    The uses are the notes of ``log`` (positions and allocation ids, as the launch recorded them:
    no pass over the operands of every instruction at the end) and the operands of the
    instructions it does not cover (every instruction without a log).
    """
    n = len(instrs)
    at: list[int] = []  # the positions and allocation ids of the uses read here
    of: list[int] = []
    core = instrs[0].core
    for k in range(n) if log is None else log.reread:
        ins = instrs[k]
        if ins.core != core:
            return None
        # (inputs and outputs in two loops, not one over ``(ins.inputs, ins.outputs)`` as _uses:
        # that tuple per instruction cost 10 M machine instructions, 1 % of a trace, valgrind)
        for op in ins.inputs:
            r = op[5]  # op.region (by index)
            if r is not None:
                at.append(k)
                of.append(r[0])
        for op in ins.outputs:
            r = op[5]
            if r is not None:
                at.append(k)
                of.append(r[0])
    if log is not None:
        writes = _as_array(log.writes_of)
        noted = np.flatnonzero(writes >= 0)
        reads = _as_array(log.reads)
        aids = np.concatenate((reads[0::2], writes[noted], _as_array(of)))
        where = np.concatenate((reads[1::2], noted, _as_array(at)))
    else:
        aids, where = _as_array(of), _as_array(at)
    if aids.size:
        ids = max(ids, int(aids.max()) + 1)
    firsts = np.full(ids, n, dtype=np.int64)
    np.minimum.at(firsts, aids, where)
    lasts = np.full(ids, -1, dtype=np.int64)
    np.maximum.at(lasts, aids, where)
    used = np.flatnonzero(lasts >= 0)
    return used, firsts[used], lasts[used] + 1


def _uses(
    instrs: list[Instruction], positions: Sequence[int], sizes: dict[int, TileSize]
) -> dict[int, list[int]]:
    """The positions (indices into ``positions``) that use each planned tile, in first-use order."""
    uses: dict[int, list[int]] = {}
    get = uses.get
    for local, k in enumerate(positions):
        ins = instrs[k]
        for ops in (ins.inputs, ins.outputs):
            for op in ops:
                r = op[5]  # op.region (by index: one pass over every operand of the trace)
                if r is None:
                    continue
                aid = r[0]
                lst = get(aid)
                if lst is None:
                    if aid not in sizes:
                        continue
                    uses[aid] = [local]
                elif lst[-1] != local:
                    lst.append(local)
    return uses


def _plan(
    uses: dict[int, list[int]], positions: Sequence[int], sizes: dict[int, TileSize], cap: int
) -> list[Spill]:
    """Spills keeping the tiles in ``uses`` (one memory) within ``cap`` bytes per partition."""
    n = len(positions)
    delta = np.zeros(n + 1, dtype=np.int64)
    for aid, lst in uses.items():
        nbytes = sizes[aid].bytes_per_partition
        delta[lst[0]] += nbytes
        delta[lst[-1] + 1] -= nbytes
    live = np.cumsum(delta[:n])
    if n == 0 or int(live.max()) <= cap:
        return []
    starts: dict[int, list[int]] = {}
    for aid, lst in uses.items():
        starts.setdefault(lst[0], []).append(aid)
    active: set[int] = set()
    spilled: set[tuple[int, int]] = set()
    out: list[Spill] = []
    for i in range(n):
        active.update(starts.get(i, ()))
        while live[i] > cap:
            best: tuple[int, int, int] | None = None  # (next use, alloc, previous use)
            for aid in active:
                lst = uses[aid]
                if lst[-1] < i:
                    continue
                j = bisect.bisect_left(lst, i)
                if lst[j] == i or j == 0 or (aid, lst[j - 1]) in spilled:
                    continue  # used here, or not yet written, or already out over this gap
                if best is None or lst[j] > best[0]:
                    best = (lst[j], aid, lst[j - 1])
            if best is None:
                break  # every live tile is used by this instruction: nothing can move out
            nxt, aid, prev = best
            spilled.add((aid, prev))
            live[prev + 1 : nxt] -= sizes[aid].bytes_per_partition
            out.append(Spill(aid, positions[prev], positions[nxt]))
        active.difference_update([a for a in active if uses[a][-1] <= i])
    return out


def _insert(trace: KernelTrace, spills: list[Spill], sizes: dict[int, TileSize], next_alloc: int) -> None:
    after: dict[int, list[Instruction]] = {}
    before: dict[int, list[Instruction]] = {}
    saved = reloaded = 0
    instrs = trace.instructions
    for slot, s in enumerate(spills):
        size = sizes[s.alloc_id]
        p, b = size.partitions, size.bytes_per_partition
        shape = (p, b // max(1, size.itemsize))
        nbytes = p * b
        tile = Operand(
            "tile", size.space, shape, size.dtype, nbytes, Region(s.alloc_id, 0, p, 0, b), b, size.itemsize
        )
        hbm = Operand(
            "spill",
            MemorySpace.HBM,
            shape,
            size.dtype,
            nbytes,
            Region(next_alloc + slot, 0, 1, 0, nbytes),
            b,
            size.itemsize,
        )
        a, z = instrs[s.after], instrs[s.before]
        after.setdefault(s.after, []).append(_dma(a, "spill_save", tile, hbm))
        before.setdefault(s.before, []).append(_dma(z, "spill_reload", hbm, tile))
        saved += nbytes
        reloaded += nbytes
    merged: list[Instruction] = []
    for k, ins in enumerate(instrs):
        merged.extend(before.get(k, ()))
        merged.append(ins)
        merged.extend(after.get(k, ()))
    for seq, ins in enumerate(merged):
        ins.seq = seq
    trace.instructions = merged
    trace.spill_save_bytes += saved
    trace.spill_reload_bytes += reloaded


def _dma(at: Instruction, opcode: str, src: Operand, dst: Operand) -> Instruction:
    return Instruction(
        seq=at.seq,
        engine=Engine.DMA,
        opcode=opcode,
        inputs=(src,),
        outputs=(dst,),
        kernel=at.kernel,
        source_file=at.source_file,
        source_line=at.source_line,
        program_id=at.program_id,
        core=at.core,
        attrs={"spill": True},
    )
