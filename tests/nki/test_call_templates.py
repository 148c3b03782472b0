"""Timing-only call templates (trnsim.nki.templates) record what the checked path records.

A templated front-end call (``nisa.tensor_tensor``, ``nl.load``, ``nl.zeros`` ...) is checked
once per key (operand layouts and the other arguments) and replayed afterwards. The traces of
the library kernels and of kernels built to stress the key (arguments that hash alike but
mean different things, changing layouts, errors raised by a replayed call) must be the same with
templates on and off, and a replay must actually happen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trnsim.kernels import registry
from trnsim.nki import runtime as nl_runtime
from trnsim.nki import templates, trace_kernel
from trnsim.nki.errors import KernelError
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl
from trnsim.nki.trace import KernelTrace


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts template replays: calls of _replay and of the replays _specialise writes out, and the
    guarded replays _guarded writes out that replayed (the counting wrappers are compiled as part of
    trnsim.nki, so that the recorded source locations skip their frames as they skip the replay's)."""
    count = [0]
    scope: dict[str, Any] = {
        "count": count, "replay": templates._replay, "specialise": templates._specialise,
        "guarded": templates._guarded, "MISS": templates._MISS,
    }
    source = (
        "def counted(*args):\n    count[0] += 1\n    return replay(*args)\n"
        "def counting(tpl):\n"
        "    fast = specialise(tpl)\n"
        "    def counted_fast(*args):\n        count[0] += 1\n        return fast(*args)\n"
        "    return counted_fast\n"
        "def counting_guarded(*given):\n"
        "    fast = guarded(*given)\n"
        "    def counted_guarded(*args):\n"
        "        result = fast(*args)\n"
        "        count[0] += result is not MISS\n"
        "        return result\n"
        "    return counted_guarded\n"
    )
    exec(compile(source, templates.__file__, "exec"), scope)
    monkeypatch.setattr(templates, "_replay", scope["counted"])
    monkeypatch.setattr(templates, "_KEPT", {})  # (no template learned before: each one counted)
    monkeypatch.setattr(templates, "_specialise", scope["counting"])
    monkeypatch.setattr(templates, "_guarded", scope["counting_guarded"])
    return count


@pytest.fixture
def generic_replays(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing-only replays through _replay itself, not the ones _specialise and _guarded write out
    (compiled as part of trnsim.nki, as the counting wrappers above)."""
    scope: dict[str, Any] = {"templates": templates}
    source = "def through_replay(tpl):\n    return lambda sim, values: templates._replay(sim, tpl, values)\n"
    exec(compile(source, templates.__file__, "exec"), scope)
    monkeypatch.setattr(templates, "_specialise", scope["through_replay"])
    monkeypatch.setattr(templates, "_guarded", lambda *given: None)  # (no guarded replays)
    monkeypatch.setattr(templates, "_KEPT", {})  # (none written out by an earlier launch)


def _records(trace: KernelTrace) -> list[tuple[Any, ...]]:
    return [
        (i.seq, i.engine, i.opcode, i.inputs, i.outputs, i.source_file, i.source_line, i.program_id, i.core,
         i.attrs)
        for i in trace.instructions
    ] + [(trace.spill_save_bytes, trace.spill_reload_bytes)]


_KERNELS = {
    "matmul_fully_blocked": {"m": 256, "k": 1024, "n": 1024},
    "matmul_tiled": {"m": 256, "k": 512, "n": 1024},
    "flash_attention_fwd": {
        "batch": 1, "heads": 2, "kv_heads": 1, "seq_q": 512, "seq_k": 512, "head_dim": 128
    },
    "layernorm": {"rows": 256, "hidden": 512},
    "softmax": {"rows": 256, "cols": 512},
    "adamw": {"numel": 128 * 1024},
    "add_spmd": {"rows": 256, "cols": 512},
}


@pytest.mark.parametrize("name", sorted(_KERNELS))
def test_library_kernels_trace_alike_with_and_without_templates(
    name: str, replays: list[int], request: pytest.FixtureRequest
) -> None:
    entry = registry.get(name)
    args = entry.make_args(_KERNELS[name], "bfloat16")
    grid = entry.grid()
    kw = {"grid": grid} if grid else {}
    cached = trace_kernel(entry.kernel, *args, target="trn2", timing_only=True, **kw)
    assert replays[0] > 0
    request.getfixturevalue("no_templates")
    fresh = trace_kernel(entry.kernel, *args, target="trn2", timing_only=True, **kw)
    assert _records(cached) == _records(fresh)


@pytest.mark.parametrize("name", sorted(_KERNELS))
def test_written_out_replays_record_what_replay_records(
    name: str, replays: list[int], request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replays _specialise writes out per template record, field by field, what _replay records
    for the same templates (and the checked path: the test above)."""
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 0)  # every template written out from its learning
    entry = registry.get(name)
    args = entry.make_args(_KERNELS[name], "bfloat16")
    grid = entry.grid()
    kw = {"grid": grid} if grid else {}
    fast = trace_kernel(entry.kernel, *args, target="trn2", timing_only=True, **kw)
    assert replays[0] > 0
    request.getfixturevalue("generic_replays")
    generic = trace_kernel(entry.kernel, *args, target="trn2", timing_only=True, **kw)
    assert _records(fast) == _records(generic)


