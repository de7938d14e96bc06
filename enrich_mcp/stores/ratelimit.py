"""One vendor rate for every process on a ledger: a shared sliding window per vendor account.

A vendor counts requests per account, not per process. Several enrich-mcp processes share an
account whenever they share a data directory (each MCP client starts its own server) or a
PostgreSQL database (replicas of a team deployment), so each vendor account has one window in
the shared store, and every request start is recorded there:

* :class:`SharedRateLimiter` is the :class:`~enrich_mcp.http.Limiter` that :class:`VendorHTTP`
  uses; it asks its :class:`RateWindowStore` for a slot and sleeps for as long as the store says.
* :class:`SqliteRateWindow` keeps the window in ``ratelimit.sqlite3`` under the data directory
  (the default); the PostgreSQL one is :class:`enrich_mcp.stores.postgres.PgRateWindow`.

A slot is taken in one transaction (drop the starts older than the window, count, record),
serialised across processes (SQLite's ``BEGIN IMMEDIATE``; an advisory lock in PostgreSQL), so
no interleaving lets two processes take the last slot. Times are the store's clock (the
database server's for PostgreSQL), so replicas with skewed clocks still agree on the window.

``block_for`` (the vendor said ``X-RateLimit-Remaining: 0``) is shared too: it is written with
the next slot request and holds every process until the vendor's reset.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Protocol

import anyio

from enrich_mcp._sqlite import Database
from enrich_mcp.http import Rate, Sleep

EDGE_MARGIN = 0.05
EDGE_MARGIN_MAX_SECONDS = 1.0
"""The window is held 5 % (at most 1 s) longer than the vendor's. Between taking a slot and reaching
the vendor a request spends a varying few to tens of milliseconds: without a margin, one admitted
right as a slot frees can land inside the vendor's previous window while an earlier one was slower
(measured with three replicas at 50/6 s: 9 of 159 requests answered 429, all with the margin: 0)."""
MAX_SLEEP_SECONDS = 5.0
"""Re-ask the store at least this often while waiting: a block lifted, or a bigger limit elsewhere."""


class RateWindowStore(Protocol):
    async def take(self, key: str, rate: Rate | None, block_for: float = 0.0) -> float:
        """Record one request start for ``key`` if ``rate`` allows it now and no block holds.

        Returns 0 when the slot was taken, else the seconds to wait before asking again (nothing
        recorded). ``block_for`` > 0 first holds ``key`` for that long (shared with every process).
        """
        ...

    def close(self) -> None: ...


class SharedRateLimiter:
    """The :class:`~enrich_mcp.http.Limiter` for one vendor account over a shared window store."""

    def __init__(self, store: RateWindowStore, key: str, rate: Rate | None, *, sleep: Sleep = anyio.sleep) -> None:
        self.store = store
        self.key = key
        self.rate = rate
        margin = min(EDGE_MARGIN * rate.per_seconds, EDGE_MARGIN_MAX_SECONDS) if rate else 0.0
        self._window = Rate(rate.requests, rate.per_seconds + margin) if rate else None
        self._sleep = sleep
        self._block = 0.0
        self._local_block_until = 0.0
        # One caller of this process asks the store at a time (the others queue here, in order), so a
        # full window is not asked about by every waiting request at once.
        self._lock = anyio.Lock()

    def block_for(self, seconds: float) -> None:
        self._block = max(self._block, seconds)
        self._local_block_until = max(self._local_block_until, time.monotonic() + seconds)

    async def acquire(self) -> None:
        if self.rate is None and not self._block and time.monotonic() >= self._local_block_until:
            return  # no documented rate and no block: nothing to count
        async with self._lock:
            while True:
                block, self._block = self._block, 0.0
                wait = await self.store.take(self.key, self._window, block)
                if wait <= 0:
                    return
                await self._sleep(min(wait, MAX_SLEEP_SECONDS))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_events (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rate_events_key ON rate_events(key, at);
CREATE TABLE IF NOT EXISTS rate_blocks (key TEXT PRIMARY KEY, until REAL NOT NULL);
"""
SCHEMA_VERSION = 1


def _migrate(c: sqlite3.Connection) -> None:
    if c.execute("PRAGMA user_version").fetchone()[0] < 1:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def take_slot(c: sqlite3.Connection, key: str, rate: Rate | None, block_for: float, now: float) -> float:
    """The slot rule on one SQLite transaction (see :meth:`RateWindowStore.take`)."""
    if block_for > 0:
        c.execute(
            "INSERT INTO rate_blocks VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET until=MAX(until, excluded.until)",
            (key, now + block_for),
        )
    row = c.execute("SELECT until FROM rate_blocks WHERE key=?", (key,)).fetchone()
    if row is not None and row[0] > now:
        return float(row[0]) - now
    if rate is None:
        return 0.0
    c.execute("DELETE FROM rate_events WHERE key=? AND at <= ?", (key, now - rate.per_seconds))
    used = c.execute("SELECT COUNT(*) FROM rate_events WHERE key=?", (key,)).fetchone()[0]
    if used >= rate.requests:
        # The start that must leave the window before one more fits (another process may count a
        # bigger limit, so not simply the oldest).
        oldest = c.execute(
            "SELECT at FROM rate_events WHERE key=? ORDER BY at LIMIT 1 OFFSET ?", (key, used - rate.requests)
        ).fetchone()[0]
        return max(float(oldest) + rate.per_seconds - now, 1e-3)
    c.execute("INSERT INTO rate_events VALUES (?, ?)", (key, now))
    return 0.0


class SqliteRateWindow:
    """The shared window in ``ratelimit.sqlite3`` under the data directory (the embedded default).

    A slot is taken on the event loop when the file is free (a ~30 µs transaction, cheaper than the
    worker-thread hop, and quick enough that requests started together still overlap); only when
    another process holds the write lock does the caller wait for it in a worker thread. Not fsynced
    (``durable=False``): after a power cut a few recorded starts may be missing, which at worst lets
    a handful more requests through in that one window.
    """

    def __init__(self, path: Path) -> None:
        self.db = Database(
            path,
            _SCHEMA,
            migrate=_migrate,
            durable=False,
            what="vendor rate window",
            consequence="the vendors' request counts start afresh (a rate limit may be hit once).",
        )
        # timeout=0: never wait for the lock on the event loop.
        self._now = sqlite3.connect(str(path), isolation_level=None, timeout=0, check_same_thread=False)
        self._now.execute("PRAGMA synchronous=NORMAL")

    def _take_now(self, key: str, rate: Rate | None, block_for: float) -> float | None:
        """The slot rule without waiting; ``None`` when another process holds the file."""
        try:
            self._now.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return None  # locked
        try:
            wait = take_slot(self._now, key, rate, block_for, time.time())
        except BaseException:
            self._now.execute("ROLLBACK")
            raise
        self._now.execute("COMMIT")
        return wait

    async def take(self, key: str, rate: Rate | None, block_for: float = 0.0) -> float:
        wait = self._take_now(key, rate, block_for)
        if wait is None:
            wait = await self.db.arun(lambda c: take_slot(c, key, rate, block_for, time.time()))
        return wait

    def close(self) -> None:
        self._now.close()
        self.db.close()
