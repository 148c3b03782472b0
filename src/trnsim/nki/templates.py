"""Instruction templates: a timing-only front-end call replayed from the first checked call like it.

A loop runs the same NKI call many times with operands that differ only in their offsets (the
next tile of a block, the next rows of an HBM tensor). In timing-only mode such a call's checks
(operand buffers, dtypes, shapes, partition dims, engine and flag rules, the fresh tile's size)
depend only on the operands' layouts and the other arguments, and what it records is fixed up to
the operands' regions. :func:`templated` wraps a front-end function so that:

* the first call with a given *key* (each tensor argument's buffer, dtype, allocation shape and
  view shape/strides/partition axis; every other argument by class and value; whether the kernel
  uses direct allocation) runs the checked path, and if it made exactly one new on-chip tensor
  and recorded at most one instruction writing it, from tensor arguments it was given, the call
  is kept as a template (:func:`_learn`);
* a later call with the same key replays it (:func:`_replay`): a new allocation of the same
  geometry, the dependency checks of each input in order (``affine_range`` loop-carried reads,
  which are the only checks that depend on offsets, with the same messages), the PSUM
  accumulation-group bookkeeping, and the trace record with the operands of this call's views;
* in timing-only mode a call first tries the templates of its function's two latest replayed calls
  through their guarded replays (:func:`_guarded`: a guard that takes exactly the calls with that
  template's key, then the written-out replay, one frame), and builds a key only when both miss.

Value mode replays only the calls in ``_VALUE_COPIES``: ``nl.load`` without a dtype change (the new
tile's storage is a copy of the source view's values, shared with later loads of the same HBM view
until a write reaches it: see :func:`_replay_copy`) and ``nisa.nc_matmul`` of plain bfloat16
operands into a fresh fp32 PSUM tile (the product computed as the checked path computes it,
:mod:`trnsim.nki.engines.bf16_matmul`; operands whose widened values are not C-contiguous take the
checked path), each through the template's replay as in timing-only mode (:func:`_replay`, written
out once warm) with the values stored after it. Anything else unusual (a mask, index arrays,
out-of-bounds or dynamic views, arguments of other classes, more than one instruction or allocation)
takes the checked path and is not kept.
``runtime.CACHE_TEMPLATES = False`` turns templates off (tests compare traces with and without).
A launch's templates are kept for the next one like it (:func:`kept_templates`), in either mode.
"""

from __future__ import annotations

import enum
import itertools
import math
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from trnsim.nki import runtime
from trnsim.nki import tensor as _tensor
from trnsim.nki.engines.bf16_matmul import multiply_bf16_bits, widen_bf16
from trnsim.nki.engines.bf16_matmul import plain_bf16 as _plain_bf16
from trnsim.nki.runtime import Allocation, Buffer
from trnsim.nki.tensor import ParDim, Tensor, _start_views, shared_shape
from trnsim.nki.trace import Engine, Instruction, MemorySpace, Operand, Region

#: what the written-out replays read besides this module's own names (see _specialise)
_monotonic = time.monotonic
_getframe = sys._getframe
_Instruction = Instruction

_ACTIVE = runtime._ACTIVE
_F32 = np.dtype(np.float32)
_U16 = np.dtype(np.uint16)
_PSUM = Buffer.PSUM
_IMMEDIATE = MemorySpace.IMMEDIATE
_new_tuple = tuple.__new__
_new_object = object.__new__
_getrefcount = sys.getrefcount
#: a template's view box when it is the output operand's (one Region for both)
_SAME = object()

#: classes of non-tensor arguments a key may hold: hashed and compared by value (or identity)
#: without side effects (tuples: see _SHAPE_ITEMS)
_PLAIN: frozenset[type] = frozenset(
    {int, float, bool, str, type(None), type, np.ufunc, types.FunctionType, types.BuiltinFunctionType}
)
#: classes a tuple argument's items may have
_SHAPE_ITEMS: frozenset[type] = frozenset({int, np.int64, np.int32, ParDim})
#: templates kept per launch at most, and kept for the next launch only below it (a kernel
#: passing a new lambda or scale per call makes a new key each time)
_MAX_TEMPLATES = 4096
#: timing-only replays of a template through :func:`_replay` before its written-out replay takes over
#: (:func:`_specialise`: writing one out costs about 20 µs, its structure's first compile in a process
#: about 0.6 ms, and each written-out replay saves about 1 µs: a template replayed a few times, as in
#: a small launch, would not repay it); 0 writes each template out when it is learned
SPECIALISE_AFTER = 32
#: written-out replays of a fresh result read from tensor arguments make its output operand only when
#: no retarget replaced it (see _materialise; tests compare traces with it off)
DEFER_OUTPUTS = True


#: front-end calls that value mode replays too: the new tile's values are a copy of one argument's
#: (a load without dtype conversion; see _copy_template)
_VALUE_COPIES = frozenset({"nl.load", "nisa.nc_matmul"})


#: bases of the int keys under which an allocation's operand cache holds a template input's
#: operands (base + view offset: an offset stays below 1 << _OFFSET_BITS, see _inputs)
_OFFSET_BITS = 48
_INPUT_KEYS = itertools.count(1)

#: a number per allocation layout (buffer, dtype, shape, partition axis, implicit): a key holds
#: the number, not the five values (fewer to hash and compare per call)
_LAYOUTS: dict[tuple[Any, ...], int] = {}
#: numbers are never reused, even after _LAYOUTS is cleared (an allocation keeps its number)
_NUMBERS = itertools.count()
#: layouts numbered at most before _LAYOUTS starts again (later allocations get new numbers)
_MAX_LAYOUTS = 1 << 16


def _layout_number(a: Allocation) -> int:
    """``a.layout``, set on first use: the number of ``a``'s layout (once its ``implicit`` flag is
    final: new_tile and _replay set it right after the allocation, before any call sees it)."""
    layout = (a.buffer, a.dtype, a.shape, a.partition_axis, a.implicit)
    number = _LAYOUTS.get(layout)
    if number is None:
        if len(_LAYOUTS) >= _MAX_LAYOUTS:
            _LAYOUTS.clear()
        number = _LAYOUTS[layout] = next(_NUMBERS)
    a.layout = number
    return number


#: a number per tensor argument's part of a key (its allocation's layout number, view shape, strides
#: and partition axis): a key holds the number (hashed and compared as one int, not four values)
_VIEWS: dict[tuple[Any, ...], int] = {}


def _view_number(view: tuple[Any, ...]) -> int:
    """The number of ``view`` (a new one when it has none: numbers are never reused, as layouts')."""
    if len(_VIEWS) >= _MAX_LAYOUTS:
        _VIEWS.clear()
    number = _VIEWS[view] = next(_NUMBERS)
    return number


#: the classes of the values :func:`_plain` accepted (it depends on the class alone): a key looks
#: here first (enum members, numpy scalars and dtypes skip the call and its isinstance)
_PLAIN_CLASSES: set[type] = set(_PLAIN)


def _plain(value: Any) -> bool:
    """True for a non-tuple argument value a key may hold (see ``_PLAIN``)."""
    cls = value.__class__
    if cls in _PLAIN or isinstance(value, (enum.Enum, np.generic, np.dtype, str)):
        _PLAIN_CLASSES.add(cls)
        return True
    return False


#: what :func:`_key_part` returns for a tensor no key may hold
_NOT_PLAIN = object()


