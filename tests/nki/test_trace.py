"""The trace: engines, opcodes, operands with regions, attrs; timing-only mode matches value mode."""

from __future__ import annotations

from typing import Any

import numpy as np

from trnsim.nki import TensorSpec, trace_kernel
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl
from trnsim.nki.legacy import typing as nt
from trnsim.nki.trace import Engine, MemorySpace


@jit
def mm(lhsT: Any, rhs: Any) -> Any:
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    acc = nl.zeros((128, 512), nl.float32, buffer=nl.psum)
    for k in nl.affine_range(2):
        s = nl.load(lhsT[k * 128 : (k + 1) * 128, :])
        m = nl.load(rhs[k * 128 : (k + 1) * 128, :])
        acc += nisa.nc_matmul(s, m)
    res = nl.copy(acc, dtype=nl.bfloat16)
    nl.store(out, value=res)
    return out


def _summary(trace: Any) -> list[Any]:
    return [
        (
            i.engine,
            i.opcode,
            [(o.space, o.shape, o.dtype, o.nbytes, o.region) for o in i.inputs + i.outputs],
            i.attrs,
        )
        for i in trace.instructions
    ]


def test_trace_contents() -> None:
    a = np.zeros((256, 128), np.float32)
    b = np.zeros((256, 512), np.float32)
    trace = trace_kernel(mm, a, b, timing_only=False)
    ops = [(i.engine, i.opcode) for i in trace.instructions]
    assert ops == [
        (Engine.VECTOR, "memset"),
        (Engine.DMA, "load"),
        (Engine.DMA, "load"),
        (Engine.TENSOR, "nc_matmul"),
        (Engine.DMA, "load"),
        (Engine.DMA, "load"),
        (Engine.TENSOR, "nc_matmul"),
        (Engine.VECTOR, "tensor_copy"),
        (Engine.DMA, "store"),
    ]
    load2 = trace.instructions[4]
    src = load2.inputs[0]
    # rows 128..255 of a fp32 [256, 128] HBM tensor: bytes 128*128*4 .. 256*128*4, contiguous
    assert src.space is MemorySpace.HBM and src.shape == (128, 128) and src.nbytes == 65536
    assert (src.region.byte_start, src.region.byte_stop) == (65536, 131072)
    assert src.contiguous_bytes == 65536
    mm2 = trace.instructions[6]
    assert mm2.attrs["accumulate"] is True and mm2.attrs["perf_mode"] == "none"
    out = mm2.outputs[0]
    # the matmul writes the accumulator: 128 partitions x 512 fp32 = 2048 bytes each
    assert out.space is MemorySpace.PSUM and out.region.partition_stop == 128 and out.region.byte_stop == 2048
    assert out.region == trace.instructions[0].outputs[0].region  # same tile as the memset
    assert trace.instructions[7].outputs[0].dtype == "bfloat16"
    assert all(i.source_file.endswith("test_trace.py") for i in trace.instructions)


def test_timing_only_records_the_same_trace_without_values() -> None:
    values = trace_kernel(
        mm, np.zeros((256, 128), np.float32), np.zeros((256, 512), np.float32), timing_only=False
    )
    timing = trace_kernel(mm, TensorSpec((256, 128), np.float32), nt.tensor[[256, 512], nl.float32])
    assert _summary(values) == _summary(timing)


def test_regions_detect_dependencies() -> None:
    trace = trace_kernel(mm, TensorSpec((256, 128), np.float32), TensorSpec((256, 512), np.float32))
    load1, mm1 = trace.instructions[1], trace.instructions[3]
    assert load1.outputs[0].region.overlaps(mm1.inputs[0].region)  # RAW: the matmul reads the load
    assert not trace.instructions[2].outputs[0].region.overlaps(mm1.inputs[0].region)
