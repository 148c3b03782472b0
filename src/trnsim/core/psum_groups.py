"""PSUM accumulation groups: the zero-fill that opens a group is not an instruction of its own.

In NKI, ``acc = nl.zeros(shape, nl.float32, buffer=nl.psum)`` followed by ``acc += nc_matmul(...)``
forms a matmul accumulation group whose first write overwrites and whose later writes add in
fp32 (nki-api.md §1.7): TensorE starts the group itself, so the hardware runs no memset. The
kernel layer records the zero-fill as a ``memset`` (it must, to compute values); this pre-pass
finds the memsets of PSUM whose next access is a TensorE write, so the scheduler can skip them.
A zero-filled PSUM tile that is read first (a plain accumulator) keeps its memset.
"""

from __future__ import annotations

from trnsim.nki.trace import Engine, KernelTrace, MemorySpace

__all__ = ["folded_psum_zero_fills"]

# Members as module names (an enum class attribute costs ~0.3 us on Python 3.11).
_TENSOR, _PSUM = Engine.TENSOR, MemorySpace.PSUM


def _is_zero_fill(instruction_value: object) -> bool:
    try:
        return float(instruction_value) == 0.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def folded_psum_zero_fills(trace: KernelTrace) -> set[int]:
    """Positions (in ``trace.instructions``) of PSUM zero-fills that open a matmul group."""
    pending: dict[int, int] = {}  # PSUM allocation -> position of its not yet resolved zero-fill
    folded: set[int] = set()
    for position, instruction in enumerate(trace.instructions):
        if pending:
            for operand in instruction.inputs:
                region = operand.region
                if region is not None and region[0] in pending:
                    del pending[region[0]]  # read first: the memset is real
            for operand in instruction.outputs:
                region = operand.region
                if region is None or region[0] not in pending:
                    continue
                opened = pending.pop(region[0])
                if instruction.engine == _TENSOR:
                    folded.add(opened)
        if (instruction.opcode == "memset" and len(instruction.outputs) == 1
                and instruction.outputs[0].space == _PSUM
                and instruction.outputs[0].region is not None
                and _is_zero_fill(instruction.attrs.get("value", 0.0))):
            pending[instruction.outputs[0].region.alloc_id] = position
    return folded