def _key_part(value: Tensor) -> Any:
    """``value``'s part of a template key (kept on it as ``value._key``), or ``_NOT_PLAIN`` for a
    view with index arrays, out-of-bounds indices or a dynamic offset (not templated)."""
    if value.flat is not None or value.oob is not None or value.dyn or value.index_tiles:
        return _NOT_PLAIN
    a = value.alloc
    layout = a.layout
    if layout is None:
        layout = _layout_number(a)
    view = (layout, value.shape, value.strides, value.paxis)
    part = _VIEWS.get(view)
    if part is None:
        part = _view_number(view)
    value._key = part
    return part


def templated(
    fn: Callable[..., Any], tag: str, bind_error: Callable[[TypeError], Exception], writes: bool = False
) -> Any:
    """``fn`` (the front-end function ``tag``, e.g. ``nisa.tensor_tensor``, that makes a new tile
    and records at most one instruction through the shared execution step) with timing-only
    templates.

    ``writes``: ``fn`` makes no tile; it records one instruction writing one of its tensor arguments
    (``nl.store``). A TypeError raised binding ``fn``'s arguments becomes ``bind_error(error)``
    (trnsim.nki.guard's one-line error), as without templates.
    """

    copies = tag in _VALUE_COPIES and not writes
    #: timing-only: (the templates dict, the guarded replay) of the templates of this function's two
    #: latest replayed calls, the latest first (see _guarded), tried before a key is built (a loop
    #: body calling it at two places alternates between two)
    latest: list[Any] = [None, None]

    def call(*args: Any, **kwargs: Any) -> Any:
        sim = _ACTIVE.get()
        if sim is not None:
            guarded = latest[0]
            if (
                guarded is not None and guarded[0] is sim.templates and runtime.CACHE_TEMPLATES
                and not sim.values
            ):
                result = guarded[1](sim, args, kwargs)
                if result is not _MISS:
                    return result
                other = latest[1]
                if other is not None and other[0] is sim.templates:
                    result = other[1](sim, args, kwargs)
                    if result is not _MISS:
                        latest[0] = other  # (tried first next time: a run of calls alike)
                        latest[1] = guarded
                        return result
        key: Any = None
        if sim is not None and (not sim.values or copies) and runtime.CACHE_TEMPLATES:
            # the key: each tensor argument's layout (only plain views), every other argument by
            # class and value (only classes in _PLAIN), the keyword names; None: not templated
            values: Any = (*args, *kwargs.values()) if kwargs else args  # what templates index
            key = None
            if not kwargs and len(args) == 2:
                # two tensors (nc_matmul's operands): the key the loop below builds, without its
                # list (each tensor's part computed once and kept on it, see _key_part)
                t0, t1 = args
                if type(t0) is Tensor and type(t1) is Tensor:
                    try:
                        k0 = t0._key
                        k1 = t1._key
                    except AttributeError:  # (a tensor copied without it)
                        k0 = k1 = None
                    if k0 is None:
                        k0 = _key_part(t0)
                    if k1 is None:
                        k1 = _key_part(t1)
                    if k0 is not _NOT_PLAIN and k1 is not _NOT_PLAIN:
                        key = (tag, sim.direct, k0, k1)
                    else:
                        values = None  # (not templated: the loop below is skipped)
            if key is None and values is not None:
                # (key.append spelled out, not aliased: CPython 3.11 specialises list.append only so)
                key = [tag, sim.direct]
                for value in values:
                    cls = type(value)  # (not value.__class__: this site sees many classes, type() stays fast)
                    if cls is Tensor:
                        # its part of the key, kept on the tensor (its view slots and its allocation's
                        # layout number never change; a reused tile keeps its template's layout)
                        try:
                            part = value._key
                        except AttributeError:  # (a tensor copied without it: computed below)
                            part = None
                        if part is None:
                            part = _key_part(value)
                            if part is _NOT_PLAIN:
                                key = None
                                break
                        key.append(part)
                    elif cls is tuple:  # a shape: ints, with nl.par_dim (an int subclass) told apart
                        classes = tuple(map(type, value))
                        if not _SHAPE_ITEMS.issuperset(classes):
                            key = None
                            break
                        key.append((cls, classes, value))
                    elif cls in _PLAIN_CLASSES or _plain(value):
                        key.append((cls, value))
                    else:
                        key = None
                        break
                if key is not None and kwargs:
                    if kwargs.get("mask") is not None:
                        key = None
                    else:
                        key.append(tuple(kwargs))
                if key is not None:
                    key = tuple(key)
            if key is not None:
                try:
                    tpl = sim.templates.get(key)
                except TypeError:  # an unhashable argument value
                    key = None
                else:
                    if tpl is not None and (tpl[3] is not None or not sim.loops):
                        if writes:
                            return _replay_write(sim, tpl, values)
                        if not sim.values:
                            fast = tpl[7]
                            if fast is not None:  # (tried first at this function's next calls)
                                latest[1] = latest[0]
                                latest[0] = (sim.templates, fast)
                                return fast(sim, args, kwargs, False)  # (its key was found: unchecked)
                            return tpl[6](sim, values)  # (_replay, written out for this template)
                        if tpl[2][1] != "nc_matmul":
                            return _replay_copy(sim, tpl, values)
                        done = _replay_matmul(sim, tpl, values)
                        if done is not None:
                            return done
                        key = None  # operands laid out otherwise: the checked path, not learned
                    seq = len(sim.trace.instructions)
                    alloc_id = sim.next_alloc
                    last = sim.last_result
                    sim.read_name = None
        try:
            result = fn(*args, **kwargs)
        except TypeError as error:
            tb = error.__traceback__
            if tb is not None and tb.tb_next is None:  # raised binding the arguments
                raise bind_error(error) from None
            raise
        if key is not None:
            learn = _learn_write if writes else _learn
            tpl = learn(sim, values, result, seq, alloc_id, last)  # type: ignore[arg-type]
            if tpl is not None and sim.values and not _copy_template(tpl, values):  # type: ignore[union-attr]
                tpl = None
            if tpl is not None and len(sim.templates) < _MAX_TEMPLATES:  # type: ignore[union-attr]
                if not writes:  # (value mode's copies and matmuls replay through it too)
                    # (timing-only templates get a guarded replay too, once written out)
                    shape = None if sim.values else (len(args), tuple(kwargs))  # type: ignore[union-attr]
                    if SPECIALISE_AFTER:
                        warm = _warming(sim.templates, key, tpl, shape)  # type: ignore[union-attr]
                        tpl = (*tpl[:6], warm, None)
                    else:
                        tpl = _written_out(tpl, key, shape)
                sim.templates[key] = tpl  # type: ignore[union-attr]
        return result

    call.__trnsim_guarded__ = True  # type: ignore[attr-defined]
    return call


#: templates kept between launches in this process, by (id of the target's NeuronCore spec, mode,
#: front end, grid): (the spec, its templates). A template depends only on these, its key (operand
#: layouts, argument values, direct allocation) and the learned call's checks, never on the kernel
#: or the call site (the replay reads the caller's line), so a kernel's next launch replays
#: instead of learning again (a 4-instruction kernel learned 3 per launch)
_KEPT: dict[tuple[Any, ...], tuple[Any, dict[Any, Any]]] = {}
#: (spec, mode, front end, grid) combinations kept at most
_MAX_KEPT = 16


def kept_templates(spec: Any, mode: Any, frontend: str, grid: tuple[int, ...]) -> tuple[Any, dict[Any, Any]]:
    """(its key, the templates a launch on ``spec`` in ``mode`` starts with): those the latest launch
    like it left (taken out: a launch inside this one, or on another thread, starts with none)."""
    key = (id(spec), mode, frontend, grid)
    entry = _KEPT.pop(key, None)
    if entry is None or entry[0] is not spec:  # (another spec at a reused id)
        return key, {}
    return key, entry[1]


