"""The active simulation: a context variable the ISA dispatches through.

A :class:`Simulation` holds what one kernel launch needs: the mode (values or timing-only), the
target's :class:`~trnsim.hardware.neuroncore.NeuronCoreSpec`, the trace being recorded, the SPMD
program id, the live on-chip bytes (capacity checks) and the ``affine_range`` dependency tracker.
Front ends never patch module globals; every instruction looks the simulation up here.
"""

from __future__ import annotations

import bisect
import contextvars
import math
import operator
import os
import sys
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from trnsim.hardware.neuroncore import NeuronCoreSpec
from trnsim.nki.dtypes import dtype_name
from trnsim.nki.errors import KernelError
from trnsim.nki.spill import UNNOTED, TileSize
from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace, Operand, Region


class Mode(StrEnum):
    """What a simulation computes."""

    VALUES = "values"  #: compute every value (numpy backend)
    TIMING = "timing"  #: record the trace only (null backend: no arrays)


class Buffer(StrEnum):
    """NKI memory spaces a tensor can be allocated in."""

    SHARED_HBM = "shared_hbm"
    PRIVATE_HBM = "private_hbm"
    HBM = "hbm"
    SBUF = "sbuf"
    PSUM = "psum"

    @property
    def space(self) -> MemorySpace:
        """The trace's memory space of this buffer."""
        return _SPACE[self]

    @property
    def on_chip(self) -> bool:
        """True for SBUF and PSUM."""
        return self is _SBUF or self is _PSUM_BUFFER


# Enum members as module names: ``Buffer.SBUF`` goes through EnumType.__getattr__ (~0.3 us a look-up
# on Python 3.11), a module name does not (hot paths compare buffers per instruction).
_SBUF, _PSUM_BUFFER = Buffer.SBUF, Buffer.PSUM


_NKI_DIR = str(Path(__file__).resolve().parent)

#: Uninitialised integer memory reads as this value (the NKI >= 0.3 simulator's convention);
#: floating-point memory reads as NaN.
UNINIT_INT = 4


#: ``fill`` of a fresh tile that its instruction overwrites whole: no uninitialised-memory fill.
OVERWRITTEN: Any = object()

#: Whether a source file is part of trnsim.nki (kernel_frame skips its frames), per file name.
_INSIDE_NKI: dict[str, bool] = {}


def user_location() -> tuple[str, int]:
    """File and line of the innermost frame outside ``trnsim.nki`` (the kernel's source line)."""
    _, filename, line, _ = kernel_frame(sys._getframe(1))
    return filename, line


#: Per code object (by id, the code object kept so that the id is not reused while the entry lives):
#: its file when it is outside trnsim.nki (None inside), and the line numbers of its frames by
#: bytecode offset: Simulation.record's source line per instruction.
_LINES: dict[int, tuple[Any, str | None, dict[int, int]]] = {}
_MAX_LINE_CODES = 4096


def _code_lines(code: Any) -> tuple[Any, str | None, dict[int, int]]:
    """A fresh entry of ``_LINES`` for ``code`` (no lines yet)."""
    if len(_LINES) >= _MAX_LINE_CODES:
        _LINES.clear()
    filename = code.co_filename
    inside = _INSIDE_NKI.get(filename)
    if inside is None:
        inside = _INSIDE_NKI[filename] = filename.startswith(_NKI_DIR)
    entry: tuple[Any, str | None, dict[int, int]] = (code, None if inside else filename, {})
    _LINES[id(code)] = entry
    return entry


def kernel_frame(frame: Any) -> tuple[Any, str, int, tuple[Any, str | None, dict[int, int]] | None]:
    """The first frame from ``frame`` outward that is outside trnsim.nki (the kernel's), its file name,
    its line and its ``_LINES`` entry (code object, file name, lines by bytecode offset), what it looks
    up per code object kept in that entry; (None, "?", 0, None) where there is none.
    Simulation.record's source line per instruction (and a written-out replay's, templates._site_line).
    """
    while frame is not None:
        code = frame.f_code
        cached = _LINES.get(id(code))
        if cached is None or cached[0] is not code:
            cached = _code_lines(code)
        if cached[1] is not None:  # outside trnsim.nki: the kernel's frame
            # frame.f_lineno, cached by bytecode offset (f_lineno scans the code's line table from its
            # start: microseconds deep inside a long kernel)
            lasti = frame.f_lasti
            line = cached[2].get(lasti)
            if line is None:
                line = cached[2][lasti] = frame.f_lineno
            return frame, cached[1], line, cached
        frame = frame.f_back
    return None, "?", 0, None


