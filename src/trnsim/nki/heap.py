"""A launch's memory stays in the process's heap between launches (glibc's malloc).

A value-mode launch allocates its tiles' storage with numpy and frees it when the launch ends: a
one-tile launch about 1 MiB, in arrays of 32-256 KiB. With glibc's default settings arrays from
128 KiB up are mapped afresh each time (``mmap``), and the heap's top, once more than twice that
is free, is given back to the system (trimmed) at the launch's end; the next launch then faults
the same pages in again, each zeroed by the kernel: 224-317 page faults per launch of
``benchmarks/launch_overhead.py``'s value cases, 0.5-0.8 ms of system time in a 4-instruction
launch of 1.5 ms (what looked like the cost of NaN-filling fresh tiles). A timing-only launch of
the benchmark matmul (13,696 instructions: its trace's lists and dicts, the launch's notes for
spill planning) faulted about 450 pages in again per launch the same way (about 1 % of its CPU
time). The first launch (either mode) therefore fixes the two thresholds at glibc's own upper
bound: arrays up to 32 MiB (every on-chip tile) come from the heap, and up to 64 MiB of free heap
top stays mapped (glibc's dynamic rule keeps twice the mmap threshold). Elsewhere (another C
library) nothing changes, nor where the user set either threshold for the process
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES``'
``glibc.malloc.*_threshold``): their choice stands.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_heap", "user_set_thresholds"]

#: glibc's largest dynamic mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX)
MMAP_THRESHOLD = 32 * 1024 * 1024
#: twice the mmap threshold, glibc's own trim threshold for a given mmap threshold
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
#: mallopt's parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: environment variables through which a user sets glibc's thresholds (mallopt(3), tunables(7))
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

#: whether the thresholds were set (or found not settable) in this process
_DONE: list[bool] = []


def user_set_thresholds(environ: Mapping[str, str]) -> bool:
    """True when the process's environment sets glibc's mmap or trim threshold itself."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    return any(name in environ for name in _USER_SETTINGS) or any(
        f"glibc.malloc.{name}_threshold" in tunables for name in ("mmap", "trim"))


def keep_heap() -> None:
    """Set glibc's mmap and trim thresholds once per process (see the module's docstring)."""
    if _DONE:
        return
    _DONE.append(True)
    if user_set_thresholds(os.environ):
        return
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # not a POSIX system, or no such name
        libc = ""
    if not libc.startswith("glibc"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