def keep_templates(key: tuple[Any, ...], spec: Any, templates: dict[Any, Any]) -> None:
    """Keep a finished launch's ``templates`` for the next launch like it (see ``_KEPT``), without
    their spare tiles (no tile or its values outlives its launch; the next launch starts its tiles as
    a fresh template would). A full dict is dropped (the next launch learns anew)."""
    if not templates or len(templates) >= _MAX_TEMPLATES:
        return
    for tpl in templates.values():
        if len(tpl) == 8:  # a call template (the others: write templates, allocate_tile's sizes)
            spare = tpl[5]
            spare[0] = spare[1] = None
    if len(_KEPT) >= _MAX_KEPT:
        _KEPT.clear()
    _KEPT[key] = (spec, templates)


def _learn(
    sim: runtime.Simulation, values: tuple[Any, ...], result: Any, seq: int, alloc_id: int, last: Any
) -> tuple[Any, ...] | None:
    """The template of a checked call that made ``result``, or None when it cannot be replayed."""
    instructions = sim.trace.instructions
    recorded = len(instructions) - seq
    if (
        result.__class__ is not Tensor
        or sim.next_alloc != alloc_id + 1
        or recorded > 1
        or result.alloc.alloc_id != alloc_id
        or not result.alloc.on_chip
        or result.offset != 0
        or result.flat is not None
        or result.dyn
        or result.index_tiles
        or sim.direct
    ):
        return None
    a = result.alloc
    region = result._region
    alloc = (a.buffer, a.dtype, a.shape, a.partitions, a.free_elems, a.name, a.partition_axis, a.dtype_name,
             a.implicit, sim.tile_sizes.get(alloc_id))
    view: tuple[Any, ...] = (result.shape, result.strides, result.paxis,
                             None if region is None else tuple(region)[1:])
    # what _replay's allocations copy: the allocation _replay made before, with
    # the learned one's implicit flag and layout number (the same five values; a key built from a
    # replayed tile skips _layout_number)
    proto = Allocation(-1, a.buffer, a.dtype, a.shape, a.partitions, a.free_elems, a.name, None,
                       a.partition_axis, a.dtype_name)
    proto.implicit = a.implicit
    proto.layout = a.layout if a.layout is not None else _layout_number(a)
    if recorded == 0:
        if last is not sim.last_result:
            return None
        return (alloc, view, None, "", proto, [None, None], None)
    instr = instructions[-1]
    now = sim.last_result
    if now is last:
        fresh = False
    elif now is not None and now[0] is result and now[1] is instr and now[2] is None:
        fresh = True
    else:
        return None
    if len(instr.outputs) != 1 or sim.last_mask is not None:
        return None
    out = instr.outputs[0]
    if out.region is None or out != result.operand(out.name):
        return None
    group = sim.psum_groups.get(alloc_id)
    if group is not None and group != [out.region]:
        return None
    found = _inputs(sim, instr, values)
    if found is None:
        return None
    inputs, name = found
    box = tuple(out.region)[1:]
    # (the output's shape as the one object equal shapes share: see shared_shape)
    head = (out[0], out[1], shared_shape(out[2]), out[3], out[4])
    attrs = dict(instr.attrs)
    record = (instr.engine, instr.opcode, attrs, inputs, head, out[6:], box, group is not None, fresh,
              _accumulated(instr.engine, instr.opcode, attrs))
    if view[3] == box:  # the new view's box is the output's: _replay makes one Region for both
        view = (*view[:3], _SAME)
    return (alloc, view, record, name, proto, [None, None], None)


def _inputs(
    sim: runtime.Simulation, instr: Any, values: tuple[Any, ...]
) -> tuple[tuple[Any, ...], Any] | None:
    """``instr``'s inputs as (argument position, operand name) or immediate operands, and the
    instruction name its read checks used ("" without tensor inputs; None when no check ran, outside
    loops); None when an input is no argument's operand."""
    inputs: list[Any] = []
    for op in instr.inputs:
        if op.space is _IMMEDIATE:
            inputs.append(op)
            continue
        found = [i for i, t in enumerate(values) if t.__class__ is Tensor and t.operand(op.name) == op]
        if len(found) != 1:
            # none, or several arguments with this operand (the same tile passed twice, as data and
            # bias): which one a later call's input is cannot be told, so not templated
            return None
        i = found[0]
        t = values[i]
        # (argument position, operand name, this input's geometry by view offset, the int base of
        # its operands' keys (None where an offset could reach it), whether it is in PSUM: see
        # _replay)
        small = math.prod(t.alloc.shape) < 1 << _OFFSET_BITS
        base = next(_INPUT_KEYS) << _OFFSET_BITS if small else None
        inputs.append((i, op.name, {}, base, t.alloc.buffer is _PSUM))
    if not any(spec.__class__ is tuple for spec in inputs):
        return tuple(inputs), ""
    # the name its dependency checks fail with: seen when they ran (inside a loop)
    name = sim.read_name if sim.loops else None
    if name is None and sim.loops:
        return None
    return tuple(inputs), name


def _learn_write(
    sim: runtime.Simulation, values: tuple[Any, ...], result: Any, seq: int, alloc_id: int, last: Any
) -> tuple[Any, ...] | None:
    """The template of a checked call that wrote one of its tensor arguments (``nl.store``): no new
    tensor, one instruction whose output is an argument's operand; None when it cannot be replayed."""
    instructions = sim.trace.instructions
    if (
        result is not None
        or sim.next_alloc != alloc_id
        or len(instructions) != seq + 1
        or sim.last_result is not last
        or sim.last_mask is not None
    ):
        return None
    instr = instructions[-1]
    if len(instr.outputs) != 1:
        return None
    out = instr.outputs[0]
    written = [j for j, t in enumerate(values) if t.__class__ is Tensor and t.operand(out.name) == out]
    if len(written) != 1:  # (none, or which argument a later call writes cannot be told)
        return None
    found = _inputs(sim, instr, values)
    if found is None:
        return None
    inputs, name = found
    return (None, (written[0], out.name), (instr.engine, instr.opcode, dict(instr.attrs), inputs), name)


def _replay_write(sim: runtime.Simulation, tpl: tuple[Any, ...], values: tuple[Any, ...]) -> None:
    """Record the instruction of write template ``tpl`` for these operands (see _learn_write)."""
    _, (j, out_name), (engine, opcode, attrs, inputs), reads = tpl
    loops = sim.loops
    ops = _read(sim, inputs, values, reads, loops)
    out = values[j].operand(out_name)
    if loops:
        sim.note_write(out.region, False)
    sim.last_mask = None
    # the kernel's frame is above this one and templated's call
    sim.record(engine, opcode, ops, (out,), attrs, 3)  # (the template's, shared: see _accumulated)


def _read(
    sim: runtime.Simulation, inputs: tuple[Any, ...], values: tuple[Any, ...], reads: str, loops: Any
) -> tuple[Operand, ...]:
    """The input operands, with the checks and bookkeeping of each read (as execute does them)."""
    groups = sim.psum_groups
    ops: list[Operand] = []
    for spec in inputs:
        if spec.__class__ is tuple:
            t = values[spec[0]]
            op = t.operand(spec[1])  # the view's region is its operand's
            if loops:
                sim.check_read(reads, op.region, False)
            if groups and t.alloc.buffer is _PSUM:
                groups.pop(t.alloc.alloc_id, None)
            ops.append(op)
        else:
            ops.append(spec)
    return tuple(ops)