#: The bits of fp32 NaN converted to each float dtype, as an unsigned integer of its size.
_NAN_BITS: dict[np.dtype[Any], np.generic] = {}
_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _fill_nan(storage: np.ndarray) -> None:
    """``storage[...] = np.float32(np.nan)`` (uninitialised float memory) as one integer fill."""
    dt = storage.dtype
    uint = _UINT.get(dt.itemsize)
    if uint is None:
        storage[...] = np.float32(np.nan)
        return
    bits = _NAN_BITS.get(dt)
    if bits is None:
        with np.errstate(invalid="ignore"):
            bits = _NAN_BITS[dt] = np.array([np.nan], np.float32).astype(dt).view(uint)[0]
    storage.view(uint).fill(bits)


class Allocation:
    """One tensor's storage: an HBM buffer or an on-chip tile set (block dims x partitions x free).

    On-chip storage is partition-major: element ``(p, f)`` of a partition sits at
    ``p * free_elems + f`` of the flat array, as the current API's ``.ap()`` patterns assume.
    ``storage`` is ``None`` in timing-only mode.
    """

    __slots__ = (
        "__weakref__",
        "alloc_id",
        "buffer",
        "dtype",
        "dtype_name",
        "free_elems",
        "implicit",
        "itemsize",
        "layout",
        "mm_state",
        "name",
        "on_chip",
        "operands",
        "partition_axis",
        "partitions",
        "regions",
        "shape",
        "space",
        "storage",
    )

    def __init__(
        self,
        alloc_id: int,
        buffer: Buffer,
        dtype: np.dtype[Any],
        shape: tuple[int, ...],
        partitions: int,
        free_elems: int,
        name: str,
        storage: np.ndarray | None,
        partition_axis: int = -1,
        name_of_dtype: str | None = None,
    ) -> None:
        self.partition_axis = partition_axis
        self.on_chip = buffer is _SBUF or buffer is _PSUM_BUFFER
        self.space = _SPACE[buffer]
        #: ``name_of_dtype``: ``dtype_name(dtype)`` when the caller knows it (instruction templates)
        self.dtype_name = name_of_dtype or dtype_name(dtype)
        self.alloc_id = alloc_id
        self.buffer = buffer
        self.dtype = dtype
        self.shape = shape
        self.partitions = partitions
        self.free_elems = free_elems
        self.itemsize = dtype.itemsize
        self.name = name
        self.storage = storage
        #: PSUM, value mode: per element 0 = never written, 1 = written by another engine (or
        #: a matmul group closed by a read), 2 = written by a matmul of an open accumulation group;
        #: an int while every element has that state (no per-element array to fill and compare)
        self.mm_state: np.ndarray | int | None = None
        #: a result tile placed by default (no ``buffer=``): the compiler may copy it elsewhere
        self.implicit = False
        #: trace operands of this allocation's strided views, by (offset, shape, strides, partition
        #: axis), the latest name kept: a loop's later iterations reuse them (Tensor.operand); and by
        #: offset, (strides, partition axis, operand) of the latest view there
        self.operands: dict[Any, Any] = {}
        #: the boxes of those views, by (offset, shape, strides)
        self.regions: dict[tuple[Any, ...], Region] = {}
        #: instruction templates: a number for (buffer, dtype, shape, partition axis, implicit),
        #: set on first use as a templated call's argument (trnsim.nki.templates)
        self.layout: int | None = None

    @property
    def bytes_per_partition(self) -> int:
        """Bytes one partition holds (on-chip) or the whole size (HBM)."""
        return self.free_elems * self.itemsize


_SPACE = {b: MemorySpace.SBUF if b is _SBUF else MemorySpace.PSUM if b is _PSUM_BUFFER else MemorySpace.HBM
          for b in Buffer}


