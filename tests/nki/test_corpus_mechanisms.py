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