def _copy_template(tpl: tuple[Any, ...], values: tuple[Any, ...]) -> bool:
    """Whether value mode may replay ``tpl`` as a copy: one DMA instruction whose one tensor input
    is a plain view (the key refuses masks, index arrays and out-of-bounds views) of the new tile's
    dtype and element count, read whole into a fresh tile that starts at its allocation's start."""
    alloc, view, record, _, _, _, _ = tpl
    if record is not None and record[1] == "nc_matmul":
        return _matmul_template(tpl, values)
    if record is None or not record[8] or record[0] is not Engine.DMA or len(record[3]) != 1:
        return False
    spec = record[3][0]
    if spec.__class__ is not tuple:
        return False
    src = values[spec[0]]
    shape = view[0]
    return bool(
        src.dtype == alloc[1]
        and src.size == math.prod(shape)
        and alloc[2] == shape
        and view[1] == _c_strides(shape)
    )


def _matmul_template(tpl: tuple[Any, ...], values: tuple[Any, ...]) -> bool:
    """Whether value mode may replay ``tpl`` as a matmul: a plain bfloat16 ``stationary`` and
    ``moving`` whose values widen C-contiguous (row slices of wider tiles too) multiplied into a fresh,
    whole fp32 PSUM tile, no transpose, no double-row mode (tensor_engine._InPlace's case)."""
    alloc, view, record, _, _, _, _ = tpl
    _, _, attrs, inputs, _, _, _, _, fresh, _ = record
    if (
        not fresh
        or alloc[0] is not _PSUM
        or alloc[1] != _F32
        or attrs != {"accumulate": False, "transpose": False, "perf_mode": "none"}
        or len(inputs) != 2
        or any(spec.__class__ is not tuple for spec in inputs)
        or (inputs[0][1], inputs[1][1]) != ("stationary", "moving")
        or len(alloc[2]) != 2
        or alloc[2] != view[0]
        or view[1] != _c_strides(view[0])
    ):
        return False
    # widened in their own memory order (what the checked path multiplies), a plain view's values
    # are C-contiguous or not by its shape and strides, which the key holds: then the replay's
    # C-contiguous scratch holds the same operand, laid out alike, for the same sgemm call
    operands = [values[spec[0]] for spec in inputs]
    return all(_plain_bf16(t) and widen_bf16(t.read()).flags.c_contiguous for t in operands)


def _replay_matmul(sim: runtime.Simulation, tpl: tuple[Any, ...], values: tuple[Any, ...]) -> Tensor | None:
    """Value mode: :func:`_replay` of a matmul template, the product computed into the new tile as
    the checked path does (``tensor_engine._InPlace``, or its product for execute's write when an
    operand is a strided view). The operands are plain bfloat16 views whose values, widened, are
    C-contiguous: the learned call's were (:func:`_matmul_template`), and the key fixes what that
    depends on (dtype, view shape and strides; no index arrays, out-of-bounds or masks)."""
    spec_s, spec_m = tpl[2][3]
    s = _plain_values(values[spec_s[0]], _U16)  # (their bits: multiply_bf16 widens those)
    mv = _plain_values(values[spec_m[0]], _U16)
    result = tpl[6](sim, values)  # (_replay, written out once warm)
    alloc = result.alloc
    m, n = result.shape
    storage = np.empty(m * n, _F32)
    multiply_bf16_bits(sim.scratch, s, mv, storage.reshape(m, n))
    alloc.storage = storage
    # the checked path: a fresh tile written whole (1), then by a matmul (2)
    alloc.mm_state = 2
    return result


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides = []
    step = 1
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


#: bytes of loaded HBM views a value launch keeps for later loads of the same views at most
#: (Simulation.loaded; views loaded once it is reached are copied per load, as before)
LOAD_COPIES_MAX = 64 << 20


def _replay_copy(sim: runtime.Simulation, tpl: tuple[Any, ...], values: tuple[Any, ...]) -> Tensor:
    """Value mode: :func:`_replay`, then the new tile's storage holds a copy of the source's values
    (what the checked DMA computes and stores for an unmasked same-dtype load).

    A view of an HBM tensor loaded again (a loop loading an input block once per output block)
    shares the copy its first load made, kept read-only in ``sim.loaded`` until something writes
    that tensor's memory; a tile written later gets a copy of its own first
    (runtime.writable_storage). The copy from HBM is the load's cost in value mode: its rows are
    strided and mostly not in cache by the time a loop loads them again.
    """
    src = values[tpl[2][3][0][0]]
    result = tpl[6](sim, values)  # (_replay, written out once warm)
    a = src.alloc
    if a.on_chip:
        result.alloc.storage = _plain_values(src).flatten()
        return result
    # (the view: its allocation, offset and key part, which fixes its shape, strides and layout)
    kept = sim.loaded.get(a.alloc_id)
    view = (src.offset, src._key)
    if kept is not None:
        copy = kept[1].get(view)
        if copy is not None:
            result.alloc.storage = copy
            return result
    # a fresh C-ordered copy, flat: the elements of the source view in the new tile's order (its
    # view is C-contiguous over the whole allocation, see _copy_template)
    copy = _plain_values(src).flatten()
    if sim.loaded_bytes + copy.nbytes <= LOAD_COPIES_MAX:
        copy.flags.writeable = False  # (shared: writable_storage copies it before a write)
        if kept is None:
            assert a.storage is not None
            kept = sim.loaded[a.alloc_id] = (a.storage, {})
        kept[1][view] = copy
        sim.loaded_bytes += copy.nbytes
    result.alloc.storage = copy
    return result


#: a view's strides in bytes, by (strides in elements, item size): what Tensor.read computes per call
_BYTE_STRIDES: dict[tuple[Any, ...], tuple[int, ...]] = {}
_MAX_BYTE_STRIDES = 1 << 12


def _plain_values(t: Tensor, dtype: np.dtype[Any] | None = None) -> np.ndarray:
    """``t.read()`` of a value-mode template's input (a plain view, in bounds and not empty: the key
    and the learned call's checks fix that), without its checks: a view of the storage that only
    the replay reads (not made read-only); ``dtype``: read as that dtype of the same item size
    instead (a bfloat16 tile's bits as uint16)."""
    a = t.alloc
    storage = a.storage
    assert storage is not None  # (value mode)
    isz = a.itemsize
    strides = t.strides
    key = (strides, isz)
    byte_strides = _BYTE_STRIDES.get(key)
    if byte_strides is None:
        if len(_BYTE_STRIDES) >= _MAX_BYTE_STRIDES:
            _BYTE_STRIDES.clear()
        byte_strides = _BYTE_STRIDES[key] = tuple([st * isz for st in strides])
    dt = storage.dtype if dtype is None else dtype
    return np.ndarray(t.shape, dt, storage, t.offset * isz, byte_strides)


def _alone_counts() -> tuple[int, int]:
    """What ``sys.getrefcount`` reports in :func:`_replay` for a tile that only its template's spare
    slot and _replay's own names refer to, and for that tile's allocation (the same expressions:
    interpreters differ in whether the call's argument adds a reference, 3.14 borrows it)."""
    spare = [_new_object(Tensor)]
    spare[0].alloc = _new_object(Allocation)
    result = spare[0]
    held = _getrefcount(result)
    held_alloc = _getrefcount(alloc := result.alloc)
    del alloc
    return held, held_alloc


