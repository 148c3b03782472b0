"""Pausing Python's cyclic garbage collector around a planner's work (a module of its own, with no
imports of the planner, so the CLI can pause it from its first line without loading the planner)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused(pause: bool = True) -> Iterator[None]:
    """Pause Python's cyclic garbage collector in the block when ``pause`` (restored after it).

    An evaluation makes no reference cycles (reference counting frees its objects), but it fills
    caches with many long-lived objects, and each full collection walks all of them: measured on
    ``trnsim compare``, about half its time went to collections that found nothing to free.
    """
    enabled = gc.isenabled()
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if pause and enabled:
            gc.enable()
