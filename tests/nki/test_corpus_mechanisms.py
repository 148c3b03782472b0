"""Mechanisms behind the corpus patterns (issue 10) checked on the trace, not only on values."""

from __future__ import annotations

from typing import Any

import numpy as np

from trnsim.nki import TensorSpec, trace_kernel
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


@jit
def transpose_then_matmul(q: Any) -> Any:
    out = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.shared_hbm)
    q_t = nl.load(q)
    nl.store(out, value=nl.matmul(q_t, nl.transpose(q_t), transpose_x=True))
    return out


@jit
def select_psum(q: Any) -> Any:
    out = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.shared_hbm)
    q_t = nl.load(q)
    acc = nl.zeros((128, 128), dtype=nl.float32, buffer=nl.psum)
    acc += nisa.nc_matmul(q_t, q_t)
    i_q, i_k = nl.mgrid[0:128, 0:128]
    nl.store(out, value=nisa.affine_select(pred=(i_q - i_k >= 0), on_true_tile=acc, on_false_value=0.0))
    return out


def _implicit_copies(trace: Any) -> list[Any]:
    return [i for i in trace.instructions if i.attrs.get("api") == "implicit_copy"]


def test_psum_result_read_by_tensor_engine_gets_one_charged_copy() -> None:
    trace = trace_kernel(transpose_then_matmul, TensorSpec((128, 128), np.float32))
    copies = _implicit_copies(trace)
    assert len(copies) == 1
    (copy,) = copies
    assert copy.opcode == "tensor_copy" and copy.inputs[0].space.value == "psum"
    assert copy.outputs[0].space.value == "sbuf"
    matmul = next(i for i in trace.instructions if i.opcode == "nc_matmul")
    assert matmul.seq > copy.seq and matmul.inputs[1].region == copy.outputs[0].region


def test_legacy_affine_select_on_psum_copies_first() -> None:
    trace = trace_kernel(select_psum, TensorSpec((128, 128), np.float32))
    (copy,) = _implicit_copies(trace)
    select = next(i for i in trace.instructions if i.opcode == "affine_select")
    assert select.inputs[0].space.value == "sbuf" and select.inputs[0].region == copy.outputs[0].region


# -- item 3: capacity by program-order live ranges, spills under automatic allocation ------------


@jit
def dead_tiles_still_bound() -> None:
    # Python keeps all three alive; in program order a and b are dead before c exists
    a = nl.zeros((128, 25600), nl.float32, buffer=nl.sbuf)  # 102,400 B per partition
    nl.copy(a)
    b = nl.zeros((128, 25600), nl.float32, buffer=nl.sbuf)
    nl.copy(b)
    c = nl.zeros((128, 2560), nl.float32, buffer=nl.sbuf)  # 10,240 B
    nl.copy(c)
    del a, b, c


@jit
def reused_after_overflow() -> None:
    a = nl.zeros((128, 25600), nl.float32, buffer=nl.sbuf)
    b = nl.zeros((128, 25600), nl.float32, buffer=nl.sbuf)
    c = nl.zeros((128, 2560), nl.float32, buffer=nl.sbuf)  # live: a + b + c = 215,040 B > capacity
    nl.copy(c)
    nl.copy(b)
    nl.copy(a)  # a's next use is the furthest: a is the tile spilled


def test_dead_tiles_do_not_count_against_capacity() -> None:
    trace = trace_kernel(dead_tiles_still_bound, target="trn2")
    assert trace.spill_save_bytes == 0
    assert not [i for i in trace.instructions if i.attrs.get("spill")]


def test_over_capacity_spills_the_furthest_used_tile_and_charges_it() -> None:
    trace = trace_kernel(reused_after_overflow, target="trn2")
    # trn2: 224 KiB per partition less 16 KiB reserved = 212,992 B usable (hardware/data)
    a_region = trace.instructions[0].outputs[0].region  # a's memset
    saves = [i for i in trace.instructions if i.opcode == "spill_save"]
    reloads = [i for i in trace.instructions if i.opcode == "spill_reload"]
    assert len(saves) == len(reloads) == 1
    assert saves[0].inputs[0].region == a_region and reloads[0].outputs[0].region == a_region
    assert trace.spill_save_bytes == trace.spill_reload_bytes == 128 * 102_400
    ops = [i.opcode for i in trace.instructions]
    # saved right after a's memset, reloaded right before a's last read
    assert ops.index("spill_save") == 1 and ops[ops.index("spill_reload") + 1] == "tensor_copy"
    assert [i.seq for i in trace.instructions] == list(range(len(trace.instructions)))
    assert all(i.engine.value == "dma" for i in saves + reloads)


def test_psum_overflow_spills_instead_of_failing() -> None:
    @jit
    def nine_banks() -> None:
        tiles = [nl.zeros((128, 512), nl.float32, buffer=nl.psum) for _ in range(9)]  # 9 x 2 KiB
        for t in tiles:
            nl.copy(t)

    trace = trace_kernel(nine_banks, target="trn2")
    assert trace.spill_save_bytes == 128 * 2048  # one bank's tile out while the ninth is written


def test_feature_checks_still_see_missing_names() -> None:
    from trnsim.nki.current import isa as current_isa
    from trnsim.nki.legacy import language as legacy_nl

    assert not hasattr(current_isa, "instruction_from_the_future")
    assert getattr(legacy_nl, "no_such_function", None) is None