_ALONE, _ALONE_ALLOC = _alone_counts()


def _older_tile(
    sim: runtime.Simulation, proto: Allocation, view: tuple[Any, ...], spare: list[Any], alloc_id: int
) -> Tensor:
    """A template's new tile when its latest one (``spare[0]``) is still referred to: the one before it
    (``spare[1]``) when nothing refers to that any more (its objects reused, as _replay reuses the
    latest's; the slots swapped, the new tile first), else a new one (the latest moves to the second
    slot). A kernel that holds its tile until the next call's result replaces it (``acc = nl.zeros(...)``
    in a loop) alternates between the two.

    A PSUM tile reused under a new allocation id drops its old id's accumulation group from
    ``sim.psum_groups`` here and where _replay and its written-out body reuse the latest tile (nothing
    refers to the tile: its old id can never be read or written again). A fresh matmul result opens a
    group that ``acc += nc_matmul(...)`` leaves behind when it retargets the instruction: kept, the
    benchmark matmul's 8,192 such groups (a dict entry, a list and a tuple each) were built up over the
    launch and freed at its end, cold (about 2 ms of a 0.14 s trace + time)."""
    result = spare[1]
    if (
        result is not None
        and _getrefcount(result) == _ALONE
        and _getrefcount(alloc := result.alloc) == _ALONE_ALLOC
    ):
        spare[1] = spare[0]
        spare[0] = result
        if proto.buffer is _PSUM:
            sim.psum_groups.pop(alloc.alloc_id, None)
        alloc.alloc_id = alloc_id
        alloc.storage = None
        alloc.mm_state = None
        alloc.implicit = proto.implicit
        alloc.layout = proto.layout
        alloc.operands = {}
        if alloc.regions:  # (most tiles never had a view's region kept: no new dict for them)
            alloc.regions = {}
        result._out = None  # (an operand of its former allocation id)
        return result
    spare[1] = spare[0]
    return _new_tile(proto, view, spare, alloc_id)


def _new_tile(proto: Allocation, view: tuple[Any, ...], spare: list[Any], alloc_id: int) -> Tensor:
    """A template's new tile (its previous one still referred to), kept in its spare slot."""
    # Allocation(alloc_id, ...) as proto was made, slot by slot (no __init__ frame, nothing
    # recomputed): the test of a replayed allocation compares every slot
    alloc = _new_object(Allocation)
    alloc.partition_axis = proto.partition_axis
    alloc.on_chip = proto.on_chip
    alloc.space = proto.space
    alloc.dtype_name = proto.dtype_name
    alloc.alloc_id = alloc_id
    alloc.buffer = proto.buffer
    alloc.dtype = proto.dtype
    alloc.shape = proto.shape
    alloc.partitions = proto.partitions
    alloc.free_elems = proto.free_elems
    alloc.itemsize = proto.itemsize
    alloc.name = proto.name
    alloc.storage = None
    alloc.mm_state = None
    alloc.implicit = proto.implicit
    alloc.operands = {}
    alloc.regions = {}
    alloc.layout = proto.layout
    # Tensor(alloc, vshape, 0, vstrides, vpaxis) slot by slot (no __init__ frame)
    result = _new_object(Tensor)
    result.alloc = alloc
    result.shape = view[0]
    result.offset = 0
    result.strides = view[1]
    result.paxis = view[2]
    result.flat = None
    result.oob = None
    result.dyn = False
    result.index_tiles = ()
    result._key = None
    result._out = None
    if len(view[0]) > 2:  # a block: see Tensor.whole
        _start_views(result)
    spare[0] = result
    return result


def _warming(
    kept: dict[Any, tuple[Any, ...]],
    key: Any,
    tpl: tuple[Any, ...],
    shape: tuple[int, tuple[str, ...]] | None,
) -> Callable[[runtime.Simulation, tuple[Any, ...]], Tensor]:
    """Template ``tpl``'s replay while it is young: :func:`_replay`, and at the ``SPECIALISE_AFTER``-th
    call its written-out replay (:func:`_specialise`) replaces this one under ``key`` in ``kept``, with
    its guarded replay (:func:`_guarded`) where ``shape`` (the learned call's positional argument count
    and keyword names) is given."""
    # (not tpl itself: the template would hold this function and it the template)
    base = (*tpl[:6], None, None)
    left = [SPECIALISE_AFTER]

    def replay(sim: runtime.Simulation, values: tuple[Any, ...]) -> Tensor:
        left[0] -= 1
        if not left[0]:
            kept[key] = _written_out(base, key, shape)
        return _replay(sim, base, values)

    return replay


def _written_out(
    tpl: tuple[Any, ...], key: Any, shape: tuple[int, tuple[str, ...]] | None
) -> tuple[Any, ...]:
    """Template ``tpl`` with its written-out replay: a timing-only one's guarded replay
    (:func:`_guarded`, for ``shape``, the learned call's positional argument count and keyword names)
    as item 7, else (value mode: ``shape`` None) :func:`_specialise`'s as item 6. One compiled replay
    per template: writing one out costs a compile (see SPECIALISE_AFTER)."""
    fast = None if shape is None else _guarded(tpl, key, *shape)
    if fast is None:
        return (*tpl[:6], _specialise(tpl), None)
    return (*tpl[:6], None, fast)


#: compiled factories of specialised replays, by the template's structure (see _specialise)
_FACTORIES: dict[tuple[Any, ...], Callable[..., Any]] = {}


def _specialise(tpl: tuple[Any, ...]) -> Callable[[runtime.Simulation, tuple[Any, ...]], Tensor]:
    """:func:`_replay` written out for timing-only template ``tpl``: the same steps in the same order,
    with the template's parts as constants (no tuples unpacked, no loop over the inputs, branches on
    the template decided once). The code is generated per structure (inputs, which are views, which
    have an operand key base and which are in PSUM; the tile size, view box, accumulation group and
    fresh flags known or not) and compiled once per process; each template binds its constants.
    Tests compare traces made through it with the checked path's and with :func:`_replay`'s."""
    structure, consts, lines = _replay_body(tpl, lambda i: f"values[{i}]")
    replay: Callable[[runtime.Simulation, tuple[Any, ...]], Tensor] = _compiled(
        structure, consts, lines, "sim, values"
    )
    return replay