class WriteSet:
    """Regions of one allocation written while an ``affine_range`` loop that tracks it runs (a loop
    tracks the tensors made before it), each with its latest write.

    One set per allocation for all the loops (:attr:`Simulation.tracked`), not one per loop: each
    loop's own set is the writes made since it started (write numbers at least its ``start``), and a
    write's iteration in a loop is read off the loop that was innermost when it was made (see
    :meth:`Simulation.iteration_at`). Kept sorted by start byte so that a read only looks at the
    writes near it (block tensors get thousands of disjoint writes); a region rewritten every
    iteration stays one entry. :meth:`Simulation.note_write` inserts a write (``starts``/``regions``
    in start order, ``max_len`` the longest byte range); :meth:`Simulation.check_read` looks at the
    regions between ``bisect_right(starts, byte_start - max_len)`` and ``bisect_left(starts,
    byte_stop)``. Both are written out there: one of each runs per instruction in a loop.
    """

    __slots__ = ("history", "iters", "max_len", "regions", "starts")

    def __init__(self) -> None:
        #: region -> its latest write: (write number, the innermost loop then, its iteration then)
        self.iters: dict[Region, tuple[int, LoopFrame, int]] = {}
        self.starts: list[int] = []
        self.regions: list[Region] = []
        self.max_len = 0
        #: the write numbers of each region written more than once (a loop's set orders the regions
        #: of one start byte by their first write in that loop)
        self.history: dict[Region, list[int]] | None = None


@dataclass(eq=False)  # frames are removed by identity: equal-looking nested frames must not alias
class LoopFrame:
    """One active ``affine_range`` loop, tracking writes to tensors made before it."""

    start_alloc: int
    iteration: int = 0
    #: Simulation.writes_made when the loop started, and when its current iteration started
    start: int = 0
    mark: int = 0
    #: the loop it runs in (None at the top), and that loop's iteration when this one started
    parent: LoopFrame | None = None
    parent_iteration: int = 0
    #: alloc ids whose WriteSet this loop dropped when it ends (it was the outermost tracking them)
    owned: list[int] | None = None


_new_object = object.__new__
_bisect_left, _bisect_right = bisect.bisect_left, bisect.bisect_right

#: Reuse instruction templates (checks passed for a layout/dtype combination); tests turn it off to
#: compare against the uncached path.
CACHE_TEMPLATES = True


