"""The cyclic garbage collector after a kernel launch: what the launch left is not rescanned.

A launch keeps the collector off while it traces (the trace holds about five tracked objects per
instruction, which the collector would otherwise rescan again and again). Turned back on, the next
allocation used to collect the young generation, i.e. the whole new trace (65,842 objects for the
13,696-instruction benchmark matmul: 5-37 ms of a 190-250 ms launch), and found nothing there:
a launch makes no reference cycles (``tests/nki/test_collector.py`` checks the library's kernels
and an SPMD launch). So a successful timing-only launch moves what it leaves to the oldest
generation without scanning it: ``gc.freeze()`` then ``gc.unfreeze()``, two list splices.

What stays as it was: value-mode launches (a cycle the kernel's own code makes could hold tile
arrays, which must not wait for a full collection), failed launches (a traceback is a cycle
through the kernel's frames), launches too small to trigger a collection, and any process that
froze objects itself (``unfreeze`` would thaw them too). The objects moved are counted, and after
:data:`FULL_AFTER` of them without a full collection one is run, so cycles a kernel's code makes
in a long series of launches are still freed.
"""

from __future__ import annotations

import gc

__all__ = ["FULL_AFTER", "resume"]

#: objects moved to the oldest generation after which a full collection runs (about 15 launches
#: of the benchmark matmul; CPython runs one once survivors reach a quarter of the oldest generation)
FULL_AFTER = 1_000_000

#: [objects moved since the last full collection, full collections counted then]
_MOVED = [0, 0]


def resume(promote: bool) -> None:
    """Turn the collector back on after a launch that turned it off.

    ``promote``: the launch succeeded in timing-only mode, so the young objects it left may join
    the oldest generation unscanned (see the module's docstring for when they do).
    """
    young = gc.get_count()[0]
    if promote and young > gc.get_threshold()[0] and gc.get_freeze_count() == 0:
        full = gc.get_stats()[2]["collections"]
        if full != _MOVED[1]:  # a full collection ran since: what was moved before it was scanned
            _MOVED[0], _MOVED[1] = 0, full
        gc.freeze()
        gc.unfreeze()
        _MOVED[0] += young
        gc.enable()
        if _MOVED[0] > FULL_AFTER:
            gc.collect()
            _MOVED[0], _MOVED[1] = 0, gc.get_stats()[2]["collections"]
        return
    gc.enable()