def _replay_body(
    tpl: tuple[Any, ...], fetch: Callable[[int], str]
) -> tuple[list[Any], dict[str, Any], list[str]]:
    """The body of template ``tpl``'s written-out replay: (its structure, its constants, its lines),
    each tensor argument read as ``fetch(its position)``."""
    alloc_spec, view, record, reads, proto, spare = tpl[:6]
    size = alloc_spec[9]
    vregion = view[3]
    same = vregion is _SAME
    consts: dict[str, Any] = {
        "proto": proto, "view": view, "spare": spare, "size": size, "implicit": proto.implicit,
        "layout": proto.layout, "reads": reads, "psum": proto.buffer is _PSUM,
    }
    lines = [
        "alloc_id = sim.next_alloc",
        "result = spare[0]",
        "if (",
        "    result is not None",
        "    and _getrefcount(result) == _ALONE",
        "    and _getrefcount(alloc := result.alloc) == _ALONE_ALLOC",
        "):",
        # (the old accumulation group dropped, see _older_tile; behind a constant, not a line only PSUM
        # templates have, so that SBUF and PSUM templates of one structure share one compiled source)
        "    if psum:",
        "        sim.psum_groups.pop(alloc.alloc_id, None)",
        "    alloc.alloc_id = alloc_id",
        "    alloc.storage = None",
        "    alloc.mm_state = None",
        "    alloc.implicit = implicit",
        "    alloc.layout = layout",
        "    alloc.operands = {}",
        "    if alloc.regions:  # (most tiles never had a view's region kept: no new dict for them)",
        "        alloc.regions = {}",
        "    result._out = None  # (an operand of its former allocation id)",
        "else:",
        "    result = _older_tile(sim, proto, view, spare, alloc_id)",
        "    alloc = result.alloc",
        "sim.next_alloc = alloc_id + 1",
    ]
    if size is not None:
        lines.append("sim.tile_sizes[alloc_id] = size")
    if vregion is None:
        lines.append("result._region = None")
    elif not same:  # (the same box: the output's region is the view's, set below)
        consts.update(zip(("v0", "v1", "v2", "v3"), vregion, strict=True))
        lines.append("result._region = _new_tuple(Region, (alloc_id, v0, v1, v2, v3))")
    structure: list[Any] = [size is None, vregion is None, same]
    if record is None:
        if same:
            lines.append("result._region = None")
        lines.append("return result")
    else:
        engine, opcode, attrs, inputs, head, tail, region, grouped, fresh, accumulated = record
        structure += [grouped, fresh]
        consts.update(engine=engine, opcode=opcode, attrs=attrs, grouped=grouped, site=[None, None, None])
        if any(spec.__class__ is tuple for spec in inputs):
            lines += ["loops = sim.loops", "tracked = sim.tracked", "cached = _tensor.CACHE_OPERANDS"]
            if any(spec.__class__ is tuple and spec[4] for spec in inputs):
                lines.append("groups = sim.psum_groups")
        ops = []
        read_ids = []  # each input's allocation id (a local, or a constant operand's), for spill planning
        for k, spec in enumerate(inputs):
            ops.append(f"op{k}")
            if spec.__class__ is not tuple:  # an immediate operand
                structure.append(None)
                consts[f"op{k}"] = spec
                if spec[5] is not None:
                    consts[f"c{k}"] = spec[5][0]
                    read_ids.append(f"c{k}")
                continue
            structure.append((spec[0], spec[3] is not None, spec[4]))
            consts[f"spec{k}"] = spec
            t = f"t{k}"
            lines += [f"{t} = {fetch(spec[0])}", f"a = {t}.alloc", f"i{k} = a.alloc_id"]
            read_ids.append(f"i{k}")
            if spec[3] is not None:
                consts[f"base{k}"] = spec[3]
                lines += [
                    "if cached:",
                    f"    key = base{k} + {t}.offset",
                    f"    op{k} = a.operands.get(key)",
                    f"    if op{k} is None:",
                    f"        op{k} = a.operands[key] = _view_operand({t}, spec{k}, True)",
                    "else:",
                    f"    op{k} = _view_operand({t}, spec{k}, False)",
                ]
            else:
                lines.append(f"op{k} = _view_operand({t}, spec{k}, cached)")
            # (the operand's region is in the view's allocation: its id, not op[5][0], a named
            # tuple's item read)
            lines += [
                f"if loops and i{k} in tracked:",
                f"    sim.check_read(reads, op{k}[5], False)",
            ]
            if spec[4]:  # a PSUM input: its accumulation group closes
                lines += ["if groups:", f"    groups.pop(i{k}, None)"]
        consts.update(zip(("q0", "q1", "q2", "q3"), region, strict=True))
        consts.update(zip(("name", "space", "shape", "dtype", "nbytes"), head, strict=True))
        consts.update(zip(("contiguous", "inner"), tail, strict=True))
        consts.update(vstrides=view[1], vpaxis=view[2])
        # a fresh result read from tensor arguments (a load, a matmul, an element-wise op) is most
        # often retargeted at once (``t[...] = ...``, ``acc += ...``), which drops its output
        # operand: that operand is made only if it is not (see _materialise)
        defer = DEFER_OUTPUTS and fresh and any(spec.__class__ is tuple for spec in inputs)
        structure.append(defer)
        if not defer:
            lines += ["out_region = _new_tuple(Region, (alloc_id, q0, q1, q2, q3))"]
            if same:
                lines.append("result._region = out_region")
            lines += [
                "out = _new_tuple(Operand, (name, space, shape, dtype, nbytes, out_region, contiguous,"
                " inner))",
                "alloc.operands[0] = (vstrides, vpaxis, out)",
                "outs = (out,)",
            ]
            if head[2] == view[0]:
                # the tile's retarget record (see language_impl._retarget: what its operand-cache path
                # would keep on the tile at the first retarget onto it), so that the first
                # ``acc += nc_matmul(...)`` onto a fresh ``nl.zeros`` tile takes _iadd's inline case
                consts["nonempty"] = region[0] < region[1] and region[2] < region[3]
                lines.append("result._out = (name, out, out_region, alloc_id, nonempty, outs)")
            if grouped:
                lines.append("sim.psum_groups[alloc_id] = [out_region]")
        else:
            if same:
                lines.append("result._region = None  # (made from the tile when asked for)")
            if grouped:  # (the group's box as a plain tuple: its readers compare and index boxes)
                lines.append("sim.psum_groups[alloc_id] = [(alloc_id, q0, q1, q2, q3)]")
        if defer:
            # the stand-in output: a tuple of its own per template whose item 0 is the operand name
            # (what a retarget reads), and what _materialise needs to make the operand
            consts["place"] = ((head[0],),)
            consts["maker"] = (*head, *region, *tail)
        lines += [
            "sim.last_mask = None",
            "# the kernel's frame is above this one and templated's call",
            # Simulation.record(engine, opcode, inputs, (out,), attrs.copy(), 3), written out (one
            # frame less per instruction: 1 %; keep the two alike)
            "instrs = sim.trace.instructions",
            "seq = len(instrs)",
            "if seq >= sim.max_instructions or (not seq & 4095 and _monotonic() > sim.deadline):",
            "    sim._over_budget(opcode, seq)",
            # (site: the kernel's code object this template was last called from, its file name and
            # its lines by bytecode offset, the _LINES entry's: the look-up skipped for it)
            "frame = _getframe(2)",
            "code = frame.f_code",
            "if code is site[0]:",
            "    filename = site[1]",
            "    lines = site[2]",
            "    lasti = frame.f_lasti",
            "    line = lines.get(lasti)",
            "    if line is None:",
            "        line = lines[lasti] = frame.f_lineno",
            "else:",
            "    filename, line = _site_line(frame, site)",
            "instr = _new_object(_Instruction)",
            "instr.seq = seq",
            "instr.engine = engine",
            "instr.opcode = opcode",
            "instr.inputs = (" + "".join(f"{o}, " for o in ops) + ")",
            "instr.outputs = place" if defer else "instr.outputs = outs",
            "instr.kernel = sim.kernel_name",
            "instr.source_file = filename",
            "instr.source_line = line",
            "instr.program_id = sim.program_id",
            "instr.core = sim.core",
            "instr.attrs = attrs  # (the template's, shared: see _accumulated)",
            "instrs.append(instr)",
            # what spill planning reads of it (Simulation.writes_of): the output's allocation is the
            # new tile's, materialised or not (a retarget updates it), and the inputs'
            "sim.writes_of.append(alloc_id)",
        ]
        if read_ids:  # (pairs in one tuple: fewer bytecodes than an append per item)
            lines += ["noted = sim.reads", "noted += (" + "".join(f"{i}, seq, " for i in read_ids) + ")"]
        if defer:
            lines += [
                "prev = sim.pending",
                "if prev is not None and prev[0].outputs is prev[2]:  # (that one was not retargeted)",
                "    _materialise(prev)",
                "sim.pending = (instr, alloc_id, place, maker)",
            ]
        if fresh:
            consts["ticket"] = _ticket(record)
            consts["accumulated"] = accumulated
            lines.append("sim.last_result = (result, instr, None, ticket, accumulated)")
        lines.append("return result")
    return structure, consts, lines