@dataclass
class Simulation:
    """One kernel launch being simulated (see module docstring)."""

    mode: Mode
    spec: NeuronCoreSpec
    trace: KernelTrace
    kernel_name: str
    frontend: str = "legacy"
    program_id: tuple[int, ...] = ()
    grid: tuple[int, ...] = ()
    core: int = 0
    next_alloc: int = 0
    #: auto-allocated on-chip tensors: alloc id -> size (spill planning after the launch)
    tile_sizes: dict[int, TileSize] = field(default_factory=dict)
    #: nl.loop_reduce running values, per call site (file, line)
    loop_reduce: dict[tuple[str, int], Any] = field(default_factory=dict)
    #: budgets of this launch (trnsim.nki.budget): instructions recorded, monotonic deadline
    max_instructions: int = 50_000_000
    deadline: float = math.inf
    time_limit_s: float = math.inf
    #: the launch's wall-time watchdog (trnsim.nki.budget.Watchdog): kernel bodies run armed by it
    watchdog: Any = None
    #: the kernel placed a tensor by direct allocation (ncc.sbuf/psum.alloc, mod_alloc)
    direct: bool = False
    loops: list[LoopFrame] = field(default_factory=list)
    #: alloc id -> the writes to it while a loop that tracks it runs (reads of others skip the checks)
    tracked: dict[int, WriteSet] = field(default_factory=dict)
    #: plain writes noted inside affine loops so far (a write's number; loops keep where they started)
    writes_made: int = 0
    #: top-level shared_hbm tensors, matched across SPMD instances by allocation order
    shared: list[Allocation] = field(default_factory=list)
    shared_index: int = 0
    #: the most recent instruction's fresh result tile (assignment retargets it): (the tile, its
    #: instruction, its mask, a replayed matmul's output name or None: see language_impl._iadd, and
    #: that matmul's attributes with ``accumulate`` False and True or None: its template's shared
    #: dicts, which a retarget puts in place of the instruction's, see templates._accumulated)
    last_result: tuple[Any, Instruction, Any, str | None, Any] | None = None
    #: the mask array of the most recent instruction (a retargeted result keeps it)
    last_mask: Any = None
    #: PSUM regions written by matmuls of an open accumulation group, per allocation
    psum_groups: dict[int, list[Region]] = field(default_factory=dict)
    #: instruction templates whose checks passed: (opcode, operand layouts, dtypes, flags) -> the
    #: derived sizes, so a loop's later iterations skip re-checking (see ``CACHE_TEMPLATES``)
    templates: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    #: the random generator behind ``rng`` (made on first use: seeding one costs ~30 us a launch)
    _rng: np.random.Generator | None = field(default=None, repr=False)
    #: value mode: scratch arrays an instruction overwrites and consumes before returning, per
    #: (use, shape) (the widened matmul operands: no fresh memory per instruction)
    scratch: dict[Any, np.ndarray] = field(default_factory=dict)
    #: value mode: copies of loaded HBM views kept for later loads of the same view (a loop loads
    #: one input block many times), per source allocation id: (its storage, {(offset, view key):
    #: read-only copy}), the copies shared as storage by the tiles loaded from that view
    #: (trnsim.nki.templates._replay_copy); and their bytes in all. A write into HBM drops the
    #: copies of every source sharing memory with it, a write into a tile unshares its storage
    #: (:func:`writable_storage`)
    loaded: dict[int, tuple[np.ndarray, dict[Any, np.ndarray]]] = field(default_factory=dict)
    loaded_bytes: int = 0
    #: the latest written-out replay whose output operand is a stand-in until it is known not to be
    #: retargeted (trnsim.nki.templates.settle_outputs)
    pending: Any = None
    #: what spill planning reads of the trace, noted as it is recorded (trnsim.nki.spill.UseLog):
    #: the allocation id of an output of each instruction (spill.UNNOTED: none noted; the
    #: instruction is in ``reread``), the allocation ids of the tensor inputs of written-out
    #: replays each followed by its instruction's position, and the instructions whose operands
    #: planning reads itself (those recorded through :meth:`record`, and those whose operands
    #: changed after being noted). Who points a recorded instruction's operands at other
    #: allocations (a retarget, an added output) updates ``writes_of`` (one output) or appends the
    #: instruction to ``reread``.
    writes_of: list[int] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)
    reread: list[int] = field(default_factory=list)
    #: the instruction name of the latest check_read (instruction templates learn it)
    read_name: str | None = None
    depth: int = 0  # sub-kernel nesting
    values: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        #: True when values are computed (a plain attribute: read on every instruction)
        self.values = self.mode is Mode.VALUES

    @property
    def rng(self) -> np.random.Generator:
        """The launch's random numbers (``nl.rand``, dropout ...): seeded with 0 unless the kernel
        seeds it."""
        if self._rng is None:
            self._rng = np.random.default_rng(0)
        return self._rng

    @rng.setter
    def rng(self, generator: np.random.Generator) -> None:
        self._rng = generator

    # -- errors --------------------------------------------------------------------------------
    def fail(self, instruction: str, rule: str, err_id: str = "") -> NoReturn:
        """Raise a KernelError naming this kernel, the instruction and the user's source line."""
        raise error_at_user_line(rule, err_id, instruction=instruction, kernel=self.kernel_name)

    # -- allocation ----------------------------------------------------------------------------
    def allocate(
        self,
        instruction: str,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        buffer: Buffer,
        name: str = "",
        fill: Any = None,
        partition_axis: int = 0,
    ) -> Allocation:
        """Create storage; ``fill=None`` leaves it uninitialised (NaN / UNINIT_INT sentinel)."""
        for d in shape:
            if (d.__class__ is not int and not isinstance(d, (int, np.integer))) or d < 0:
                self.fail(instruction, f"tensor shape {shape} must be non-negative integers", "invalid_shape")
        top_shared = buffer is Buffer.SHARED_HBM and self.depth == 0 and self.grid and not self.loops
        if top_shared and self.shared_index < len(self.shared):
            # every SPMD instance sees the same top-level shared_hbm tensor
            alloc = self.shared[self.shared_index]
            self.shared_index += 1
            if alloc.shape != tuple(shape) or alloc.dtype != dtype:
                self.fail(
                    instruction,
                    "shared_hbm tensor differs between SPMD instances"
                    f" ({shape} {dtype} vs {alloc.shape} {alloc.dtype})",
                    "spmd_shared_mismatch",
                )
            return alloc
        size = math.prod(shape) if shape else 1
        if buffer.on_chip:
            if len(shape) < 2:
                self.fail(
                    instruction,
                    f"on-chip tensors need a partition and a free dimension"
                    f" (got shape {tuple(shape)}; use e.g. ({shape[0] if shape else 1}, 1))",
                    "leading_dimension_of_tensor_must_be_partition",
                )
            partitions = int(shape[partition_axis])
            if partitions > self.spec.pmax:
                self.fail(
                    instruction,
                    f"partition dimension {partitions} exceeds the limit (valid: 1..{self.spec.pmax})",
                    "num_partition_exceed_arch_limit",
                )
            free = size // partitions if partitions else 0
        else:
            partitions, free = 1, size
        storage = None
        if self.values:
            storage = np.empty(size, dtype=dtype)
            if fill is OVERWRITTEN:
                pass  # the instruction that made it writes every element before anything reads
            elif fill is None:
                if dtype.names:
                    storage.view(np.uint8).fill(0xFF)
                elif dtype.kind in "iub":
                    storage.fill(UNINIT_INT)
                else:
                    _fill_nan(storage)
            else:
                values = (
                    np.asarray(fill, dtype=np.float32).astype(dtype)
                    if dtype.kind in "fV"
                    else np.asarray(fill).astype(dtype)
                )
                # an array fill (nl.shared_constant) has the tensor's shape; storage is flat
                storage[...] = np.broadcast_to(values, tuple(shape)).reshape(-1)
        alloc = Allocation(
            self.next_alloc,
            buffer,
            dtype,
            tuple(int(d) for d in shape),
            partitions,
            free,
            name,
            storage,
            partition_axis if buffer.on_chip else -1,
        )
        self.next_alloc += 1
        if buffer.on_chip:
            self._account(instruction, alloc)
            if buffer is Buffer.PSUM and self.values:
                alloc.mm_state = 0 if fill is None else 1
        if buffer is Buffer.SHARED_HBM and self.depth == 0 and self.grid and not self.loops:
            self.shared.append(alloc)
            self.shared_index += 1
        return alloc

    def allocate_tile(
        self,
        instruction: str,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        buffer: Buffer,
        fill: Any = None,
    ) -> Allocation:
        """Fast path of :meth:`allocate` for a fresh on-chip result tile (partition dim first).

        ``fill=OVERWRITTEN``: the instruction making the tile writes all of it (value mode skips
        the uninitialised-memory fill). Both modes keep the checked size of each (buffer, shape,
        dtype) as a template: a loop's later tiles skip the checks (value mode still makes the
        storage :meth:`allocate` would make for ``fill`` None or OVERWRITTEN).
        """
        key = (buffer, shape, dtype)
        template = self.templates.get(key) if CACHE_TEMPLATES else None
        if template is not None and (not self.values or fill is None or fill is OVERWRITTEN):
            storage = None
            if self.values:
                # allocate()'s value-mode storage for a tile that fill=None or OVERWRITTEN asks
                size = shape[0] * template[0]
                storage = np.empty(size, dtype=dtype)
                if fill is None:
                    if dtype.names:
                        storage.view(np.uint8).fill(0xFF)
                    elif dtype.kind in "iub":
                        storage.fill(UNINIT_INT)
                    else:
                        _fill_nan(storage)
            alloc = Allocation(self.next_alloc, buffer, dtype, shape, shape[0], template[0], "", storage, 0)
            self.next_alloc += 1
            self.tile_sizes[alloc.alloc_id] = template[1]
            if storage is not None and buffer is Buffer.PSUM:
                alloc.mm_state = 0 if fill is None else 1
            return alloc
        if (
            (self.values and fill is not None and fill is not OVERWRITTEN)
            or len(shape) < 2
            or not (0 < shape[0] <= self.spec.pmax)
            or (buffer is not Buffer.SBUF and buffer is not Buffer.PSUM)
        ):
            return self.allocate(instruction, shape, dtype, buffer, fill=fill)
        if self.values:
            alloc = self.allocate(instruction, shape, dtype, buffer, fill=fill)
            free = alloc.free_elems
        else:
            free = math.prod(shape[1:])
            alloc = Allocation(self.next_alloc, buffer, dtype, shape, shape[0], free, "", None, 0)
            self.next_alloc += 1
            self._account(instruction, alloc)
        if CACHE_TEMPLATES and shape.__class__ is tuple:
            self.templates[key] = (free, self.tile_sizes[alloc.alloc_id])
        return alloc

    def _account(self, instruction: str, alloc: Allocation) -> None:
        """Check a PSUM tile fits one bank; note the tile's size for spill planning.

        Capacity is not checked here: under automatic allocation the compiler spills instead
        of refusing, and live ranges follow program order (last use), not Python lifetimes, so
        it is planned on the finished trace (:mod:`trnsim.nki.spill`).
        """
        nbytes = alloc.free_elems * alloc.itemsize
        if alloc.buffer is Buffer.PSUM:
            block_bytes = nbytes // max(1, _blocks(alloc))
            if block_bytes > self.spec.psum_bank_bytes:
                self.fail(
                    instruction,
                    f"PSUM tile of {block_bytes} bytes per partition exceeds one bank"
                    f" ({self.spec.psum_bank_bytes} bytes = {self.spec.psum_bank_bytes // 4} fp32)",
                    "size_of_dimension_exceed_arch_limit",
                )
        self.tile_sizes[alloc.alloc_id] = TileSize(
            alloc.space, alloc.partitions, nbytes, alloc.dtype_name, alloc.itemsize
        )

    # -- trace ---------------------------------------------------------------------------------
    def record(
        self,
        engine: Engine,
        opcode: str,
        inputs: tuple[Operand, ...],
        outputs: tuple[Operand, ...],
        attrs: dict[str, Any] | None = None,
        skip: int = 1,
    ) -> Instruction:
        """Append one executed instruction to the trace.

        ``skip``: the first frame that may be the kernel's (callers that know how many of their own
        trnsim.nki frames are above them start the search for the source line there).
        ``templates._specialise`` writes this body out into each timing-only replay: keep both alike.
        """
        seq = len(self.trace.instructions)
        if seq >= self.max_instructions or (not seq & 4095 and time.monotonic() > self.deadline):
            self._over_budget(opcode, seq)
        _, filename, line, _ = kernel_frame(sys._getframe(skip))
        # Instruction(seq, engine, ...) field by field: the dataclass __init__ costs as much again
        instr = _new_object(Instruction)
        instr.seq = seq
        instr.engine = engine
        instr.opcode = opcode
        instr.inputs = inputs
        instr.outputs = outputs
        instr.kernel = self.kernel_name
        instr.source_file = filename
        instr.source_line = line
        instr.program_id = self.program_id
        instr.core = self.core
        instr.attrs = attrs or {}
        self.trace.instructions.append(instr)
        # (spill planning reads this instruction's operands itself)
        self.writes_of.append(UNNOTED)
        self.reread.append(seq)
        return instr

    def _over_budget(self, opcode: str, seq: int) -> NoReturn:
        if seq >= self.max_instructions:
            self.fail(
                opcode,
                f"instruction budget of {self.max_instructions:,} instructions exceeded (a kernel that"
                " never ends? raise it with --max-instructions or TRNSIM_MAX_INSTRUCTIONS)",
                "instruction_budget_exceeded",
            )
        self.fail(
            opcode,
            f"wall-time budget of {self.time_limit_s:g} s exceeded (a kernel that never ends? raise it"
            " with --time-limit or TRNSIM_TIME_LIMIT_S)",
            "time_limit_exceeded",
        )

    # -- affine_range dependency tracking ------------------------------------------------------
    def note_write(self, region: Region | None, accumulate: bool, exact: bool = True) -> None:
        """Remember a plain write inside affine loops (accumulations are exempt).

        ``exact``: the write covers every element of ``region`` (a strided view, no mask, no
        runtime index); a second iteration writing the very same region is then refused
        (nki-semantics §4, ``err_unexpected_output_dependencies``). Partial overlaps are not
        looked for (that would cost a search per write).
        """
        loops = self.loops
        # frames are in start order, so the last one starts last: a tensor made after it (a
        # fresh tile) is tracked by none
        if not loops or region is None or accumulate or region[0] >= loops[-1].start_alloc:
            return
        alloc_id = region[0]
        n = self.writes_made
        self.writes_made = n + 1
        inner = loops[-1]
        regions = self.tracked.get(alloc_id)
        if regions is None:
            regions = self.tracked[alloc_id] = WriteSet()
            for frame in loops:  # the outermost loop tracking it drops it when it ends
                if alloc_id < frame.start_alloc:
                    if frame.owned is None:
                        frame.owned = [alloc_id]
                    else:
                        frame.owned.append(alloc_id)
                    break
        iters = regions.iters
        earlier = iters.get(region)
        if earlier is None:
            # the write into the sorted set (see WriteSet)
            start = region[3]
            at = _bisect_right(regions.starts, start)
            regions.starts.insert(at, start)
            regions.regions.insert(at, region)
            length = region[4] - start
            if length > regions.max_len:
                regions.max_len = length
        else:
            if earlier[0] < inner.mark:  # not in this iteration of the innermost loop
                self._rewritten(region, earlier, exact)
            history = regions.history
            if history is None:
                regions.history = {region: [earlier[0], n]}
            elif region in history:
                history[region].append(n)
            else:
                history[region] = [earlier[0], n]
        iters[region] = (n, inner, inner.iteration)

    def _rewritten(self, region: Region, earlier: tuple[int, LoopFrame, int], exact: bool) -> None:
        """Fail when ``region``, written before in ``earlier``, was written in an earlier iteration of
        a loop that tracks it (the outermost such loop's iterations in the message), for an exact write."""
        if not exact:
            return
        alloc_id = region[0]
        for frame in self.loops:
            # (the loop holds the region when it was written since the loop started)
            if alloc_id < frame.start_alloc and earlier[0] >= frame.start:
                then = self.iteration_at(frame, earlier)
                now = frame.iteration
                if then != now:
                    self.fail(
                        "affine_range",
                        f"iterations {then} and {now} of an affine_range both write the same"
                        " elements (not an accumulation); index the write with the loop variable,"
                        " or use sequential_range",
                        "unexpected_output_dependencies",
                    )

    @staticmethod
    def iteration_at(frame: LoopFrame, write: tuple[int, LoopFrame, int]) -> int:
        """The iteration of loop ``frame`` in which ``write`` (made while it ran) was made: the write's
        own loop's, or the iteration ``frame`` was in when the loop inside it on the way there started."""
        inner = write[1]
        if inner is frame:
            return write[2]
        while inner.parent is not frame:
            inner = inner.parent  # type: ignore[assignment]
        return inner.parent_iteration

    def end_loop(self, frame: LoopFrame) -> None:
        """``frame``'s loop is over: the writes only it tracked are no longer tracked."""
        self.loops.remove(frame)
        if frame.owned is not None:
            tracked = self.tracked
            for alloc_id in frame.owned:
                del tracked[alloc_id]

    def check_read(self, instruction: str, region: Region | None, accumulate: bool) -> None:
        """Fail when an affine_range iteration reads what an earlier iteration wrote."""
        self.read_name = instruction
        loops = self.loops
        if not loops or region is None or accumulate:
            return
        writes = self.tracked.get(region[0])
        if writes is None:
            return  # no active loop holds writes to this tensor
        _, p0, p1, b0, b1 = region
        # the writes near the region (see WriteSet); one that overlaps it and was not made in this
        # iteration of the innermost loop (nor then of any loop) may be an earlier iteration's
        starts = writes.starts
        lo = _bisect_right(starts, b0 - writes.max_len)
        hi = _bisect_left(starts, b1)
        if lo >= hi:
            return
        mark = loops[-1].mark
        iters = writes.iters
        for w in writes.regions[lo:hi]:
            n = iters[w][0]
            if n < mark and w[1] < p1 and p0 < w[2] and w[3] < b1 and b0 < w[4]:  # same alloc_id
                # made in an earlier iteration of a loop tracking it (since it started, before its
                # current iteration), or before all of them (then no loop holds it) or in the current
                # iteration of an outer one (then it is the current iteration's for all outer ones)?
                alloc_id = region[0]
                for frame in reversed(loops):
                    if n >= frame.mark or alloc_id >= frame.start_alloc:
                        break
                    if n >= frame.start:
                        self._carried(instruction, region, writes)
                        return

    def _carried(self, instruction: str, region: Region, writes: WriteSet) -> None:
        """check_read's verdict loop by loop (outermost first), each loop's writes as one set per loop
        held them: those since it started, in start order then by first write in the loop."""
        alloc_id, p0, p1, b0, b1 = region
        iters = writes.iters
        history = writes.history or {}
        for frame in self.loops:
            if alloc_id >= frame.start_alloc:
                continue  # (it tracks none of this tensor's writes)
            begun = frame.start
            held = []
            for w in writes.regions:
                if iters[w][0] >= begun:
                    numbers = history.get(w)
                    first = iters[w][0] if numbers is None else numbers[_bisect_left(numbers, begun)]
                    held.append((w[3], first, w))
            if not held:
                continue
            held.sort(key=lambda e: (e[0], e[1]))
            starts = [e[0] for e in held]
            max_len = max(0, *(e[2][4] - e[0] for e in held))
            lo = _bisect_right(starts, b0 - max_len)
            hi = _bisect_left(starts, b1)
            if lo >= hi:
                continue
            near = [e[2] for e in held[lo:hi]]
            now = frame.iteration
            earlier = None
            for w in near:
                it = self.iteration_at(frame, iters[w])
                if it < now and w[1] < p1 and p0 < w[2] and w[3] < b1 and b0 < w[4]:
                    earlier = (w, it)
                    break
            if earlier is None:
                continue
            if any(self.iteration_at(frame, iters[w]) == now and _contains(w, region) for w in near):
                continue
            it = earlier[1]
            self.fail(
                instruction,
                f"loop-carried dependency inside affine_range (iteration {now} reads what iteration"
                f" {it} wrote; use sequential_range, or accumulate with +=)",
                "unexpected_output_dependencies",
            )


