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
from trnsim.nki import templates, trace_kernel
from trnsim.nki.errors import KernelError
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl
from trnsim.nki.trace import KernelTrace


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts template replays (the counting wrapper is compiled as part of trnsim.nki, so that the
    recorded source locations skip its frame as they skip the replay's)."""
    count = [0]
    scope: dict[str, Any] = {"count": count, "replay": templates._replay}
    source = "def counted(*args):\n    count[0] += 1\n    return replay(*args)\n"
    exec(compile(source, templates.__file__, "exec"), scope)
    monkeypatch.setattr(templates, "_replay", scope["counted"])
    return count


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


@jit
def alike_arguments(a: Any, ints: Any) -> Any:
    """Calls whose arguments hash alike but mean different things, alternating per iteration:
    an int and a float scalar (the result dtype differs), a shape with and without ``nl.par_dim``
    in another place, views of one block with other strides, and a PSUM operand (its accumulation
    group closes)."""
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
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
        nl.store(out[0:128, 0:256], value=s)
        nl.store(out, value=q)
        nl.store(out[0:128, 0:64], value=nl.copy(part[:, 0:64], dtype=nl.float32))
        nl.store(out[0:128, 0:64], value=scratch[0] if it % 3 else nl.copy(part[:, 0:64]))
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
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    t = nl.load(a)
    blocks = nl.ndarray((4, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)
    for i in nl.affine_range(4):
        blocks[i] = nisa.tensor_copy(t)
        res = nisa.tensor_tensor(blocks[1] if i == 2 else blocks[i], t, np.add)
        nl.store(out, value=res)
    return out


def test_a_replayed_call_fails_as_the_checked_one(replays: list[int], request: pytest.FixtureRequest) -> None:
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


def test_a_replayed_allocation_is_the_one_the_constructor_makes() -> None:
    """runtime.replica (a replayed tile's allocation) sets every slot as Allocation(...) does: a slot
    added to the class without a line in replica fails here."""
    from trnsim.nki import runtime
    from trnsim.nki.runtime import Allocation, Buffer

    dt = np.dtype(np.float32)
    made = Allocation(7, Buffer.PSUM, dt, (128, 512), 128, 512, "acc", None, 0, "float32")
    made.implicit = True
    made.layout = 3
    proto = Allocation(-1, Buffer.PSUM, dt, (128, 512), 128, 512, "acc", None, 0, "float32")
    proto.implicit = True
    proto.layout = 3
    copy = runtime.replica(proto, 7)
    slots = [s for s in Allocation.__slots__ if s != "__weakref__"]
    assert {s: getattr(copy, s) for s in slots} == {s: getattr(made, s) for s in slots}
    # the caches are the copy's own
    assert copy.operands is not proto.operands and copy.regions is not proto.regions