def _compiled(
    structure: list[Any], consts: dict[str, Any], lines: list[str], params: str
) -> Callable[..., Any]:
    """``def replay(params)`` with body ``lines`` and ``consts`` bound, compiled once per process per
    structure (see _specialise)."""
    names = sorted(consts)
    key = (tuple(structure), tuple(names), tuple(lines), params)
    factory = _FACTORIES.get(key)
    if factory is None:
        source = (
            "def _make(" + ", ".join(names) + "):\n"
            f"    def replay({params}):\n" + "".join(f"        {line}\n" for line in lines)
            + "    return replay\n"
        )
        scope: dict[str, Any] = {}
        # compiled as part of this module (its globals; its frames skipped as trnsim.nki's when
        # Simulation.record looks for the kernel's line)
        exec(compile(source, __file__, "exec"), globals(), scope)
        factory = _FACTORIES[key] = scope["_make"]
    return factory(**consts)


#: what a guarded replay returns when the call is not its template's (see _guarded)
_MISS = object()
_NONE_TYPE = type(None)


def _guarded(
    tpl: tuple[Any, ...], key: tuple[Any, ...], nargs: int, names: tuple[str, ...]
) -> Callable[..., Any]:
    """Timing-only template ``tpl``'s written-out replay (:func:`_specialise`'s steps) behind a guard,
    called with a call's own ``args`` and ``kwargs``: ``_MISS`` when that call's key (see templated)
    would not be ``key``, the key the template was learned under (``nargs`` positional arguments, then
    keywords ``names`` in this order), and no replay then; else the replay's result. A front-end
    function tries the templates of its latest replayed calls this way before it builds a key (a loop
    calls it alike each time): the key's tuples are not made and hashed, and the guard and the replay
    are one frame. Called with ``check=False`` (the key was found: ``templated``'s look-up) it skips
    the guard: a template is compiled once, for both.

    The guard compares what the key holds as the key's dict look-up would: each tensor argument's
    key part (:func:`_key_part`, kept on the tensor), every other argument's exact class and value
    (``is`` or ``==``; a tuple's item classes too), the keyword names in order, and the simulation's
    direct-allocation flag; a template learned outside loops (no read-check name) only outside
    loops, as ``templated``'s look-up."""
    values = [f"x{i}" for i in range(len(key) - 2 - (1 if names else 0))]
    consts: dict[str, Any] = {"gnames": names}
    bind = []  # the arguments as x0, x1 ... (positional ones, then keywords in their order)
    if nargs:
        bind.append(", ".join(values[:nargs]) + ", = args")
    bind += [f"{values[nargs + j]} = kwargs[gnames[{j}]]" for j in range(len(names))]
    guard = ["if sim.direct:", "    return _MISS"]
    if key[1]:  # (templates are learned only without direct allocation: never replayed)
        guard = ["return _MISS"]
    if tpl[3] is None:
        guard += ["if sim.loops:", "    return _MISS"]
    if nargs:  # (unpacked: a ValueError when there are more or fewer)
        guard += ["try:", "    " + bind[0], "except ValueError:", "    return _MISS"]
    else:
        guard += ["if args:", "    return _MISS"]
    if names:
        guard += ["if tuple(kwargs) != gnames:", "    return _MISS", *bind[1 if nargs else 0 :]]
    else:
        guard += ["if kwargs:", "    return _MISS"]
    structure: list[Any] = [nargs, len(names)]
    for i, (v, part) in enumerate(zip(values, key[2:], strict=False)):
        if part.__class__ is int:  # a tensor's key part
            structure.append("t")
            consts[f"g{i}"] = part
            # (``_key`` None: not computed yet; unset, a tensor copied without it: the AttributeError
            # below, and the key's look-up computes it)
            tensor = f"type({v}) is not Tensor or ({v}._key != g{i} and "
            tensor += f"({v}._key is not None or _key_part({v}) != g{i}))"
            guard += [f"if {tensor}:", "    return _MISS"]
        elif len(part) == 2:  # (class, value)
            structure.append("v")
            consts[f"gc{i}"], consts[f"g{i}"] = part
            plain = f"type({v}) is not gc{i} or ({v} is not g{i} and not {v} == g{i})"
            guard += [f"if {plain}:", "    return _MISS"]
        else:  # a shape: (tuple, item classes, value)
            classes = part[1]
            structure.append(len(classes))
            consts[f"g{i}"] = part[2]
            test = [f"type({v}) is not tuple", f"len({v}) != {len(classes)}"]
            for j, cls in enumerate(classes):
                consts[f"gc{i}_{j}"] = cls
                test.append(f"type({v}[{j}]) is not gc{i}_{j}")
            guard += [f"if {' or '.join(test)} or ({v} is not g{i} and not {v} == g{i}):", "    return _MISS"]
    body_structure, body_consts, body = _replay_body(tpl, lambda i: values[i])
    assert not set(consts) & set(body_consts)
    lines = ["if check:", "    try:", *(f"        {line}" for line in guard)]
    lines += ["    except AttributeError:  # (see above)", "        return _MISS"]
    lines += ["else:", *(f"    {line}" for line in bind or ["pass"])]
    params = "sim, args, kwargs, check=True"
    guarded: Callable[..., Any] = _compiled(
        [*structure, *body_structure], {**consts, **body_consts}, lines + body, params
    )
    return guarded


def _site_line(frame: Any, site: list[Any]) -> tuple[str, int]:
    """A written-out replay's source location when ``frame`` (the one above templated's call) is not
    of the code object its ``site`` holds: Simulation.record's walk to the first frame outside
    trnsim.nki, and ``site`` set to ``frame``'s code (its file name and lines) when that frame is it
    (a function of its own: it runs once per call site, and each written-out replay's source is
    compiled)."""
    found, filename, line, entry = runtime.kernel_frame(frame)
    if entry is not None and found is frame:
        site[:] = entry  # (its code object, file name and lines by bytecode offset)
    return filename, line


def _materialise(pending: tuple[Any, ...]) -> None:
    """The output operand of a written-out replay's instruction that kept a stand-in (see
    :func:`_specialise`): ``pending`` is (instruction, allocation id, the stand-in, the operand's
    fields with the region's box)."""
    instr, alloc_id, _, maker = pending
    name, space, shape, dtype, nbytes, q0, q1, q2, q3, contiguous, inner = maker
    region = _new_tuple(Region, (alloc_id, q0, q1, q2, q3))
    instr.outputs = (_new_tuple(Operand, (name, space, shape, dtype, nbytes, region, contiguous, inner)),)


def settle_outputs(sim: runtime.Simulation) -> None:
    """Give the latest replayed instruction that still has a stand-in output its operand (at the end
    of a launch, before anything reads the trace: between replays only a retarget reads an output,
    its name, and each replay settles the one before it)."""
    pending = sim.pending
    if pending is not None:
        sim.pending = None
        if pending[0].outputs is pending[2]:
            _materialise(pending)


