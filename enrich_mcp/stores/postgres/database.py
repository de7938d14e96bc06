"""The PostgreSQL connection: one async pool per process, the schema check, LISTEN, health.

psycopg 3's :class:`~psycopg_pool.AsyncConnectionPool` runs on the event loop (no worker-thread
hop per query, unlike the SQLite stores). A server is built before any loop runs (``build_server``
is a plain factory) and a stdio server may run several loops in turn, so the pool opens lazily on
the first query in a loop and is closed with :meth:`PostgresDatabase.aclose` when the runtime
stops serving; the next use opens a new one. The sandbox's handlers are synchronous
(``httpx.MockTransport``): they use plain connections from :meth:`PostgresDatabase.connect_sync`.

Times that several replicas compare — leases, reservations, rate windows, cache expiry — are read
from the database server's clock (:data:`NOW`), never the replica's, so skewed clocks on
different hosts cannot hand a job to two replicas.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, LiteralString, cast

import anyio
import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from enrich_mcp.errors import StoreUnavailable
from enrich_mcp.jobs.models import TERMINAL
from enrich_mcp.stores.postgres.schema import ensure_schema, ensure_schema_sync

logger = logging.getLogger(__name__)

NOW: Final = "extract(epoch from clock_timestamp())::float8"
"""The database server's clock in epoch seconds: the one clock every replica agrees on."""
JOBS_CHANNEL: Final = "enrich_mcp_jobs"
"""LISTEN/NOTIFY channel: the payload is ``"<job id> <origin>"``, sent when a job row changes."""


def sql(text: str) -> LiteralString:
    """Our statements are built from constants only; every value goes as a parameter."""
    return cast(LiteralString, text)


def open_jobs() -> LiteralString:
    """``status`` is not terminal: an unfinished job."""
    return sql("status NOT IN (" + ", ".join(f"'{s}'" for s in sorted(TERMINAL)) + ")")


def redacted_url(url: str) -> str:
    """The URL as safe to log: the password replaced."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://[unparseable]"
    if "password" in params:
        params["password"] = "[redacted]"
    return make_conninfo("", **{k: str(v) for k, v in params.items() if v is not None})


class PostgresDatabase:
    def __init__(self, url: str, *, origin: str = "", max_size: int = 10, auto_upgrade: bool = True) -> None:
        self.url = url
        self.origin = origin
        """This process's name in notifications, so it can skip its own."""
        self.max_size = max_size
        self.auto_upgrade = auto_upgrade
        self._pool: AsyncConnectionPool[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None
        self._schema_checked = False

    # -- the pool ------------------------------------------------------------------------------

    async def pool(self) -> AsyncConnectionPool[Any]:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._opening is None or self._loop is not loop:
            self._opening, self._loop, self._pool = asyncio.Lock(), loop, None
        async with self._opening:
            if self._pool is None:
                self._pool = await self._open()
            return self._pool

    async def _open(self) -> AsyncConnectionPool[Any]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.max_size,
            kwargs={"autocommit": True},
            name="enrich-mcp",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=10.0)
            if not self._schema_checked:
                async with pool.connection() as conn:
                    await ensure_schema(conn, allow_offline=False, auto=self.auto_upgrade)
                self._schema_checked = True
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, psycopg.OperationalError | PoolTimeout):
                raise StoreUnavailable(
                    f"The shared database at {redacted_url(self.url)} is not reachable.",
                    hint="Check ENRICH_MCP_DATABASE_URL and that PostgreSQL is running.",
                ) from None
            raise
        return pool

    def connect_sync(self) -> psycopg.Connection[Any]:
        """A synchronous autocommit connection of its own (the sandbox's), the schema checked as for the pool."""
        try:
            conn = psycopg.Connection.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError:
            raise StoreUnavailable(
                f"The shared database at {redacted_url(self.url)} is not reachable.",
                hint="Check ENRICH_MCP_DATABASE_URL and that PostgreSQL is running.",
            ) from None
        try:
            if not self._schema_checked:
                ensure_schema_sync(conn, allow_offline=False, auto=self.auto_upgrade)
                self._schema_checked = True
        except BaseException:
            conn.close()
            raise
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        pool = await self.pool()
        try:
            async with pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(
                f"The shared database stopped answering ({type(exc).__name__}).",
                hint="Nothing was recorded by this call; try again when the database is back.",
            ) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def fetchall(self, text: str, args: Any = None) -> list[tuple[Any, ...]]:
        async with self.connection() as conn:
            cur = await conn.execute(sql(text), args)
            return await cur.fetchall()

    async def execute(self, text: str, args: Any = None) -> int:
        async with self.connection() as conn:
            cur = await conn.execute(sql(text), args)
            return cur.rowcount

    async def vacuum(self, *tables: str) -> None:
        """Reclaim erased rows' space (outside any transaction: VACUUM cannot run in one)."""
        async with self.connection() as conn:
            await conn.execute(sql(f"VACUUM {', '.join(tables)}"))

    # -- notifications ---------------------------------------------------------------------------

    async def notify(self, conn: AsyncConnection[Any], job_id: str) -> None:
        """Queue a job-changed notification in ``conn``'s transaction (sent when it commits)."""
        await conn.execute("SELECT pg_notify(%s, %s)", (JOBS_CHANNEL, f"{job_id} {self.origin}"))

    async def listen(self, on_job: Any) -> None:
        """Call ``on_job(job_id)`` for every job another process changes; reconnects until cancelled."""
        delay = 0.5
        while True:
            try:
                conn = await AsyncConnection.connect(self.url, autocommit=True)
            except psycopg.OperationalError:
                logger.warning("LISTEN: the database is not reachable; retrying in %.1fs", delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            try:
                await conn.execute(sql(f"LISTEN {JOBS_CHANNEL}"))
                delay = 0.5
                async for note in conn.notifies():
                    job_id, _, origin = note.payload.partition(" ")
                    if origin == self.origin:
                        continue  # our own write: this process told its listeners already
                    try:
                        await on_job(job_id)
                    except Exception:
                        logger.exception("job %s: handling a change notification failed", job_id)
            except psycopg.OperationalError:
                logger.warning("LISTEN connection lost; reconnecting", exc_info=True)
                await anyio.sleep(delay)
            finally:
                with anyio.CancelScope(shield=True):
                    await conn.close()

    # -- health ------------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            with anyio.fail_after(3):
                rows = await self.fetchall("SELECT max(version) FROM enrich_schema_version")
        except Exception as exc:
            return {"ok": False, "backend": "postgresql", "error": type(exc).__name__}
        return {
            "ok": True,
            "backend": "postgresql",
            "schema_version": rows[0][0],
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    # -- closing -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._loop is asyncio.get_running_loop():
            await pool.close()

    def close(self) -> None:
        """Forget the pool (a loop that ended took its connections with it); :meth:`aclose` closes it."""
        self._pool = None