@jit
def alike_arguments(a: Any, ints: Any) -> Any:
    """Calls whose arguments hash alike but mean different things, alternating per iteration:
    an int and a float scalar (the result dtype differs), a shape with and without ``nl.par_dim``
    in another place, views of one block with other strides, and a PSUM operand (its accumulation
    group closes)."""
    # (one output block per iteration: affine iterations may not store the same elements)
    out = nl.ndarray((6, 128, 512), nl.float32, buffer=nl.shared_hbm)
    block = nl.ndarray((2, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)
    for b in nl.affine_range(2):
        block[b] = nl.load(a[b * 128 : (b + 1) * 128, :])
    whole = nl.load(ints)
    acc = nl.zeros((128, 512), nl.float32, buffer=nl.sbuf)
    for it in nl.affine_range(6):
        scalar = 1 if it % 2 else 1.0
        # equal as tuples of ints: a block of two [128, 64] tiles (no memset) or one [2, 128x64] tile
        shape = (2, nl.par_dim(128), 64) if it % 3 else (nl.par_dim(2), 128, 64)
        scratch = nl.zeros(shape, nl.float32, buffer=nl.sbuf)
        part = nl.add(whole, scalar)  # int32 + 1 -> int32, int32 + 1.0 -> float32
        view = block[it % 2, :, 0:256] if it < 3 else block[it % 2, :, 0:512:2]
        s = nisa.tensor_scalar(view, np.multiply, scalar)
        psum = nisa.nc_matmul(block[0, :, 0:128], block[1, :, 0:512])
        q = nisa.tensor_tensor(psum, acc, np.add)
        nl.store(out[it, 0:128, 0:256], value=s)
        nl.store(out[it], value=q)
        nl.store(out[it, 0:128, 0:64], value=nl.copy(part[:, 0:64], dtype=nl.float32))
        nl.store(out[it, 0:128, 0:64], value=scratch[0] if it % 3 else nl.copy(part[:, 0:64]))
    return out


def test_arguments_that_hash_alike_keep_their_meaning(
    replays: list[int], request: pytest.FixtureRequest
) -> None:
    a = np.ones((256, 512), np.float32)
    ints = np.ones((128, 512), np.int32)
    cached = trace_kernel(alike_arguments, a, ints, target="trn1", timing_only=True)
    assert replays[0] > 10
    dtypes = {op.dtype for i in cached.instructions if i.attrs.get("api") == "nl.add" for op in i.outputs}
    assert dtypes == {"int32", "float32"}
    assert sum(i.opcode == "memset" and i.outputs[0].shape == (2, 128, 64) for i in cached.instructions) == 2
    request.getfixturevalue("no_templates")
    fresh = trace_kernel(alike_arguments, a, ints, target="trn1", timing_only=True)
    assert _records(cached) == _records(fresh)


@jit
def carried_read(a: Any) -> Any:
    """Iteration 2 of an affine loop reads what iteration 1 wrote, through a replayed call."""
    out = nl.ndarray((4, 128, 512), nl.float32, buffer=nl.shared_hbm)
    t = nl.load(a)
    blocks = nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)
    for i in nl.affine_range(4):
        blocks[i] = nisa.tensor_copy(t)
        res = nisa.tensor_tensor(blocks[1] if i == 2 else blocks[i], t, np.add)
        nl.store(out[i], value=res)
    return out