def _replay(sim: runtime.Simulation, tpl: tuple[Any, ...], values: tuple[Any, ...]) -> Tensor:
    """Make the new tensor and record the instruction of template ``tpl`` for these operands.

    Most instructions of a timing-only trace come through here: the new allocation is written out
    slot by slot (one frame less per instruction; tests compare it with the one the checked path
    makes), the previous tile of the template is reused when nothing refers to it any more, and the
    instruction goes through Simulation.record like every other (its budget checks and source-line
    look-up in one place: written out here it saved 0.6 % of a trace + time)."""
    alloc_spec, view, record, reads, proto, spare = tpl[:6]
    alloc_id = sim.next_alloc
    result = spare[0]
    # the tile this template made last time, when nothing refers to it any more (the kernel let
    # go of it: a matmul result added into an accumulator, a result assigned into a block; the
    # references counted: ``spare`` and ``result``; ``alloc`` and the tile's; with getrefcount's
    # argument where the interpreter counts it, see _alone_counts): the new tile in its objects,
    # whose other slots are this template's (nothing changes a tensor's view slots after it is made)
    if (
        result is not None
        and _getrefcount(result) == _ALONE
        and _getrefcount(alloc := result.alloc) == _ALONE_ALLOC
    ):
        if alloc.buffer is _PSUM:  # (its old accumulation group: see _older_tile)
            sim.psum_groups.pop(alloc.alloc_id, None)
        alloc.alloc_id = alloc_id
        alloc.storage = None
        alloc.mm_state = None
        alloc.implicit = proto.implicit
        alloc.layout = proto.layout
        alloc.operands = {}
        if alloc.regions:  # (most tiles never had a view's region kept: no new dict for them)
            alloc.regions = {}
        result._out = None  # (an operand of its former allocation id)
    else:
        result = _older_tile(sim, proto, view, spare, alloc_id)
        alloc = result.alloc
    sim.next_alloc = alloc_id + 1
    size = alloc_spec[9]
    if size is not None:
        sim.tile_sizes[alloc_id] = size
    vregion = view[3]
    if vregion is None or vregion is _SAME:
        result._region = None
    else:
        q0, q1, q2, q3 = vregion
        result._region = _new_tuple(Region, (alloc_id, q0, q1, q2, q3))
    if record is None:
        return result
    engine, opcode, attrs, inputs, head, tail, region, grouped, fresh, accumulated = record
    # _read(sim, inputs, values, reads, sim.loops), inline (most instructions come through here)
    loops = sim.loops
    tracked = sim.tracked
    groups = sim.psum_groups
    read: list[Operand] = []
    cached = _tensor.CACHE_OPERANDS
    for spec in inputs:
        if spec.__class__ is tuple:
            t = values[spec[0]]
            a = t.alloc
            # the key fixes the view's layout and the allocation's, so this input's operand
            # depends on the allocation and offset alone: kept in the allocation's operand cache
            # under an int key of this input's own (spec[3] + offset; no layout to compare)
            base = spec[3]
            if base is not None and cached:
                key = base + t.offset
                op = a.operands.get(key)
                if op is None:
                    op = a.operands[key] = _view_operand(t, spec, True)
            else:
                op = _view_operand(t, spec, cached)
            # (check_read returns at once for the others; the operand's region is in allocation a)
            if loops and a.alloc_id in tracked:
                sim.check_read(reads, op[5], False)
            if groups and spec[4]:  # a PSUM input (the key fixes its buffer)
                groups.pop(a.alloc_id, None)
            read.append(op)
        else:
            read.append(spec)
    q0, q1, q2, q3 = region
    out_region = _new_tuple(Region, (alloc_id, q0, q1, q2, q3))
    if vregion is _SAME:
        result._region = out_region
    name, space, shape, dtype, nbytes = head
    contiguous, inner = tail
    out = _new_tuple(Operand, (name, space, shape, dtype, nbytes, out_region, contiguous, inner))
    # the new tile's operand is ``out`` (_learn checked it): Tensor.operand's cache starts with it
    alloc.operands[0] = (view[1], view[2], out)
    if grouped:
        groups[alloc_id] = [out_region]
    sim.last_mask = None
    # the kernel's frame is above this one and templated's call
    instr = sim.record(engine, opcode, (*read,), (out,), attrs, 3)  # (shared: see _accumulated)
    if fresh:
        sim.last_result = (result, instr, None, _ticket(record), accumulated)
    return result


def _ticket(record: tuple[Any, ...]) -> str | None:
    """What a replay of ``record`` leaves as ``sim.last_result[3]``: for a matmul on an engine that may
    write PSUM, the name of its one output operand (``acc += nc_matmul(...)`` may then take
    language_impl._iadd's inline retarget without reading the instruction), else None."""
    if _psum_matmul(record[0], record[1]):
        name: str = record[4][0]
        return name
    return None


def _psum_matmul(engine: Engine, opcode: str) -> bool:
    """A matmul on an engine that may write PSUM (what ``acc += nc_matmul(...)`` may retarget)."""
    return opcode == "nc_matmul" and engine is not Engine.GPSIMD and engine is not Engine.DMA


def _accumulated(
    engine: Engine, opcode: str, attrs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """What a replayed matmul on an engine that may write PSUM leaves as ``sim.last_result[4]``: its
    template's attributes with ``accumulate`` False and True (indexed by the flag), else None.

    Every instruction a template records holds the template's own ``attrs`` dict, shared and never
    written: a retarget that sets a replayed matmul's ``accumulate`` (language_impl._iadd,
    _retarget) puts one of these two in its place instead of writing it. (A dict per instruction,
    made, kept in the trace and freed with it, was about 6 % of a trace + time launch's CPU time; the
    chip model reads fewer distinct dicts too.) Equal to ``attrs.copy()`` with the flag written: the
    same keys in the same order."""
    if not _psum_matmul(engine, opcode):
        return None
    return ({**attrs, "accumulate": False}, {**attrs, "accumulate": True})


def _view_operand(t: Tensor, spec: tuple[Any, ...], cached: bool) -> Operand:
    """``t.operand(spec[1])`` of a template input's view (plain: the key refused index arrays and
    dynamic views): from the allocation's latest operand at the view's offset, renamed as
    Tensor.operand renames, or from the input's geometry at that offset (``spec[2]``: the first
    view at an offset, of any allocation, leaves its geometry there; later ones build theirs from
    it without Tensor.operand's lookups)."""
    a = t.alloc
    offset = t.offset
    latest = a.operands.get(offset) if cached else None
    if latest is not None and latest[0] == t.strides and latest[1] == t.paxis and latest[2][2] == t.shape:
        op: Operand = latest[2]
        if op[0] != spec[1]:
            op = _new_tuple(Operand, (spec[1], *op[1:]))
            a.operands[offset] = (latest[0], latest[1], op)
        if t._region is None:
            t._region = op[5]
        return op
    geometry = spec[2].get(offset) if cached else None
    if geometry is None:
        op = t.operand(spec[1])
        if cached:
            box = op[5]
            assert box is not None  # (a view's operand has its region)
            spec[2][offset] = (op[4], box[1:], op[6], op[7])
        return op
    r = t._region
    if r is None:
        q0, q1, q2, q3 = geometry[1]
        r = t._region = _new_tuple(Region, (a.alloc_id, q0, q1, q2, q3))
    op = _new_tuple(Operand, (spec[1], a.space, t.shape, a.dtype_name, geometry[0], r, geometry[2],
                              geometry[3]))
    a.operands[offset] = (t.strides, t.paxis, op)
    return op


__all__ = ["Engine", "templated"]
