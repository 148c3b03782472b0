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
:data:`FULL_AFTER` of them without a full collection one is considered, so cycles a kernel's code
makes in a long series of launches are still freed.

A full collection rescans everything alive, the latest traces too: 66-123 ms in a process launching
the benchmark matmul (13,696 instructions) over and over, one every 15 launches (about 5 % of each
launch), and it found nothing, the traces being freed by reference counting when their caller drops
them. So a considered collection runs only where the process grew since the last one: where
pymalloc's allocated blocks (``sys.getallocatedblocks``, a counter) grew by more than
:data:`GROWTH` of what they were then, CPython's own rule for its oldest generation (a full
collection once the objects that survived into it since the last one reach a quarter of it): what
garbage cycles a kernel's code made hold is such blocks. Memory outside pymalloc (a large list's or
dict's table, or every object where ``PYTHONMALLOC=malloc``) is not counted, so every
:data:`ALWAYS_AFTER`-th considered collection runs whatever the growth; so does the first, and the
first after a full collection the process ran itself. (Launching the benchmark matmul 30 times:
one full collection instead of two, 126 against 232 ms.)
"""

from __future__ import annotations

import gc
import sys

__all__ = ["ALWAYS_AFTER", "FULL_AFTER", "GROWTH", "resume"]

#: objects moved to the oldest generation after which a full collection is considered (about 15
#: launches of the benchmark matmul)
FULL_AFTER = 1_000_000
#: growth of pymalloc's allocated blocks since the last full collection, as a share of them then,
#: above which a considered full collection runs (CPython's share for its oldest generation)
GROWTH = 0.25
#: every this many-th considered full collection runs whatever the growth
ALWAYS_AFTER = 4


class _Moved:
    """What :func:`resume` counts between full collections."""

    #: objects moved since the last considered full collection
    objects = 0
    #: full collections the process had run then (one run elsewhere since: start again)
    full = 0
    #: allocated blocks after the last full collection run here (None: none since the process's own)
    blocks: int | None = None
    #: considered full collections skipped since
    skipped = 0


def resume(promote: bool) -> None:
    """Turn the collector back on after a launch that turned it off.

    ``promote``: the launch succeeded in timing-only mode, so the young objects it left may join
    the oldest generation unscanned (see the module's docstring for when they do).
    """
    young = gc.get_count()[0]
    if promote and young > gc.get_threshold()[0] and gc.get_freeze_count() == 0:
        full = gc.get_stats()[2]["collections"]
        if full != _Moved.full:  # a full collection ran since: what was moved before it was scanned
            _Moved.objects, _Moved.full, _Moved.blocks, _Moved.skipped = 0, full, None, 0
        gc.freeze()
        gc.unfreeze()
        _Moved.objects += young
        gc.enable()
        if _Moved.objects > FULL_AFTER:
            _Moved.objects = 0
            before = _Moved.blocks
            if (before is None or sys.getallocatedblocks() - before > GROWTH * before
                    or _Moved.skipped + 1 >= ALWAYS_AFTER):
                gc.collect()
                _Moved.full, _Moved.blocks, _Moved.skipped = (
                    gc.get_stats()[2]["collections"], sys.getallocatedblocks(), 0)
            else:  # (the process did not grow: no cycle kept much; see the module's docstring)
                _Moved.skipped += 1
        return
    gc.enable()
