"""``neuronxcc.nki.compiler`` (``ncc``): allocation control and compiler directives.

trnsim allocates on its own (capacity is still checked), so direct-allocation requests are
accepted and recorded as the buffer they name; directives are accepted and ignored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from trnsim.nki.runtime import Buffer


@dataclass(frozen=True)
class Allocator:
    """A direct-allocation request (``ncc.sbuf.mod_alloc(...)``); used as ``buffer=``."""

    buffer: Buffer
    kind: str
    args: dict[str, Any] = field(default_factory=dict)


class _Space:
    def __init__(self, buffer: Buffer) -> None:
        self.buffer = buffer

    def alloc(self, func: Callable[..., Any]) -> Allocator:
        """A custom allocation function."""
        return Allocator(self.buffer, "alloc", {"func": func})

    def mod_alloc(self, **kwargs: Any) -> Allocator:
        """Blocks placed modulo a number of tiles."""
        return Allocator(self.buffer, "mod_alloc", kwargs)

    def auto_alloc(self) -> Buffer:
        """Compiler-chosen placement (= ``nl.sbuf`` / ``nl.psum``)."""
        return self.buffer


sbuf = _Space(Buffer.SBUF)
psum = _Space(Buffer.PSUM)


def _passthrough(func: Any = None, **_: Any) -> Any:
    if func is None:
        return lambda f: f
    return func


skip_middle_end_transformations = _passthrough
enable_stack_allocator = _passthrough
force_auto_alloc = _passthrough


@contextlib.contextmanager
def _noop_ctx(*_: Any, **__: Any) -> Iterator[None]:
    yield


multi_buffer = _noop_ctx
no_reorder = _noop_ctx
allocation_scope = _noop_ctx
