"""A sandbox's state: JSON records by kind and id, in one small SQLite file per vendor.

The file lives under the data directory (``<home>/sandbox/<vendor>.sqlite3``,
mode 0600), so a job started by one enrich-mcp process can be read by the next
(the MCP Inspector CLI starts a process per call; the demo and Claude Desktop
are different processes). Several processes may share it: every request runs
in one ``BEGIN IMMEDIATE`` transaction, so SQLite serialises them. Without a
home the state lives in memory (unit tests that build a sandbox by hand).

Records keep their insertion order (SQLite's rowid), and an optional
``parent`` groups them (a pipeline's leads) so a listing reads only its group.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from enrich_mcp.datadir import private_dir, private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS records_parent ON records(kind, parent);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SandboxStore:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:  # 0700 folder, 0600 file (and -wal/-shm), no link followed
            private_file(private_dir(path.parent, what="sandbox folder") / path.name, what="sandbox state file")
        self._conn = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        if path is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # Synthetic data: losing the last write in a power cut is fine; an fsync per request is not.
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        if path is not None:
            private_file(path, what="sandbox state file")  # the -wal and -shm files SQLite just made
        self._lock = threading.RLock()
        self._depth = 0
        weakref.finalize(self, self._conn.close)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[SandboxStore]:
        """One atomic step across processes; nested calls join the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    # -- records ---------------------------------------------------------------------------------

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT data FROM records WHERE kind=? AND id=?", (kind, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, kind: str, key: str, value: dict[str, Any], *, parent: str | None = None) -> None:
        """Insert or replace; a replaced record keeps its place in the order (and its parent unless given)."""
        data = json.dumps(value, separators=(",", ":"))
        self._conn.execute(
            "INSERT INTO records (kind, id, parent, data) VALUES (?,?,?,?) "
            "ON CONFLICT(kind, id) DO UPDATE SET data=excluded.data, parent=COALESCE(excluded.parent, parent)",
            (kind, key, parent, data),
        )

    def put_many(self, kind: str, items: list[tuple[str, dict[str, Any]]], *, parent: str | None = None) -> None:
        self._conn.executemany(
            "INSERT INTO records (kind, id, parent, data) VALUES (?,?,?,?) "
            "ON CONFLICT(kind, id) DO UPDATE SET data=excluded.data, parent=COALESCE(excluded.parent, parent)",
            [(kind, key, parent, json.dumps(value, separators=(",", ":"))) for key, value in items],
        )

    def delete(self, kind: str, key: str) -> bool:
        return self._conn.execute("DELETE FROM records WHERE kind=? AND id=?", (kind, key)).rowcount > 0

    def list(
        self,
        kind: str,
        *,
        parent: str | None = None,
        newest_first: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        sql, args = "SELECT data FROM records WHERE kind=?", [kind]
        if parent is not None:
            sql, args = sql + " AND parent=?", [*args, parent]
        sql += f" ORDER BY rowid {'DESC' if newest_first else 'ASC'} LIMIT ? OFFSET ?"
        args += [-1 if limit is None else limit, offset]
        return [json.loads(r[0]) for r in self._conn.execute(sql, args)]

    def count(self, kind: str, *, parent: str | None = None) -> int:
        if parent is None:
            return self._conn.execute("SELECT COUNT(*) FROM records WHERE kind=?", (kind,)).fetchone()[0]
        return self._conn.execute("SELECT COUNT(*) FROM records WHERE kind=? AND parent=?", (kind, parent)).fetchone()[
            0
        ]

    def has(self, kind: str, key: str) -> bool:
        return self._conn.execute("SELECT 1 FROM records WHERE kind=? AND id=?", (kind, key)).fetchone() is not None

    # -- settings and counters -------------------------------------------------------------------

    def meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, json.dumps(value)),
        )

    def counter(self, name: str) -> int:
        """The next value of a named counter (1, 2, ...): ids stay unique across processes and restarts."""
        value = int(self.meta(f"counter:{name}", 0)) + 1
        self.set_meta(f"counter:{name}", value)
        return value
