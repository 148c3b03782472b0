"""PSUM accumulation groups: the zero-fill that opens a group is not an instruction of its own.

In NKI, ``acc = nl.zeros(shape, nl.float32, buffer=nl.psum)`` followed by ``acc += nc_matmul(...)``
forms a matmul accumulation group whose first write overwrites and whose later writes add in
fp32 (nki-api.md §1.7): TensorE starts the group itself, so the hardware runs no memset. The
kernel layer records the zero-fill as a ``memset`` (it must, to compute values); this module
finds the memsets of PSUM whose next access is a TensorE write, so the scheduler can skip them:
:class:`ZeroFills` answers memset by memset (as a one-core launch's scheduler meets them),
:func:`folded_psum_zero_fills` lists them all before a multi-core launch is split by core.
A zero-filled PSUM tile that is read first (a plain accumulator) keeps its memset.
"""

from __future__ import annotations

from trnsim.nki.trace import Engine, Instruction, KernelTrace, MemorySpace

__all__ = ["ZeroFills", "folded_psum_zero_fills"]

# Members as module names (an enum class attribute costs ~0.3 us on Python 3.11).
_TENSOR, _PSUM = Engine.TENSOR, MemorySpace.PSUM


def _is_zero_fill(instruction_value: object) -> bool:
    try:
        return float(instruction_value) == 0.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def folded_psum_zero_fills(trace: KernelTrace) -> set[int]:
    """Positions (in ``trace.instructions``) of PSUM zero-fills that open a matmul group.

    The memsets are found by a C-level search of the opcodes, each answered by
    :meth:`ZeroFills.folds`.
    """
    instructions = trace.instructions
    opcodes = [i.opcode for i in instructions]  # (a slot read per item: cheaper than attrgetter)
    index = opcodes.index
    folds = ZeroFills(trace).folds
    folded: set[int] = set()
    position = -1
    while True:
        try:
            position = index("memset", position + 1)
        except ValueError:
            return folded
        if folds(instructions[position], position):
            folded.add(position)


class ZeroFills:
    """Whether each memset of a trace is a PSUM zero-fill that opens a matmul group, asked memset by
    memset (the scheduler asks as it meets them: no pass over the trace before it).

    From a PSUM zero-fill the trace is scanned forward to the next access of its allocation (a
    matmul group's first write follows its zero-fill closely). Scans that together pass the
    trace's length switch to one pass over the whole trace (:func:`_folded_in_one_pass`, the same
    answers), so the cost stays linear.
    """

    __slots__ = ("_budget", "_count", "_folded", "_instructions", "_trace")

    def __init__(self, trace: KernelTrace) -> None:
        self._trace = trace
        #: The trace's instructions and their number, read at each memset.
        self._instructions = trace.instructions
        self._count = self._budget = len(trace.instructions)
        #: The one pass's answer, once the budget has run out.
        self._folded: set[int] | None = None

    def folds(self, memset: Instruction, position: int) -> bool:
        """True when ``memset``, at ``position`` in the trace, is a folded PSUM zero-fill."""
        try:
            (output,) = memset.outputs  # (one output; a tuple unpacks without a len() call)
        except ValueError:
            return False
        region = output[5]
        if region is None or output[1] != _PSUM:
            return False
        value = memset.attrs.get("value", 0.0)
        if value.__class__ is float:  # _is_zero_fill, inline for a float
            if value != 0.0:
                return False
        elif not _is_zero_fill(value):
            return False
        if self._folded is not None:
            return position in self._folded
        alloc = region[0]
        instructions = self._instructions
        count = self._count
        later = position + 1
        # the budget as a local, stored back at each return (the one pass reads none of it)
        budget = self._budget
        while later < count:
            budget -= 1
            if budget < 0:
                self._budget = budget
                self._folded = _folded_in_one_pass(self._trace)
                return position in self._folded
            instruction = instructions[later]
            for operand in instruction.inputs:
                region = operand[5]
                if region is not None and region[0] == alloc:
                    self._budget = budget
                    return False  # read first: the memset is real
            for operand in instruction.outputs:
                region = operand[5]
                if region is not None and region[0] == alloc:
                    self._budget = budget
                    return instruction.engine == _TENSOR
            later += 1  # the allocation is not accessed: look further
        self._budget = budget
        return False


def _zero_fill_alloc(instruction: Instruction) -> int | None:
    """The PSUM allocation a zero-filling memset writes (None for any other instruction; the scan
    of :func:`folded_psum_zero_fills` checks the same inline)."""
    if (instruction.opcode == "memset" and len(instruction.outputs) == 1
            and instruction.outputs[0].space == _PSUM
            and instruction.outputs[0].region is not None
            and _is_zero_fill(instruction.attrs.get("value", 0.0))):
        return instruction.outputs[0].region.alloc_id
    return None


def _folded_in_one_pass(trace: KernelTrace) -> set[int]:
    """:func:`folded_psum_zero_fills` in one pass over the trace, with the zero-fills pending."""
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
        if instruction.opcode == "memset":
            alloc = _zero_fill_alloc(instruction)
            if alloc is not None:
                pending[alloc] = position
    return folded
