"""The job ledger on PostgreSQL: the :class:`~enrich_mcp.jobs.store.JobStore` rules for replicas.

The same rules as :class:`~enrich_mcp.jobs.store.SqliteJobStore`, with PostgreSQL's row locks
where SQLite serialises whole transactions:

* ``claim`` takes unfinished jobs nobody holds with ``SELECT … FOR UPDATE SKIP LOCKED``: two
  replicas claiming at once split the jobs instead of waiting on (or taking) the same ones;
* a guarded ``update`` locks the job's row (``FOR UPDATE``) before it checks the status and the
  owner, so "first end wins" and "a lost lease writes nothing" hold across replicas, and result
  rows of one ``part`` are stored once (``result_parts`` primary key);
* every change queues a ``NOTIFY`` in its transaction, so a replica whose client waits on or
  subscribed to the job hears of it as soon as it commits (:meth:`PgJobStore.watch`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from psycopg import AsyncConnection

from enrich_mcp.erasure import ERASED, Identifier, Matcher, harvest
from enrich_mcp.jobs.models import Job
from enrich_mcp.jobs.store import ForgetCount, JobDecoding, Write, plan_forget, write_refusal
from enrich_mcp.stores.postgres.database import NOW, PostgresDatabase, open_jobs

logger = logging.getLogger(__name__)

_OPEN: Final = open_jobs()


class PgJobStore(JobDecoding):
    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self.damaged: dict[str, str] = {}
        """Rows that could not be read (job id -> why); skipped and reported, never fatal."""
        self.where = "the PostgreSQL job ledger"

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        rows = await self.db.fetchall("SELECT id, data FROM jobs WHERE id = %s", (job_id,))
        return self._load(rows[0][0], rows[0][1]) if rows else None

    async def find_open(self, dedup_key: str) -> Job | None:
        rows = await self.db.fetchall(f"SELECT id, data FROM jobs WHERE dedup_key = %s AND {_OPEN}", (dedup_key,))
        jobs = self._loads(rows)
        return jobs[0] if jobs else None

    async def list(self, *, status: str | None = None, vendor: str | None = None, limit: int = 100) -> list[Job]:
        sql, args = "SELECT id, data FROM jobs WHERE true", []
        if status:
            sql, args = sql + " AND status = %s", [*args, status]
        if vendor:
            sql, args = sql + " AND vendor = %s", [*args, vendor]
        sql += " ORDER BY created_at DESC LIMIT %s"
        return self._loads(await self.db.fetchall(sql, (*args, limit)))

    async def results(self, job_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT data FROM results WHERE job_id = %s AND idx >= %s ORDER BY idx LIMIT %s", (job_id, offset, limit)
        )
        return json.loads("[" + ",".join(r[0] for r in rows) + "]")

    # -- writing ---------------------------------------------------------------------------------

    async def insert(self, job: Job, *, owner: str, lease_seconds: float) -> Job:
        """Store a new job, leased to ``owner``; or return the unfinished job with the same ``dedup_key``."""
        while True:
            async with self.db.transaction() as conn:
                cur = await conn.execute(
                    "INSERT INTO jobs (id, vendor, kind, status, created_at, data, owner, lease_until, dedup_key) "
                    f"VALUES (%s, %s, %s, %s, %s, %s, %s, {NOW} + %s, %s) "
                    f"ON CONFLICT (dedup_key) WHERE {_OPEN} DO NOTHING",
                    (
                        job.id,
                        job.vendor,
                        job.kind,
                        job.status,
                        job.created_at,
                        job.model_dump_json(),
                        owner,
                        lease_seconds,
                        job.dedup_key,
                    ),
                )
                if cur.rowcount == 1:
                    await self.db.notify(conn, job.id)
                    return job
                assert job.dedup_key is not None
                cur = await conn.execute(
                    f"SELECT id, data FROM jobs WHERE dedup_key = %s AND {_OPEN}", (job.dedup_key,)
                )
                row = await cur.fetchone()
            if row is not None and (existing := self._load(row[0], row[1])) is not None:
                return existing
            # The open duplicate ended between the two statements: try the insert again.

    @staticmethod
    async def _append(
        conn: AsyncConnection[Any], job_id: str, rows: Sequence[Mapping[str, Any]], part: str | None
    ) -> int | None:
        """Append rows (the caller holds the job's row lock); ``None`` when ``part`` was stored before."""
        if part is not None:
            cur = await conn.execute("INSERT INTO result_parts VALUES (%s, %s) ON CONFLICT DO NOTHING", (job_id, part))
            if cur.rowcount == 0:
                return None
        cur = await conn.execute("SELECT COALESCE(max(idx) + 1, 0) FROM results WHERE job_id = %s", (job_id,))
        found = await cur.fetchone()
        start = int(found[0]) if found else 0
        if rows:
            async with conn.cursor() as c:
                await c.executemany(
                    "INSERT INTO results VALUES (%s, %s, %s)",
                    [
                        (job_id, start + i, json.dumps(row, ensure_ascii=False, default=str))
                        for i, row in enumerate(rows)
                    ],
                )
        return start + len(rows)

    async def update(
        self,
        job: Job,
        rows: Sequence[Mapping[str, Any]] = (),
        *,
        part: str | None = None,
        owner: str | None = None,
        lease_seconds: float | None = None,
    ) -> Write:
        """Store the job and its new rows in one transaction, unless it has ended or another replica holds it
        (see :meth:`SqliteJobStore.update <enrich_mcp.jobs.store.SqliteJobStore.update>`)."""
        job.updated_at = time.time()
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT status, owner FROM jobs WHERE id = %s FOR UPDATE", (job.id,))
            row = await cur.fetchone()
            if (refused := write_refusal(row, owner)) is not None:
                return refused
            if rows or part is not None:
                count = await self._append(conn, job.id, rows, part)
                if count is not None:
                    job.result_count = count
            if owner is not None and lease_seconds is not None:
                await conn.execute(
                    f"UPDATE jobs SET status = %s, data = %s, lease_until = {NOW} + %s WHERE id = %s",
                    (job.status, job.model_dump_json(), lease_seconds, job.id),
                )
            else:
                await conn.execute(
                    "UPDATE jobs SET status = %s, data = %s WHERE id = %s", (job.status, job.model_dump_json(), job.id)
                )
            await self.db.notify(conn, job.id)
            return Write.OK

    async def annotate(self, job_id: str, summary: Mapping[str, Any]) -> None:
        """Add to an ended job's summary (e.g. what a late cancel at the vendor did)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT id, data FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
            row = await cur.fetchone()
            if row is None or (job := self._load(row[0], row[1])) is None:
                return
            job.summary.update(summary)
            job.updated_at = time.time()
            await conn.execute("UPDATE jobs SET data = %s WHERE id = %s", (job.model_dump_json(), job_id))
            await self.db.notify(conn, job_id)

    async def claim(self, owner: str, lease_seconds: float, kinds: Sequence[str]) -> list[Job]:
        """Take every unfinished job of ``kinds`` that nobody holds (no owner, or an expired lease).

        ``SKIP LOCKED``: a job another replica is claiming or writing right now is left to it. The jobs
        this replica holds are renewed by its heartbeat, not re-read.
        """
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT id, data FROM jobs WHERE {_OPEN} AND kind = ANY(%s) "
                f"AND (owner IS NULL OR lease_until < {NOW}) "
                "ORDER BY created_at FOR UPDATE SKIP LOCKED",
                (list(kinds),),
            )
            claimed = self._loads(await cur.fetchall())
            if claimed:
                await conn.execute(
                    f"UPDATE jobs SET owner = %s, lease_until = {NOW} + %s WHERE id = ANY(%s)",
                    (owner, lease_seconds, [job.id for job in claimed]),
                )
            return claimed

    async def heartbeat(self, owner: str, lease_seconds: float) -> set[str]:
        """Renew every lease ``owner`` holds; returns the ids it still holds."""
        rows = await self.db.fetchall(
            f"UPDATE jobs SET lease_until = {NOW} + %s WHERE owner = %s AND {_OPEN} RETURNING id",
            (lease_seconds, owner),
        )
        return {r[0] for r in rows}

    async def release(self, owner: str) -> None:
        """Give up every lease at shutdown, so another replica resumes the jobs at once."""
        await self.db.execute("UPDATE jobs SET lease_until = 0 WHERE owner = %s", (owner,))

    async def related(self, matcher: Matcher) -> set[Identifier]:
        """The person's other identifiers in job requests and result rows that hold one of theirs."""
        found: set[Identifier] = set()
        async with self.db.transaction() as conn:  # a server-side cursor lives in a transaction
            async with conn.cursor(name="enrich_results_scan") as cur:
                await cur.execute("SELECT data FROM results")
                async for (data,) in cur:
                    if matcher.may_hold(data):
                        found |= harvest(json.loads(data), matcher)
            cur = await conn.execute("SELECT id, data FROM jobs")
            for job_id, data in await cur.fetchall():
                if matcher.may_hold(data) and (job := self._load(job_id, data)) is not None:
                    found |= harvest(job.request, matcher)
        return found

    async def forget(self, matcher: Matcher, *, dry_run: bool = False) -> ForgetCount:
        """Drop the person's result rows and scrub them out of ended jobs: the rule of
        :func:`~enrich_mcp.jobs.store.plan_forget`, applied in one transaction that locks the jobs it reads."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT id, data FROM jobs ORDER BY created_at FOR UPDATE")
            jobs = self._loads(await cur.fetchall())
            cur = await conn.execute("SELECT job_id, idx, data FROM results")
            count, plan = plan_forget(matcher, jobs, await cur.fetchall())
            if dry_run:
                return count
            for job, rows in plan:
                for idx, row in rows:
                    if row is ERASED:
                        await conn.execute("DELETE FROM results WHERE job_id = %s AND idx = %s", (job.id, idx))
                    else:
                        await conn.execute(
                            "UPDATE results SET data = %s WHERE job_id = %s AND idx = %s",
                            (json.dumps(row, ensure_ascii=False, default=str), job.id, idx),
                        )
                if any(row is ERASED for _, row in rows):
                    # Close the gaps (pages are read by position): renumber in one statement, through
                    # negative indexes so no intermediate state collides with the primary key.
                    cur = await conn.execute(
                        "UPDATE results r SET idx = -1 - n.pos FROM (SELECT idx, row_number() OVER (ORDER BY idx) - 1 "
                        "AS pos FROM results WHERE job_id = %s) n WHERE r.job_id = %s AND r.idx = n.idx",
                        (job.id, job.id),
                    )
                    job.result_count = cur.rowcount
                    await conn.execute("UPDATE results SET idx = -1 - idx WHERE job_id = %s", (job.id,))
                await conn.execute("UPDATE jobs SET data = %s WHERE id = %s", (job.model_dump_json(), job.id))
                await self.db.notify(conn, job.id)
        if count.jobs_scrubbed:
            await self.db.vacuum("results", "jobs")
        return count

    async def watch(self, on_change: Callable[[str], Awaitable[None]]) -> None:
        """``LISTEN``: call ``on_change(job_id)`` when another replica changes a job."""
        await self.db.listen(on_change)

    def close(self) -> None:
        self.db.close()