def _contains(outer: Region, inner: Region) -> bool:
    return (
        outer.partition_start <= inner.partition_start
        and inner.partition_stop <= outer.partition_stop
        and outer.byte_start <= inner.byte_start
        and inner.byte_stop <= outer.byte_stop
    )


def _blocks(alloc: Allocation) -> int:
    # block dims are the dims before the partition dim; PSUM blocks map to separate banks
    n = 1
    for d in alloc.shape[: max(0, alloc.partition_axis)]:
        n *= d
    return n


_ACTIVE: contextvars.ContextVar[Simulation | None] = contextvars.ContextVar("trnsim_nki_sim", default=None)


def active() -> Simulation | None:
    """The running simulation, or None outside kernels."""
    return _ACTIVE.get()


def writable_storage(alloc: Allocation) -> np.ndarray:
    """``alloc.storage`` (value mode) for an instruction about to write into it.

    A tile loaded from a view that an earlier load copied shares that copy, read-only
    (:attr:`Simulation.loaded`): it gets a copy of its own first. Copies of ``alloc``'s views kept
    for later loads are dropped, since they would no longer be its values. Every write into tile
    or tensor storage goes through here (a write into a read-only shared copy would fail loudly).
    """
    storage = alloc.storage
    assert storage is not None
    if not alloc.on_chip:
        sim = _ACTIVE.get()
        if sim is not None and sim.loaded:
            # (two arguments may be one array, and a dtype view of a tensor is another allocation
            # object over its memory: every source whose memory this write may reach)
            for source_id, (source, copies) in list(sim.loaded.items()):
                if source_id == alloc.alloc_id or np.may_share_memory(source, storage):
                    del sim.loaded[source_id]
                    sim.loaded_bytes -= sum(a.nbytes for a in copies.values())
    elif not storage.flags.writeable:
        storage = alloc.storage = storage.copy()
    return storage


