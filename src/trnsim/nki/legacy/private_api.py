"""``neuronxcc.nki._private.private_api``: the private SDK helpers public kernels call."""

from __future__ import annotations

from typing import Any

from trnsim.nki import isa_extra, runtime


def core_barrier(data: Any, cores: Any = (0, 1), **_: Any) -> None:
    """A cross-core barrier (recorded; SPMD instances run one after another in trnsim)."""
    isa_extra.core_barrier(runtime.current("core_barrier"), data, cores, instr="private_api.core_barrier")