@pytest.mark.parametrize("after", [32, 0])  # (0: iteration 2's call goes through a guarded replay)
def test_a_replayed_call_fails_as_the_checked_one(
    after: int, replays: list[int], request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", after)
    a = np.ones((128, 512), np.float32)
    with pytest.raises(KernelError) as cached:
        trace_kernel(carried_read, a, target="trn1", timing_only=True)
    assert replays[0] > 0
    request.getfixturevalue("no_templates")
    with pytest.raises(KernelError) as fresh:
        trace_kernel(carried_read, a, target="trn1", timing_only=True)
    message = str(cached.value)
    assert "nisa.tensor_tensor" in message and "iteration 2 reads what iteration 1" in message
    assert str(cached.value) == str(fresh.value)


def test_recorded_instructions_set_every_field() -> None:
    """``Simulation.record`` fills an Instruction field by field: none may be left unset."""
    import dataclasses

    from trnsim.nki.trace import Instruction

    entry = registry.get("matmul_tiled")
    trace = trace_kernel(entry.kernel, *entry.make_args(_KERNELS["matmul_tiled"], "bfloat16"), target="trn1")
    for instr in trace.instructions[:50]:
        values = {f.name: getattr(instr, f.name) for f in dataclasses.fields(Instruction)}
        assert Instruction(**values) == instr


@jit
def reads_a_stored_row(a: Any) -> Any:
    """Iteration 2 of an affine loop loads the rows of ``out`` iteration 1 stored (replayed stores)."""
    out = nl.ndarray((512, 512), nl.float32, buffer=nl.shared_hbm)
    t = nl.load(a)
    for i in nl.affine_range(4):
        nl.store(out[i * 128 : (i + 1) * 128, :], value=t)
        if i == 2:
            t = nl.load(out[128:256, :])
    return out


def test_a_replayed_store_is_tracked_as_a_write(replays: list[int], request: pytest.FixtureRequest) -> None:
    a = np.ones((128, 512), np.float32)
    with pytest.raises(KernelError) as cached:
        trace_kernel(reads_a_stored_row, a, target="trn1", timing_only=True)
    request.getfixturevalue("no_templates")
    with pytest.raises(KernelError) as fresh:
        trace_kernel(reads_a_stored_row, a, target="trn1", timing_only=True)
    message = str(cached.value)
    assert "nl.load" in message and "iteration 2 reads what iteration 1" in message
    assert message == str(fresh.value)


#: tiles a kernel below hands out (the allocations of replayed and checked calls, compared in a test)
_SEEN: list[Any] = []


@jit
def made_tiles(a: Any) -> Any:
    """Four loads of one layout: the first checked, the others replayed (each tile kept in _SEEN)."""
    out = nl.ndarray((512, 512), nl.float32, buffer=nl.shared_hbm)
    for i in nl.affine_range(4):
        t = nl.load(a[i * 128 : (i + 1) * 128, :])
        _SEEN.append(t)
        nl.store(out[i * 128 : (i + 1) * 128, :], value=t)
    return out


def test_a_replayed_allocation_is_the_one_the_checked_path_makes(
    replays: list[int], request: pytest.FixtureRequest
) -> None:
    """_replay writes an Allocation out slot by slot: every slot must hold what the checked path's
    Allocation(...) holds (a slot added to the class without a line in _replay fails here)."""
    from trnsim.nki.runtime import Allocation

    a = np.ones((512, 512), np.float32)
    _SEEN.clear()
    trace_kernel(made_tiles, a, target="trn1", timing_only=True)
    replayed = _SEEN[-1].alloc
    # the caches are each tile's own
    assert len({id(t.alloc.operands) for t in _SEEN} | {id(t.alloc.regions) for t in _SEEN}) == 8
    assert replays[0] >= 3
    request.getfixturevalue("no_templates")
    _SEEN.clear()
    trace_kernel(made_tiles, a, target="trn1", timing_only=True)
    checked = _SEEN[-1].alloc
    _SEEN.clear()
    # (layout: the templates' own number, set on a tile's first use as a templated call's argument)
    slots = [s for s in Allocation.__slots__ if s not in ("__weakref__", "operands", "regions", "layout")]
    assert {s: getattr(replayed, s) for s in slots} == {s: getattr(checked, s) for s in slots}
    assert replayed.alloc_id == checked.alloc_id


#: ``id()`` of the allocations of the dropped tiles below (ints: no reference kept)
_DROPPED: list[int] = []


@jit
def keeps_some_results(a: Any) -> Any:
    """Results of one call site kept whole, kept only through a view, and dropped, per iteration;
    all read at the end (a kept tile whose objects were reused for a later tile would be read
    under the later tile's allocation id)."""
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    sums = nl.ndarray((4, 128, 512), nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a)
    kept = []
    views = []
    for i in nl.affine_range(4):
        kept.append(nl.exp(x))
        views.append(nl.exp(x)[:, 0:256])
        dropped = nl.log(x)  # (another template: its tiles are dropped only)
        _DROPPED.append(id(dropped.alloc))
        del dropped
        acc = nl.zeros((128, 512), nl.float32, buffer=nl.psum)
        acc += nisa.nc_matmul(x[:, 0:128], x)  # a fresh result added into the accumulator, dropped
        nl.store(sums[i], value=acc)
    for t in kept:
        nl.store(out, value=t)
    for v in views:
        nl.store(out[:, 0:256], value=v)
    return out


def test_tiles_still_referenced_keep_their_objects(
    replays: list[int], request: pytest.FixtureRequest
) -> None:
    """A replay reuses the objects of its template's previous tile only when nothing refers to them
    (the count of references): kept tiles and tiles kept through a view keep their own."""
    a = np.ones((128, 512), np.float32)
    _DROPPED.clear()
    cached = trace_kernel(keeps_some_results, a, target="trn1", timing_only=True)
    assert replays[0] > 10
    # the dropped tiles of later iterations reused one set of objects
    assert len(set(_DROPPED[1:])) < len(_DROPPED) - 1
    reads = [i.inputs[0].region[0] for i in cached.instructions if i.opcode == "store"][-8:]
    assert len(set(reads)) == 8  # eight kept tiles, eight allocations
    request.getfixturevalue("no_templates")
    fresh = trace_kernel(keeps_some_results, a, target="trn1", timing_only=True)
    assert _records(cached) == _records(fresh)


@jit
def shared_offsets(a: Any) -> Any:
    """Replayed calls read one SBUF block at the same offsets as different inputs (a matmul's
    stationary and moving operand, either side of an add) and through views of other layouts at
    those offsets, in fresh blocks and in a block read again; the PSUM results read back."""
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    acc = nl.zeros((128, 512), nl.float32, buffer=nl.sbuf)
    for _rep in nl.sequential_range(3):
        block = nl.ndarray((2, nl.par_dim(128), 512), nl.bfloat16, buffer=nl.sbuf)
        for b in nl.affine_range(2):
            block[b] = nl.load(a[b * 128 : (b + 1) * 128, :])
        for j in nl.sequential_range(4):  # (acc carries the sums)
            lo = (j % 2) * 128
            # the same view as stationary and as moving: one offset, two template inputs
            product = nisa.nc_matmul(block[j // 2, :, lo : lo + 128], block[j // 2, :, lo : lo + 128])
            wide = nisa.nc_matmul(block[j // 2, :, lo : lo + 128], block[1 - j // 2, :, 0:512])
            half = nl.copy(wide[:, 0:128], dtype=nl.float32)
            mixed = nisa.tensor_tensor(half, product, np.add)
            flipped = nisa.tensor_tensor(product, half, np.subtract)  # the same tiles, swapped
            acc[:, 0:128] = nisa.tensor_tensor(acc[:, 0:128], mixed, np.add)
            acc[:, 128:256] = nisa.tensor_tensor(acc[:, 128:256], flipped, np.add)
    nl.store(out, value=acc)
    return out


def test_replayed_inputs_get_the_operands_of_the_checked_path(
    replays: list[int], request: pytest.FixtureRequest
) -> None:
    """A replay keeps each input's operand in its allocation's cache under the input's own int key;
    every field must be what the checked path gives, with templates and operand caches off."""
    a = np.ones((256, 512), np.float32).astype(nl.bfloat16)
    cached = trace_kernel(shared_offsets, a, target="trn1", timing_only=True)
    assert replays[0] > 20
    request.getfixturevalue("no_templates")
    from trnsim.nki import tensor

    request.getfixturevalue("monkeypatch").setattr(tensor, "CACHE_OPERANDS", False)
    fresh = trace_kernel(shared_offsets, a, target="trn1", timing_only=True)
    assert _records(cached) == _records(fresh)


_PASSED: list[Any] = []


@jit
def keyed_tensors(a: Any) -> Any:
    """Views (kept by their block, made again) and replayed tiles (their objects reused) passed to
    templated calls, each kept for the test."""
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    for _rep in nl.sequential_range(3):
        block = nl.ndarray((2, nl.par_dim(128), 512), nl.bfloat16, buffer=nl.sbuf)
        for b in nl.affine_range(2):
            block[b] = nl.load(a[b * 128 : (b + 1) * 128, :])
        for j in nl.sequential_range(4):
            lhs, rhs = block[j // 2, :, 0:128], block[1 - j // 2, :, (j % 2) * 256 : (j % 2) * 256 + 256]
            product = nisa.nc_matmul(lhs, rhs)
            summed = nisa.tensor_tensor(product, lhs[:, 0:1], np.add)
            _PASSED.extend((lhs, rhs, product))
            nl.store(out[:, 0:256], value=summed)
    return out


def test_a_kept_key_part_is_the_tensors_layout(replays: list[int]) -> None:
    """The key part a tensor keeps (Tensor._key) is the number of its allocation's layout number and
    its view's shape, strides and partition axis (views kept by their block, tiles whose objects were
    reused)."""
    _PASSED.clear()
    a = np.ones((256, 512), np.float32).astype(nl.bfloat16)
    trace_kernel(keyed_tensors, a, target="trn1", timing_only=True)
    assert replays[0] > 10
    kept = [t for t in _PASSED if t._key is not None]
    assert len(kept) == len(_PASSED)
    for t in kept:
        assert templates._VIEWS[t.alloc.layout, t.shape, t.strides, t.paxis] == t._key
    _PASSED.clear()


@jit
def reused_accumulators(a: Any) -> Any:
    """A PSUM accumulator dropped before the next one is made (its template reuses its objects for
    the next), each retargeted by ``+=``: the operand a retarget keeps on its target is its own."""
    out = nl.ndarray((4, 128, 512), nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a)
    for i in nl.sequential_range(4):
        acc = nl.zeros((128, 512), nl.float32, buffer=nl.psum)
        acc += nisa.nc_matmul(x[:, 0:128], x)
        acc += nisa.nc_matmul(x[:, 128:256], x)
        nl.store(out[i], value=acc)
        del acc
    return out


def test_a_reused_accumulator_is_retargeted_under_its_own_id(
    replays: list[int], request: pytest.FixtureRequest
) -> None:
    a = np.ones((128, 512), np.float32)
    cached = trace_kernel(reused_accumulators, a, target="trn1", timing_only=True)
    assert replays[0] > 4
    ids = {i.outputs[0].region[0] for i in cached.instructions if i.opcode == "nc_matmul"}
    request.getfixturevalue("no_templates")
    fresh = trace_kernel(reused_accumulators, a, target="trn1", timing_only=True)
    assert _records(cached) == _records(fresh)
    assert len(ids) == 4


def _specialised(monkeypatch: pytest.MonkeyPatch, after: int, name: str) -> tuple[int, list[tuple[Any, ...]]]:
    """How many templates of library kernel ``name`` got a written-out replay with ``SPECIALISE_AFTER``
    = ``after`` (timing-only: a guarded one), and the records of its timing-only trace."""
    calls = [0]
    specialise = templates._specialise
    guarded = templates._guarded

    def counting(tpl: tuple[Any, ...]) -> Any:
        calls[0] += 1
        return specialise(tpl)

    def counting_guarded(*given: Any) -> Any:
        calls[0] += 1
        return guarded(*given)

    monkeypatch.setattr(templates, "_specialise", counting)
    monkeypatch.setattr(templates, "_guarded", counting_guarded)
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", after)
    monkeypatch.setattr(templates, "_KEPT", {})  # (each launch learns its templates anew)
    entry = registry.get(name)
    trace = trace_kernel(entry.kernel, *entry.make_args(_KERNELS[name], "bfloat16"), target="trn2",
                         timing_only=True)
    return calls[0], _records(trace)


def test_templates_are_written_out_only_after_their_first_replays(monkeypatch: pytest.MonkeyPatch) -> None:
    """A template replayed fewer than SPECIALISE_AFTER times keeps _replay (writing one out would cost
    more than it saves in a small launch); one replayed more gets its written-out replay; the trace is
    the same either way."""
    every, records = _specialised(monkeypatch, 0, "flash_attention_fwd")
    some, records_some = _specialised(monkeypatch, 3, "flash_attention_fwd")
    never, records_never = _specialised(monkeypatch, 10**9, "flash_attention_fwd")
    assert never == 0
    assert 0 < some < every  # (this kernel has templates replayed once or twice and others far more)
    assert records_some == records == records_never


@jit
def four_calls(a: Any, b: Any) -> Any:
    """Load, load, add, store: three templates learned in a launch, one of them replayed."""
    c = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    nl.store(c, value=nl.add(nl.load(a), nl.load(b)))
    return c


@pytest.mark.parametrize("timing_only", [True])
def test_a_launch_replays_the_templates_of_the_launch_before(
    timing_only: bool, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The templates a timing-only launch learned are kept for the next launch on the same target: it
    learns none and records what the checked path records; the kept ones hold no tile."""
    learned = [0]
    learn = templates._learn

    def counting(*args: Any) -> Any:
        tpl = learn(*args)
        learned[0] += tpl is not None  # (nl.ndarray in HBM is checked each time: no template)
        return tpl

    monkeypatch.setattr(templates, "_learn", counting)
    a = np.ones((128, 512), np.float32)
    first = trace_kernel(four_calls, a, a + 1, target="trn1", timing_only=timing_only)
    once = learned[0]
    assert once > 0
    second = trace_kernel(four_calls, a, a + 1, target="trn1", timing_only=timing_only)
    assert learned[0] == once  # (nothing learned again)
    kept = [tpl for _, kept in templates._KEPT.values() for tpl in kept.values() if len(tpl) == 8]
    assert kept and all(tpl[5] == [None, None] for tpl in kept)
    other = trace_kernel(four_calls, a, a + 1, target="trn2", timing_only=timing_only)
    assert learned[0] > once  # another target: its own templates
    request.getfixturevalue("no_templates")
    checked = trace_kernel(four_calls, a, a + 1, target="trn1", timing_only=timing_only)
    assert _records(first) == _records(second) == _records(checked)
    checked_other = trace_kernel(four_calls, a, a + 1, target="trn2", timing_only=timing_only)
    assert _records(other) == _records(checked_other)


def _redefined(op: Any) -> Any:
    """A kernel defined anew per call, the same lines applying ``op``."""

    @jit
    def redefined(x: Any, y: Any) -> Any:
        c = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)
        nl.store(c, value=op(nl.load(x), nl.load(y)))
        return c

    return redefined


def test_a_redefined_kernel_records_what_the_checked_path_records(request: pytest.FixtureRequest) -> None:
    """Templates belong to no kernel: a kernel redefined under the same name (another operation at
    the same lines) replays only what its own calls' keys match."""
    a = np.ones((128, 512), np.float32)
    ops = (nl.add, nl.multiply, nl.add)
    traces = [trace_kernel(_redefined(op), a, a, target="trn1", timing_only=True) for op in ops]
    request.getfixturevalue("no_templates")
    checked = [trace_kernel(_redefined(op), a, a, target="trn1", timing_only=True) for op in ops]
    assert traces[0].instructions[2].attrs != traces[1].instructions[2].attrs
    assert [_records(t) for t in traces] == [_records(t) for t in checked]


@jit
def same_tile_twice(a: Any) -> Any:
    """``activation(data=x, bias=x)`` first, then ``data`` and ``bias`` of one layout but two tiles:
    the first call's inputs cannot tell its arguments apart, so it must not be a template."""
    out = nl.ndarray((128, 1), nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a[:, 0:1])
    acc = nisa.activation(op=nl.exp, data=x, bias=x, dtype=nl.float32)
    for i in range(1, 4):
        y = nl.load(a[:, i : i + 1])
        acc = nisa.activation(op=nl.exp, data=acc, bias=y, dtype=nl.float32)
    nl.store(out, value=acc)
    return out


def test_a_call_given_one_tile_twice_records_each_argument(request: pytest.FixtureRequest) -> None:
    a = np.ones((128, 4), np.float32)
    cached = trace_kernel(same_tile_twice, a, target="trn1", timing_only=True)
    again = trace_kernel(same_tile_twice, a, target="trn1", timing_only=True)
    request.getfixturevalue("no_templates")
    fresh = trace_kernel(same_tile_twice, a, target="trn1", timing_only=True)
    assert _records(cached) == _records(again) == _records(fresh)


def _typed(value: Any) -> Any:
    """``value`` with the class of every tuple in it (an Operand and a plain tuple compare equal)."""
    if isinstance(value, tuple):
        return (type(value).__name__, *(_typed(v) for v in value))
    return value


@jit
def kept_results(a: Any, b: Any) -> Any:
    """Fresh results that are not retargeted at once: a matmul result kept while others are recorded,
    then accumulated onto (its accumulation group), read with another, and a load kept for the next
    iteration."""
    out = nl.ndarray((6, 128, 512), nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a)
    y = nl.load(b)
    for i in nl.affine_range(6):
        p = nisa.nc_matmul(x, y)
        q = nisa.nc_matmul(x, y)
        p += nisa.nc_matmul(x, y)
        z = nl.load(b)
        s = nisa.tensor_tensor(p, z, np.add)
        nl.store(out[i], value=nisa.tensor_tensor(q, s, np.add))
    return out


@pytest.mark.parametrize("name", [*sorted(_KERNELS), "kept_results"])
def test_deferred_outputs_record_what_eager_outputs_record(
    name: str, replays: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written-out replays that make a fresh result's output operand only when no retarget replaced it
    (``DEFER_OUTPUTS``) record, field by field and class by class, what they record making it at once."""
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 0)  # every template written out from its learning
    if name == "kept_results":
        kernel: Any = kept_results
        args: Any = (np.ones((128, 128), np.float32), np.ones((128, 512), np.float32))
        kw: dict[str, Any] = {}
    else:
        entry = registry.get(name)
        kernel, args = entry.kernel, entry.make_args(_KERNELS[name], "bfloat16")
        grid = entry.grid()
        kw = {"grid": grid} if grid else {}
    deferred = trace_kernel(kernel, *args, target="trn2", timing_only=True, **kw)
    assert replays[0] > 0
    monkeypatch.setattr(templates, "_KEPT", {})  # (written out anew, without deferring)
    monkeypatch.setattr(templates, "DEFER_OUTPUTS", False)
    eager = trace_kernel(kernel, *args, target="trn2", timing_only=True, **kw)
    assert _typed(tuple(_records(deferred))) == _typed(tuple(_records(eager)))
    assert all(type(op).__name__ == "Operand" for i in deferred.instructions for op in i.outputs)


@jit
def fails_after_a_replay(a: Any, b: Any) -> Any:
    """Replayed matmuls whose last result is kept, then a mistake (a load from SBUF)."""
    x = nl.load(a)
    y = nl.load(b)
    for _ in nl.affine_range(4):
        p = nisa.nc_matmul(x, y)
    return nl.load(p)


def test_a_failed_launch_settles_its_deferred_output(
    replays: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A launch that fails right after a written-out replay leaves its trace with real operands."""
    from trnsim.nki.trace import collect_traces

    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 0)
    with collect_traces(timing_only=True) as traces, pytest.raises(KernelError):
        trace_kernel(fails_after_a_replay, np.ones((128, 128), np.float32), np.ones((128, 512), np.float32),
                     target="trn1", timing_only=True)
    assert replays[0] > 0
    last = traces[-1].instructions[-1]
    assert last.opcode == "nc_matmul"
    assert type(last.outputs[0]).__name__ == "Operand" and type(last.outputs[0].region).__name__ == "Region"


_ZEROED: list[tuple[Any, Any]] = []


@jit
def fresh_accumulators(a: Any, b: Any) -> Any:
    """``nl.zeros`` tiles in PSUM accumulated onto at once (the first ``+=`` of their group), one read
    under another operand name before it, one accumulated onto through a view first."""
    out = nl.ndarray((6, 128, 512), nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a)
    y = nl.load(b)
    for i in nl.affine_range(6):
        acc = nl.zeros((128, 512), nl.float32, buffer=nl.psum)
        _ZEROED.append((acc._out, acc.operand("dst")))
        acc += nisa.nc_matmul(x, y)
        acc += nisa.nc_matmul(x, y)
        other = nl.zeros((128, 512), nl.float32, buffer=nl.psum)
        s = nisa.tensor_tensor(other, y, np.add)
        other += nisa.nc_matmul(x, y)
        part = nl.zeros((128, 512), nl.float32, buffer=nl.psum)
        half = part[:, 0:256]
        half += nisa.nc_matmul(x, y[:, 0:256])
        part += nisa.nc_matmul(x, y)
        t = nisa.tensor_tensor(acc, s, np.add)
        u = nisa.tensor_tensor(other, t, np.add)
        nl.store(out[i], value=nisa.tensor_tensor(part, u, np.add))
    return out


def test_a_fresh_tile_s_retarget_record_is_the_operand_cache_s(
    replays: list[int], request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A written-out replay of ``nl.zeros`` keeps on the new tile the retarget record (operand name,
    operand, region, allocation id, non-empty box, outputs) that language_impl._retarget's operand-cache path
    keeps at the first retarget onto it, so that ``acc += nc_matmul(...)`` onto it takes _iadd's
    inline case; the trace is the checked path's, field by field and class by class."""
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 0)  # every template written out from its learning
    args = (np.ones((128, 128), np.float32), np.ones((128, 512), np.float32))
    _ZEROED.clear()
    cached = trace_kernel(fresh_accumulators, *args, target="trn2", timing_only=True)
    assert replays[0] > 0
    replayed = _ZEROED[1:]  # (the first nl.zeros is learned: the checked path keeps no record)
    assert len(replayed) == 5
    for kept, op in replayed:
        region = op.region
        assert kept == ("dst", op, region, region[0], region[1] < region[2] and region[3] < region[4], (op,))
        assert type(kept[1]).__name__ == "Operand" and type(kept[2]).__name__ == "Region"
    request.getfixturevalue("no_templates")
    _ZEROED.clear()
    fresh = trace_kernel(fresh_accumulators, *args, target="trn2", timing_only=True)
    assert _typed(tuple(_records(cached))) == _typed(tuple(_records(fresh)))
    _ZEROED.clear()


@jit
def guarded_alike(a: Any, ints: Any) -> Any:
    """Calls of one front-end function from one line whose arguments change between iterations in
    what a key tells apart and a careless guard would not: scalars equal as numbers but of other
    classes (the result dtype differs), shapes with numpy ints and ``nl.par_dim`` in other places,
    keywords in another order or one more (``mask=None``), a tensor argument of another layout, a
    positional argument given by keyword; each replayed through the function's latest template's
    guarded replay when its key is that template's."""
    out = nl.ndarray((12, 128, 512), nl.float32, buffer=nl.shared_hbm)
    block = nl.ndarray((2, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)
    for b in nl.affine_range(2):
        block[b] = nl.load(a[b * 128 : (b + 1) * 128, :])
    whole = nl.load(ints)
    for it in nl.affine_range(12):
        scalar = (1, 1.0, np.float32(1.0), 2)[it % 4]
        rows = (128, np.int64(128), 128)[it % 3]
        if it % 4 == 3:
            scratch = nl.zeros((2, nl.par_dim(128), 64), buffer=nl.sbuf, dtype=nl.float32)
        elif it % 4 == 2:
            scratch = nl.zeros((nl.par_dim(2), 128, 64), dtype=nl.float32, buffer=nl.sbuf)
        elif it % 4 == 1:  # (equal as a tuple to the one below: a block of two [128, 64] tiles)
            scratch = nl.zeros((2, nl.par_dim(128), 64), dtype=nl.float32, buffer=nl.sbuf)
        else:
            scratch = nl.zeros((2, rows, 64), dtype=nl.float32, buffer=nl.sbuf)
        part = nl.add(whole, scalar) if it % 5 else nl.add(whole, scalar, mask=None)
        view = block[it % 2, :, 0:256] if it < 6 else block[it % 2, :, 0:512:2]
        s = nisa.tensor_scalar(view, np.multiply, scalar) if it % 3 else nisa.tensor_scalar(
            data=view, op0=np.multiply, operand0=scalar)
        psum = nisa.nc_matmul(block[0, :, 0:128], block[1, :, 0 : (512 if it % 2 else 256)])
        nl.store(out[it, 0:128, 0:256], value=s)
        nl.store(out[it, 0:128, 0 : (512 if it % 2 else 256)], value=psum)
        nl.store(out[it, 0:128, 0:64], value=nl.copy(part[:, 0:64], dtype=nl.float32))
        nl.store(out[it, 0:128, 0:64], value=scratch[0] if it % 4 != 2 else scratch[0, :, :])
    return out


def test_guarded_replays_replay_only_their_own_key(
    replays: list[int], request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A front-end call tries its function's latest template's guarded replay before it builds a key:
    the guard takes exactly the calls whose key is that template's (arguments that compare equal but
    differ in class, shape item classes, keyword order and names, layouts), so the trace is the
    checked path's, field by field and class by class, on both targets and in a second launch."""
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 0)  # every template written out (and guarded)
    guarded = [0]
    make = templates._guarded

    def counting(*given: Any) -> Any:
        fast = make(*given)
        guarded[0] += 1
        return fast

    monkeypatch.setattr(templates, "_guarded", counting)
    a = np.ones((256, 512), np.float32)
    ints = np.ones((128, 512), np.int32)
    cached = {
        target: [trace_kernel(guarded_alike, a, ints, target=target, timing_only=True) for _ in range(2)]
        for target in ("trn1", "trn2")
    }
    assert guarded[0] > 5 and replays[0] > 20
    first = cached["trn1"][0].instructions
    dtypes = {op.dtype for i in first if i.attrs.get("api") == "nl.add" for op in i.outputs}
    assert dtypes == {"int32", "float32"}
    request.getfixturevalue("no_templates")
    for target, traces in cached.items():
        fresh = trace_kernel(guarded_alike, a, ints, target=target, timing_only=True)
        for trace in traces:
            assert _typed(tuple(_records(trace))) == _typed(tuple(_records(fresh)))


def test_a_loop_replays_through_guarded_replays(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a library kernel's loops most replays are guarded ones (no key built): the function's
    latest template is the next call's; the trace is the checked path's."""
    hits = [0, 0]
    make = templates._guarded

    def counting(*given: Any) -> Any:
        fast = make(*given)

        def counted(*args: Any) -> Any:
            result = fast(*args)
            hits[result is templates._MISS] += 1
            return result

        return counted

    monkeypatch.setattr(templates, "_guarded", counting)
    monkeypatch.setattr(templates, "_KEPT", {})
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 2)  # (a small launch: written out early)
    entry = registry.get("matmul_fully_blocked")
    args = entry.make_args(_KERNELS["matmul_fully_blocked"], "bfloat16")
    trace = trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
    matmuls = sum(i.opcode == "nc_matmul" for i in trace.instructions)
    assert hits[0] > matmuls // 2 and hits[1] * 4 < hits[0]
    monkeypatch.setattr(templates, "_guarded", make)
    monkeypatch.setattr(runtime_module(), "CACHE_TEMPLATES", False)
    checked = trace_kernel(entry.kernel, *args, target="trn1", timing_only=True)
    assert _records(trace) == _records(checked)


def runtime_module() -> Any:
    from trnsim.nki import runtime

    return runtime


_TICKETS: list[Any] = []


@jit
def accumulated(a: Any, b: Any) -> Any:
    """``acc += nc_matmul(...)`` over a K loop: the matmul's ``last_result`` item 3 seen right after it."""
    from trnsim.nki import runtime

    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a)
    y = nl.load(b)
    acc = nl.zeros((128, 512), nl.float32, buffer=nl.psum)
    for _ in nl.affine_range(40):
        product = nisa.nc_matmul(x, y)
        _TICKETS.append(runtime._ACTIVE.get().last_result[3])
        acc += product
    nl.store(out, value=acc)
    return out


def test_a_replayed_matmul_leaves_its_output_name_for_iadd(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A replayed matmul's ``last_result`` names its one output (what _iadd's inline retarget
    compares with the target's kept record, instead of reading the instruction's opcode, engine and
    outputs); a checked one leaves None (its ``+=`` takes _retarget); the trace is the checked
    path's."""
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 3)
    args = (np.ones((128, 128), np.float32), np.ones((128, 512), np.float32))
    _TICKETS.clear()
    cached = trace_kernel(accumulated, *args, target="trn1", timing_only=True)
    assert _TICKETS[0] is None and set(_TICKETS[1:]) == {"dst"}
    request.getfixturevalue("no_templates")
    _TICKETS.clear()
    checked = trace_kernel(accumulated, *args, target="trn1", timing_only=True)
    assert set(_TICKETS) == {None}
    assert _typed(tuple(_records(cached))) == _typed(tuple(_records(checked)))


@jit
def shared_attributes(a: Any, b: Any) -> Any:
    """Matmuls accumulated over K loops onto PSUM tiles that start as ``nl.ndarray`` (the first
    ``+=`` of each takes _retarget, the others _iadd's inline case), onto one that a matmul result
    is kept apart from (a later ``+=``), a matmul never accumulated, and element-wise sums of them (a
    template without ``accumulate``)."""
    out = nl.ndarray((5, 128, 512), nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a)
    y = nl.load(b)
    for i in nl.sequential_range(5):
        acc = nl.ndarray((128, 512), nl.float32, buffer=nl.psum)
        for _ in nl.affine_range(9):
            acc += nisa.nc_matmul(x, y)
        kept = nisa.nc_matmul(x, y)
        other = nl.ndarray((128, 512), nl.float32, buffer=nl.psum)
        other += kept
        lone = nisa.nc_matmul(x, y)  # (never retargeted: it keeps the template's dict)
        total = nisa.tensor_tensor(acc, y, np.add)
        total = nisa.tensor_tensor(lone, total, np.add)
        nl.store(out[i], value=nisa.tensor_tensor(other, total, np.add))
    return out


@pytest.mark.parametrize("path", ["written out", "_replay"])
def test_replayed_instructions_share_their_template_s_attributes(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, replays: list[int], path: str
) -> None:
    """Instructions replayed from one template hold its ``attrs`` dict, not a copy each; a retarget
    that sets a replayed matmul's ``accumulate`` puts in one of the template's two dicts with that
    flag instead of writing into the shared one (else every instruction of the template would show
    the latest flag, and later launches, which keep the templates, would start from it). Traces of
    two launches are the checked path's, attributes and their key order included."""
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 2)
    if path == "_replay":
        request.getfixturevalue("generic_replays")
    args = (np.ones((128, 128), np.float32), np.ones((128, 512), np.float32))
    cached = [trace_kernel(shared_attributes, *args, target="trn1", timing_only=True) for _ in range(2)]
    assert replays[0] > 60
    for trace in cached:
        matmuls = [i.attrs for i in trace.instructions if i.opcode == "nc_matmul"]
        sums = [i.attrs for i in trace.instructions if i.opcode == "tensor_tensor"]
        assert len(matmuls) == 55 and len(sums) == 15
        # (the learned calls' own dicts in the first launch, then two per template: flag off, on)
        assert len({id(d) for d in matmuls}) <= 7 and len({id(d) for d in sums}) <= 6
        assert {d["accumulate"] for d in matmuls} == {False, True}
        # (the matmuls accumulated onto one tile share one outputs tuple, the tile's retarget
        # record's, from the second retarget on: the first finds no operand cached to keep)
        grouped = [i.outputs for i in trace.instructions if i.opcode == "nc_matmul"][:9]
        assert len({id(outputs) for outputs in grouped}) == 2
    request.getfixturevalue("no_templates")
    checked = [trace_kernel(shared_attributes, *args, target="trn1", timing_only=True) for _ in range(2)]
    for got, want in zip(cached, checked, strict=True):
        assert _typed(tuple(_records(got))) == _typed(tuple(_records(want)))
        assert [list(i.attrs) for i in got.instructions] == [list(i.attrs) for i in want.instructions]


#: ``len(Simulation.psum_groups)`` at the end of each launch of ``accumulating``
_GROUPS_LEFT: list[int] = []


@jit
def accumulating(a: Any) -> Any:
    """64 PSUM accumulators, each the sum of two matmuls (``acc += nc_matmul(...)``, whose fresh
    result opens an accumulation group of its own tile before the retarget); the first ``acc`` is held
    until the next replaces it (its template alternates between two tiles), then one fresh matmul
    result is kept and accumulated into itself."""
    out = nl.ndarray((64, 128, 512), nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a)
    for i in nl.sequential_range(64):
        acc = nl.zeros((128, 512), nl.float32, buffer=nl.psum)
        acc += nisa.nc_matmul(x[:, 0:128], x)
        acc += nisa.nc_matmul(x[:, 128:256], x)
        nl.store(out[i], value=acc)
    kept = nisa.nc_matmul(x[:, 0:128], x)
    kept += nisa.nc_matmul(x[:, 128:256], x)  # (its own group: open, so this one adds)
    nl.store(out[0], value=kept)
    _GROUPS_LEFT.append(len(nl_runtime.current().psum_groups))
    return out


@pytest.mark.parametrize("after", [0, 3, 10**9])
def test_a_reused_psum_tile_leaves_no_accumulation_group(
    after: int, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """A PSUM tile reused under a new allocation id drops its old id's accumulation group (nothing can
    read or write that id again): a launch does not pile up one group per retargeted matmul, and records
    what the checked path records."""
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", after)
    monkeypatch.setattr(templates, "_KEPT", {})
    a = np.ones((128, 512), np.float32)
    _GROUPS_LEFT.clear()
    cached = [trace_kernel(accumulating, a, target="trn1", timing_only=True) for _ in range(2)]
    assert max(_GROUPS_LEFT) <= 4  # (129 without dropping them: one per retargeted matmul)
    request.getfixturevalue("no_templates")
    fresh = trace_kernel(accumulating, a, target="trn1", timing_only=True)
    assert _records(cached[0]) == _records(cached[1]) == _records(fresh)
    accumulates = [i.attrs["accumulate"] for i in fresh.instructions if i.opcode == "nc_matmul"]
    assert accumulates[-2:] == [False, True]
