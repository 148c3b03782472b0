"""The one error a kernel's mistake produces: :class:`KernelError`, a single complete line.

Format: ``kernel 'NAME', nisa.nc_matmul at file.py:42: <rule> (<given>; <valid>) [err_id]``.
The ``err_id`` is the Neuron compiler's error name (``num_partition_exceed_arch_limit``...), so a
developer can look it up in the SDK's error reference.
"""

from __future__ import annotations

from trnsim.errors import TrnsimError


class KernelError(TrnsimError):
    """A kernel broke a rule the real toolchain enforces (or a simulated runtime check failed)."""

    def __init__(
        self,
        rule: str,
        *,
        kernel: str = "?",
        instruction: str = "",
        location: str = "",
        err_id: str = "",
    ) -> None:
        where = f"kernel '{kernel}'"
        if instruction:
            where += f", {instruction}"
        if location:
            where += f" at {location}"
        message = f"{where}: {rule}"
        if err_id:
            message += f" [{err_id}]"
        super().__init__(message.replace("\n", " "))
        self.rule = rule
        self.kernel = kernel
        self.instruction = instruction
        self.location = location
        self.err_id = err_id