def error_at_user_line(
    rule: str, err_id: str, *, instruction: str = "", kernel: str | None = None,
    cls: type[KernelError] = KernelError,
) -> KernelError:
    """``cls(rule)`` located at the kernel's innermost source line (:func:`user_location`), naming
    ``kernel`` or else the running launch's kernel ("-" outside one): the one-line error of every
    mistake the front end finds."""
    if kernel is None:
        sim = _ACTIVE.get()
        kernel = sim.kernel_name if sim is not None else "-"
    filename, line = user_location()
    return cls(rule, kernel=kernel, instruction=instruction, location=f"{os.path.basename(filename)}:{line}",
               err_id=err_id)


def integer_argument(api: str, what: str, value: Any) -> int:
    """``value`` as an int (anything with ``__index__``); anything else is the kernel's mistake:
    one KernelError line at its source line (inside a launch or not)."""
    try:
        return operator.index(value)
    except TypeError:
        pass
    raise error_at_user_line(f"{what} must be an integer, got {value!r} ({type(value).__name__})",
                             "invalid_argument", instruction=api)


def current(api: str = "") -> Simulation:
    """The running simulation; NKI calls outside a kernel are an error."""
    sim = _ACTIVE.get()
    if sim is None:
        raise error_at_user_line(
            f"NKI API {api or 'call'} used outside of an NKI kernel (decorate the function with"
            " nki.jit and call it, or use trnsim.nki.simulate)",
            "nki_api_outside_of_nki_kernel",
        )
    return sim


def activate(sim: Simulation) -> contextvars.Token[Simulation | None]:
    """Make ``sim`` the active simulation; pass the token to :func:`deactivate`."""
    return _ACTIVE.set(sim)


def deactivate(token: contextvars.Token[Simulation | None]) -> None:
    """Restore the previously active simulation."""
    _ACTIVE.reset(token)
