"""SQLite plumbing shared by the job ledger and the spend ledger.

One connection per database, used from worker threads under a lock: SQLite in
WAL mode with ``synchronous=FULL`` (a committed job survives a power cut) and
``secure_delete`` (erased rows are overwritten, so ``forget_person`` leaves no
bytes behind).

Opening checks the file (``PRAGMA quick_check``, up to 1 GB): a damaged
ledger stops the server at once with one paragraph naming the file and the fix
(:class:`~enrich_mcp.errors.DataDirectoryError`), instead of failing later on
the first query — inside ``initialize``, where the client then waits forever.
A ledger is never moved aside on its own: it holds money and unfinished jobs.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from enrich_mcp.datadir import private_dir, private_file
from enrich_mcp.errors import DataDirectoryError

T = TypeVar("T")
logger = logging.getLogger(__name__)

CHECK_MAX_BYTES = 1 << 30
"""Largest file checked at open. ``quick_check`` reads every page: ~0.2 s for 300 MB (measured, warm cache). It
runs inside one VM step, so a progress handler cannot cut it short; the bound is the file size instead."""


def lenient_text(raw: bytes) -> str:
    # A byte the disk flipped must cost one row (reported as damaged), not every query that reads it.
    return raw.decode("utf-8", "replace")


def integrity_problem(conn: sqlite3.Connection, path: Path) -> str | None:
    """What ``PRAGMA quick_check`` found wrong, or None (also for a file too large to check at open)."""
    size = path.stat().st_size if path.exists() else 0
    if size > CHECK_MAX_BYTES:
        logger.info("integrity check of %s skipped at open: %.1f GB", path, size / 1e9)
        return None
    rows = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
    if rows == ["ok"]:
        return None
    found = " ".join(str(r) for r in rows).replace("*** in database main ***", "").split()
    return "integrity check: " + " ".join(found)[:240]


def damaged(path: Path, what: str, reason: str, consequence: str) -> DataDirectoryError:
    """The one paragraph for a damaged database: the file, the problem, and how to recover."""
    return DataDirectoryError(
        f"enrich-mcp cannot use its {what} {path}: the file is damaged ({reason}). It was left untouched. "
        f"To salvage what can be read: sqlite3 {path} .recover | sqlite3 {path}.recovered, then move the "
        f"damaged file aside (mv {path} {path}.corrupt) and the recovered one into its place. To start afresh, "
        f"only move the damaged file aside; {consequence}"
    )


class Database:
    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        migrate: Callable[[sqlite3.Connection], None] | None = None,
        what: str = "database",
        consequence: str = "what it recorded is then no longer used.",
    ) -> None:
        private_dir(path.parent, inside=False)
        private_file(path, what=what)
        self.path = path
        self.what = what
        self.consequence = consequence
        self._lock = threading.Lock()
        # Several processes share these files: a writer waits for another's transaction (BEGIN IMMEDIATE)
        # instead of failing with "database is locked".
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
        try:
            self._open(schema, migrate)
        except BaseException:
            self._conn.close()
            raise
        private_file(path, what=what)  # the -wal and -shm files SQLite just made

    def _open(self, schema: str, migrate: Callable[[sqlite3.Connection], None] | None) -> None:
        try:
            self._conn.text_factory = lenient_text
            self._conn.row_factory = sqlite3.Row
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "foreign_keys=ON"):
                self._conn.execute(f"PRAGMA {pragma}")
            if (problem := integrity_problem(self._conn, self.path)) is not None:
                raise sqlite3.DatabaseError(problem)
            self._conn.executescript(schema)
            if migrate is not None:
                self.run(migrate)
        except DataDirectoryError:
            raise
        except sqlite3.OperationalError as exc:
            raise DataDirectoryError(
                f"enrich-mcp cannot open its {self.what} {self.path} ({exc}). Check that the file and its folder "
                f"are writable by this user and that no other program holds it locked, or set ENRICH_MCP_HOME "
                f"to another folder."
            ) from None
        except sqlite3.DatabaseError as exc:
            raise damaged(self.path, self.what, str(exc), self.consequence) from None

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one transaction (blocking; call from a worker thread or at start-up)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._conn)
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):  # a damaged file may refuse the rollback too
                    self._conn.execute("ROLLBACK")
                if type(exc) is sqlite3.DatabaseError:  # "malformed", "not a database"; not a lock or a bug
                    raise damaged(self.path, self.what, str(exc), self.consequence) from None
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
