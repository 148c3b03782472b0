"""On-disk cache of simulated kernel latencies, keyed by (kernel, shape, dtype, target).

A repeated exact-shape request costs a dictionary lookup instead of an event simulation: the
first lookup of a (target, timing-model version) reads all of that pair's rows in one query (a
search asks for a few hundred shapes, most of them absent from the cache), so a shape another
process stores later is seen by the next process, not by this one. The cache lives in
``$TRNSIM_CACHE_DIR`` (default ``~/.cache/trnsim``); entries carry the version of the timing
model that produced them, so a changed chip model misses.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

__all__ = ["CACHE_ENV", "LatencyCache", "default_cache"]

CACHE_ENV = "TRNSIM_CACHE_DIR"

_SCHEMA = """CREATE TABLE IF NOT EXISTS latency (
    kernel TEXT NOT NULL, shape TEXT NOT NULL, dtype TEXT NOT NULL, target TEXT NOT NULL,
    model_version TEXT NOT NULL, latency_ns REAL NOT NULL,
    PRIMARY KEY (kernel, shape, dtype, target, model_version))"""


def _shape_key(shape: Mapping[str, int]) -> str:
    return json.dumps(dict(sorted(shape.items())), separators=(",", ":"))


class LatencyCache:
    """A small SQLite table of simulated latencies; also memoised in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Hits and misses (None) already looked up; ``put`` replaces a remembered miss.
        self._memory: dict[tuple[str, str, str, str, str], float | None] = {}
        self._fast: dict[tuple[object, ...], float | None] = {}
        #: Incremented by every ``put``: memoised "auto" timings keyed on it stay correct.
        self.generation = 0
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()  # the process that made ``_conn``
        #: (target, version) pairs whose rows are all in ``_memory``.
        self._loaded: set[tuple[str, str]] = set()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid != os.getpid():
            self._conn = None  # made before a fork (trnsim compare's child): SQLite's rule is a fresh one
        if self._conn is None:
            self._pid = os.getpid()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path)
            self._conn.execute(_SCHEMA)
        return self._conn

    def get(self, kernel: str, shape: Mapping[str, int], dtype: str, target: str,
            version: str) -> float | None:
        fast = (kernel, tuple(sorted(shape.items())), dtype, target, version)
        if fast in self._fast:
            return self._fast[fast]
        key = (kernel, _shape_key(shape), dtype, target, version)
        if (target, version) not in self._loaded:
            self._load(target, version)
        found = self._memory.get(key)
        self._fast[fast] = found
        return found

    def _load(self, target: str, version: str) -> None:
        """Read every row of one target and timing-model version into memory (one query; none
        where the cache file does not exist yet: a read creates no file)."""
        self._loaded.add((target, version))
        if self._conn is None and not self.path.exists():
            return
        rows = self._connect().execute(
            "SELECT kernel, shape, dtype, latency_ns FROM latency WHERE target=? AND model_version=?",
            (target, version)).fetchall()
        for kernel, shape, dtype, latency_ns in rows:
            self._memory.setdefault((kernel, shape, dtype, target, version), float(latency_ns))

    def put(self, kernel: str, shape: Mapping[str, int], dtype: str, target: str, version: str,
            latency_ns: float) -> None:
        key = (kernel, _shape_key(shape), dtype, target, version)
        self.generation += 1
        self._memory[key] = latency_ns
        self._fast[(kernel, tuple(sorted(shape.items())), dtype, target, version)] = latency_ns
        conn = self._connect()
        conn.execute("INSERT OR REPLACE INTO latency VALUES (?, ?, ?, ?, ?, ?)", (*key, latency_ns))
        conn.commit()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_DEFAULT: dict[str, LatencyCache] = {}


def default_cache() -> LatencyCache:
    """The cache in ``$TRNSIM_CACHE_DIR`` (or ``~/.cache/trnsim``), one per directory."""
    key = os.environ.get(CACHE_ENV, "")
    if key not in _DEFAULT:
        base = Path(key) if key else Path.home() / ".cache" / "trnsim"
        _DEFAULT[key] = LatencyCache(base / "devicetime.sqlite")
    return _DEFAULT[key]
