"""A sandbox's state: JSON records by kind and id, plus small settings and counters, per vendor.

:class:`SandboxStore` is what the fake vendors use; there are two implementations, chosen in one
place (:meth:`enrich_mcp.stores.Stores.sandbox`):

* :class:`SqliteSandboxStore` (the default): one small SQLite file per vendor under the data
  directory (``<home>/sandbox/<vendor>.sqlite3``, mode 0600), so a job started by one enrich-mcp
  process can be read by the next (the MCP Inspector CLI starts a process per call; the demo and
  Claude Desktop are different processes). Every request runs in one ``BEGIN IMMEDIATE``
  transaction, so SQLite serialises the processes. Without a home the state lives in memory (unit
  tests that build a sandbox by hand).
* :class:`~enrich_mcp.stores.postgres.sandbox.PgSandboxStore` (``ENRICH_MCP_DATABASE_URL``): the
  same records in PostgreSQL, keyed by vendor, so every replica of a team serves one sandbox; a
  transaction takes a per-vendor advisory lock, the same serialisation.

Records keep their insertion order (a replaced record keeps its place), and an optional ``parent``
groups them (a pipeline's leads) so a listing reads only its group. Values are JSON objects; the
handlers are synchronous (``httpx.MockTransport``), so the store is too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from enrich_mcp.datadir import private_dir, private_file


class SandboxStore(Protocol):
    """One vendor's sandbox state. Every method may run inside or outside :meth:`transaction`."""

    def transaction(self) -> AbstractContextManager[Any]:
        """One atomic step across processes (one sandbox request); nested calls join the outer one."""
        ...

    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...

    def put(self, kind: str, key: str, value: dict[str, Any], *, parent: str | None = None) -> None:
        """Insert or replace; a replaced record keeps its place in the order (and its parent unless given)."""
        ...

    def put_many(self, kind: str, items: list[tuple[str, dict[str, Any]]], *, parent: str | None = None) -> None: ...

    def delete(self, kind: str, key: str) -> bool:
        """Whether there was such a record."""
        ...

    def list(
        self,
        kind: str,
        *,
        parent: str | None = None,
        newest_first: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Records of ``kind`` (of ``parent``'s group when given) in insertion order."""
        ...

    def count(self, kind: str, *, parent: str | None = None) -> int: ...

    def has(self, kind: str, key: str) -> bool: ...

    def meta(self, key: str, default: Any = None) -> Any:
        """A stored JSON setting (variants, rate windows, flags), or ``default``."""
        ...

    def set_meta(self, key: str, value: Any) -> None: ...

    def counter(self, name: str) -> int:
        """The next value of a named counter (1, 2, ...): ids stay unique across processes and restarts."""
        ...

    def close(self) -> None:
        """Let go of the connection; a later use opens another (the fake vendor outlives a server)."""
        ...


def dump(value: Any) -> str:
    """The stored JSON text; both backends store the same text."""
    return json.dumps(value, separators=(",", ":"))


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


def close_all(connections: list[Any]) -> None:
    """Close a store's connection (kept in a list, so a ``weakref.finalize`` can close it too)."""
    for conn in connections:
        conn.close()
    connections.clear()


class StoreConnection:
    """What both stores share: one connection, used by one thread at a time, closed on :meth:`close`
    (a later use opens another) or when the store is collected, and :meth:`transaction`, whose nested
    calls join the outer one. A store provides :meth:`_outermost` (begin, yield, commit or roll back).
    """

    def __init__(self) -> None:
        self._open: list[Any] = []  # at most one; a list so the finalizer can close it
        self._lock = threading.RLock()
        self._depth = 0
        weakref.finalize(self, close_all, self._open)

    def close(self) -> None:
        with self._lock:
            close_all(self._open)

    def _outermost(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One atomic step across processes; nested calls join the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            with self._outermost():  # _depth is back at 0 before it ends, so its error handling sees that
                self._depth = 1
                try:
                    yield self
                finally:
                    self._depth = 0


class SqliteSandboxStore(StoreConnection):
    """The embedded :class:`SandboxStore`: one SQLite file per vendor (or memory without a home)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:  # 0700 folder, 0600 file (and -wal/-shm), no link followed
            private_file(private_dir(path.parent, what="sandbox folder") / path.name, what="sandbox state file")
        super().__init__()
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        conn = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        if path is not None:
            conn.execute("PRAGMA journal_mode=WAL")
            # Synthetic data: losing the last write in a power cut is fine; an fsync per request is not.
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        if path is not None:
            private_file(path, what="sandbox state file")  # the -wal and -shm files SQLite just made
        self._open.append(conn)
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._open:
            return self._open[0]
        if self.path is None:
            raise sqlite3.ProgrammingError("the in-memory sandbox state was closed")
        with self._lock:
            return self._open[0] if self._open else self._connect()

    @contextmanager
    def _outermost(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- records ---------------------------------------------------------------------------------

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT data FROM records WHERE kind=? AND id=?", (kind, key)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, kind: str, key: str, value: dict[str, Any], *, parent: str | None = None) -> None:
        data = dump(value)
        self._conn.execute(
            "INSERT INTO records (kind, id, parent, data) VALUES (?,?,?,?) "
            "ON CONFLICT(kind, id) DO UPDATE SET data=excluded.data, parent=COALESCE(excluded.parent, parent)",
            (kind, key, parent, data),
        )

    def put_many(self, kind: str, items: list[tuple[str, dict[str, Any]]], *, parent: str | None = None) -> None:
        self._conn.executemany(
            "INSERT INTO records (kind, id, parent, data) VALUES (?,?,?,?) "
            "ON CONFLICT(kind, id) DO UPDATE SET data=excluded.data, parent=COALESCE(excluded.parent, parent)",
            [(kind, key, parent, dump(value)) for key, value in items],
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
            (key, dump(value)),
        )

    def counter(self, name: str) -> int:
        value = int(self.meta(f"counter:{name}", 0)) + 1
        self.set_meta(f"counter:{name}", value)
        return value
