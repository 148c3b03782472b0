"""The on-disk latency cache: one query per (target, timing-model version), the same answers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from trnsim.devicetime.cache import LatencyCache


def _count_queries(cache: LatencyCache, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the SQL statements the cache runs from now on."""
    statements: list[str] = []
    real = cache._connect

    def connect() -> sqlite3.Connection:
        conn = real()
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(cache, "_connect", connect)
    return statements


def test_rows_of_a_target_are_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.sqlite"
    writer = LatencyCache(path)
    writer.put("matmul", {"m": 128, "k": 256}, "bfloat16", "trn2", "v1", 5000.0)
    writer.put("matmul", {"m": 256, "k": 256}, "bfloat16", "trn2", "v1", 9000.0)
    writer.put("matmul", {"m": 128, "k": 256}, "bfloat16", "trn2", "v2", 7000.0)  # another model version
    writer.put("matmul", {"m": 128, "k": 256}, "bfloat16", "trn1", "v1", 8000.0)  # another target
    writer.close()

    reader = LatencyCache(path)
    queries = _count_queries(reader, monkeypatch)
    # shape keys in any order name the same entry
    assert reader.get("matmul", {"k": 256, "m": 128}, "bfloat16", "trn2", "v1") == 5000.0
    assert reader.get("matmul", {"m": 256, "k": 256}, "bfloat16", "trn2", "v1") == 9000.0
    assert reader.get("matmul", {"m": 512, "k": 256}, "bfloat16", "trn2", "v1") is None  # a miss
    assert reader.get("softmax", {"m": 128, "k": 256}, "bfloat16", "trn2", "v1") is None
    assert reader.get("matmul", {"m": 128, "k": 256}, "float32", "trn2", "v1") is None
    selects = [q for q in queries if q.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1  # the whole (trn2, v1) pair in one query, misses included
    assert reader.get("matmul", {"m": 128, "k": 256}, "bfloat16", "trn2", "v2") == 7000.0
    assert reader.get("matmul", {"m": 128, "k": 256}, "bfloat16", "trn1", "v1") == 8000.0
    assert len([q for q in queries if q.lstrip().upper().startswith("SELECT")]) == 3


def test_put_replaces_a_remembered_miss(tmp_path: Path) -> None:
    cache = LatencyCache(tmp_path / "c.sqlite")
    assert cache.get("matmul", {"m": 128}, "bfloat16", "trn2", "v1") is None
    cache.put("matmul", {"m": 128}, "bfloat16", "trn2", "v1", 4000.0)
    assert cache.get("matmul", {"m": 128}, "bfloat16", "trn2", "v1") == 4000.0
    cache.close()
    assert LatencyCache(tmp_path / "c.sqlite").get("matmul", {"m": 128}, "bfloat16", "trn2", "v1") == 4000.0


def test_a_lookup_creates_no_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.sqlite"
    assert LatencyCache(path).get("matmul", {"m": 128}, "bfloat16", "trn2", "v1") is None
    assert not path.exists()
