"""``neuronxcc.nki._private.private_api``: the private SDK helpers public kernels call.

Undocumented (observed only, nki-api.md §7): ``core_barrier`` keeps taking other keywords, there
being no documented signature to refuse them against.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from trnsim.nki import isa_extra, runtime
from trnsim.nki.guard import guard_module as _guard_module
from trnsim.nki.tensor import Tensor


def core_barrier(data: Any, cores: Any = (0, 1), **_: Any) -> None:
    """A cross-core barrier (recorded; SPMD instances run one after another in trnsim)."""
    isa_extra.core_barrier(runtime.current("core_barrier"), data, cores, instr="private_api.core_barrier")


@contextlib.contextmanager
def do_while(cond: Any) -> Iterator[None]:
    """``with do_while(cond): body`` — run the body, repeat while ``cond`` (a (1,1) tensor) != 0.

    Undocumented (nki-semantics §7, best-effort shim): a Python ``with`` block runs once, so the
    body runs once; if ``cond`` is still non-zero afterwards (value mode), the loop would repeat,
    which trnsim cannot replay: one KernelError line says so.
    """
    sim = runtime.current("do_while")
    yield
    if sim.values and isinstance(cond, Tensor) and bool((cond.read() != 0).any()):
        sim.fail(
            "private_api.do_while",
            "not simulated: do_while with more than one iteration (cond is non-zero after the body)",
            "not_simulated",
        )


_guard_module(globals(), "private_api")
