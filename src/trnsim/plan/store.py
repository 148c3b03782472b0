"""The SQLite database a sweep writes each result to as it arrives.

One row per point, keyed by :attr:`SweepPoint.key` (the primary key), written and committed the
moment the result arrives, so a sweep killed at any instant keeps every finished point and a
restart evaluates only the missing ones: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from trnsim.plan.errors import PlanError
from trnsim.plan.sweep import SweepPoint

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    system TEXT NOT NULL,
    chips INTEGER NOT NULL,
    whatif TEXT NOT NULL,
    status TEXT NOT NULL,
    point_json TEXT NOT NULL,
    result_json TEXT NOT NULL,
    finished_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_model_system_chips ON results (model, system, chips);
CREATE TABLE IF NOT EXISTS specs (
    spec_hash TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    points INTEGER NOT NULL,
    recorded_at REAL NOT NULL
);
"""


class PointStatus(StrEnum):
    """How a sweep point ended."""

    OK = "ok"
    INFEASIBLE = "infeasible"
    ERROR = "error"


@dataclass(frozen=True)
class StoredResult:
    """A row of the results table."""

    key: str
    point: dict[str, Any]
    status: PointStatus
    result: dict[str, Any]


class SweepStore:
    """A sweep's results database (a real SQLite file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path)
            self._db.executescript(SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as error:
            raise PlanError(f"cannot open sweep database {path}: {error}") from None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record_spec(self, path: str, spec: dict[str, Any], points: int) -> None:
        """Describe a spec this database ran (once per distinct spec; a rerun adds nothing)."""
        text = json.dumps(spec, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        self._db.execute("INSERT OR IGNORE INTO specs VALUES (?, ?, ?, ?, ?)",
                         (digest, path, text, points, time.time()))
        self._db.commit()

    def specs(self) -> list[dict[str, Any]]:
        """The specs recorded, oldest first: path, spec, point count."""
        rows = self._db.execute("SELECT path, spec_json, points FROM specs ORDER BY recorded_at")
        return [{"path": p, "spec": json.loads(s), "points": n} for p, s, n in rows]

    def done_keys(self) -> set[str]:
        """Keys of every point already recorded."""
        return {row[0] for row in self._db.execute("SELECT key FROM results")}

    def record(self, point: SweepPoint, status: PointStatus, result: dict[str, Any]) -> bool:
        """Write one result and commit; ``False`` when the point was already recorded."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                point.key, point.model, point.system, point.chips, point.whatif.name, status.value,
                json.dumps(point.model_dump(mode="json"), sort_keys=True),
                json.dumps(result, sort_keys=True), time.time(),
            ),
        )
        self._db.commit()
        return cursor.rowcount == 1

    def results(self) -> list[StoredResult]:
        """Every recorded result, in the order they arrived."""
        rows = self._db.execute(
            "SELECT key, point_json, status, result_json FROM results ORDER BY finished_at, key"
        )
        return [StoredResult(k, json.loads(p), PointStatus(s), json.loads(r)) for k, p, s, r in rows]

    def count(self) -> int:
        """Rows in the table."""
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
