"""``neuronxcc.nki.language.iterators`` (undocumented; nki-semantics §7 and §11).

Public kernels use ``sync_program`` as a context manager around code synchronised across SPMD
programs. trnsim runs SPMD instances one after another, so the block simply runs (a best-effort
shim, as the spec recommends).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def sync_program(*_: Any, **__: Any) -> Iterator[None]:
    """Run the block (SPMD instances are already sequential in trnsim)."""
    yield


__all__ = ["sync_program"]
