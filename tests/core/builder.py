"""Hand-built traces for the mechanism tests: each test states its instructions explicitly."""

from __future__ import annotations

import math
from typing import Any

from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace, Operand, Region

ITEMSIZE = {"float32": 4, "bfloat16": 2, "float16": 2, "float8_e4m3": 1, "int32": 4, "uint8": 1,
            "float8_e4m3fn_x4": 4, "float4_e2m1fn_x4": 2}


class TraceBuilder:
    """Appends instructions with operands described by shape, dtype and allocation."""

    def __init__(self, target: str = "trn1", kernel: str = "hand_built") -> None:
        self.trace = KernelTrace(kernel=kernel, target=target)
        self._next_alloc = 0

    def alloc(self) -> int:
        self._next_alloc += 1
        return self._next_alloc

    def onchip(self, space: MemorySpace, shape: tuple[int, ...], dtype: str = "float32",
               alloc: int | None = None, partition_start: int = 0, byte_start: int = 0,
               stride_bytes: int | None = None, name: str = "t") -> Operand:
        size = ITEMSIZE[dtype]
        per_partition = math.prod(shape[1:]) * size
        stride = size if stride_bytes is None else stride_bytes
        region = Region(alloc if alloc is not None else self.alloc(), partition_start,
                        partition_start + shape[0], byte_start, byte_start + per_partition)
        return Operand(name, space, shape, dtype, per_partition * shape[0], region,
                       per_partition if stride == size else size, stride)

    def sbuf(self, shape: tuple[int, ...], dtype: str = "float32", **kw: Any) -> Operand:
        return self.onchip(MemorySpace.SBUF, shape, dtype, **kw)

    def psum(self, shape: tuple[int, ...], dtype: str = "float32", **kw: Any) -> Operand:
        return self.onchip(MemorySpace.PSUM, shape, dtype, **kw)

    def hbm(self, shape: tuple[int, ...], dtype: str = "bfloat16", alloc: int | None = None,
            byte_start: int = 0, contiguous_bytes: int | None = None, name: str = "h") -> Operand:
        nbytes = math.prod(shape) * ITEMSIZE[dtype]
        contiguous = shape[-1] * ITEMSIZE[dtype] if contiguous_bytes is None else contiguous_bytes
        region = Region(alloc if alloc is not None else self.alloc(), 0, 1, byte_start, byte_start + nbytes)
        return Operand(name, MemorySpace.HBM, shape, dtype, nbytes, region, contiguous, ITEMSIZE[dtype])

    def add(self, engine: Engine, opcode: str, inputs: tuple[Operand, ...], outputs: tuple[Operand, ...],
            core: int = 0, line: int = 0, **attrs: Any) -> Instruction:
        instruction = Instruction(
            seq=len(self.trace.instructions), engine=engine, opcode=opcode, inputs=inputs,
            outputs=outputs, kernel=self.trace.kernel, source_file="hand_built.py",
            source_line=line or len(self.trace.instructions) + 1, core=core, attrs=dict(attrs))
        self.trace.append(instruction)
        self.trace.num_cores = max(self.trace.num_cores, core + 1)
        return instruction
