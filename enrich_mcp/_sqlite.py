"""SQLite plumbing shared by the job ledger and the spend ledger.

One connection per database, used from worker threads under a lock: SQLite in
WAL mode with ``synchronous=FULL`` (a committed job survives a power cut) and
``secure_delete`` (erased rows are overwritten, so ``forget_person`` leaves no
bytes behind).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

T = TypeVar("T")


class Database:
    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        migrate: Callable[[sqlite3.Connection], None] | None = None,
        durable: bool = True,
    ) -> None:
        """``durable=False`` (the shared rate window): commits are not fsynced, for a store whose last
        writes may be lost in a power cut without harm."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        # Several processes share these files: a writer waits for another's transaction (BEGIN IMMEDIATE)
        # instead of failing with "database is locked".
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        pragmas = ("synchronous=FULL", "secure_delete=ON") if durable else ("synchronous=NORMAL",)
        for pragma in ("journal_mode=WAL", *pragmas, "foreign_keys=ON"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.executescript(schema)
        if migrate is not None:
            self.run(migrate)
        path.chmod(0o600)

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one transaction (blocking; call from a worker thread or at start-up)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return result

    async def arun(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(self.run, fn)

    def vacuum(self) -> None:
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
