"""The spend ledger on PostgreSQL: one budget for every replica.

The rules of :class:`~enrich_mcp.budget.SpendLedger`. The cap is checked and the reservation
inserted in one transaction that first takes a transaction advisory lock (:data:`BUDGET_LOCK`):
reservations are serialised across replicas, so no number of concurrent calls on any number of
replicas passes the cap (a plain ``SELECT sum`` under READ COMMITTED would let two transactions
each see room for one more). Leases are read from the database server's clock.
"""

from __future__ import annotations

from typing import Any, Final

from psycopg.rows import dict_row

from enrich_mcp.budget import ChargeStatus
from enrich_mcp.erasure import ERASED, ERASED_TEXT, Matcher
from enrich_mcp.stores.postgres.database import NOW, PostgresDatabase, sql

BUDGET_LOCK: Final = 0x656E7269636802  # pg_advisory_xact_lock key: "enrich" + 2
_COMMITTED: Final = (
    "SELECT COALESCE(SUM(CASE WHEN status = 'pending' THEN estimated_usd "
    "WHEN status IN ('settled', 'unknown') THEN COALESCE(actual_usd, estimated_usd) ELSE 0 END), 0) FROM spend"
)
_COLUMNS = frozenset(
    {"at", "vendor", "tool", "operation", "units", "estimated_usd", "actual_usd", "price_known", "subject", "job_id"}
)


class PgSpendStore:
    def __init__(self, db: PostgresDatabase, *, owner: str = "", lease_seconds: float = 30.0) -> None:
        self.db = db
        self.owner = owner
        self.lease_seconds = lease_seconds

    async def committed_usd(self) -> float:
        rows = await self.db.fetchall(_COMMITTED)
        return float(rows[0][0])

    async def reserve(self, cap_usd: float | None, **row: Any) -> tuple[int | None, float]:
        """Insert a pending row unless it would pass ``cap_usd``; one transaction, serialised across replicas."""
        unknown = set(row) - _COLUMNS
        if unknown:
            raise ValueError(f"unknown spend columns: {sorted(unknown)}")
        cols = list(row)
        values = [row[c] for c in cols]
        async with self.db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (BUDGET_LOCK,))
            cur = await conn.execute(_COMMITTED)
            found = await cur.fetchone()
            committed = float(found[0]) if found else 0.0
            if cap_usd is not None and committed + float(row["estimated_usd"]) > cap_usd + 1e-9:
                return None, committed
            marks = ", ".join(["%s"] * len(cols))
            cur = await conn.execute(
                sql(
                    f"INSERT INTO spend ({', '.join(cols)}, status, owner, lease_until) "
                    f"VALUES ({marks}, 'pending', %s, {NOW} + %s) RETURNING id"
                ),
                (*values, self.owner, self.lease_seconds),
            )
            inserted = await cur.fetchone()
            assert inserted is not None
            return int(inserted[0]), committed

    async def insert(self, **row: Any) -> int:
        charge_id, _ = await self.reserve(None, **row)
        assert charge_id is not None
        return charge_id

    async def mark_sent(self, charge_id: int) -> None:
        await self.db.execute("UPDATE spend SET sent = 1 WHERE id = %s", (charge_id,))

    async def heartbeat(self, owner: str, lease_seconds: float) -> None:
        await self.db.execute(
            f"UPDATE spend SET lease_until = {NOW} + %s WHERE owner = %s AND status = 'pending'", (lease_seconds, owner)
        )

    async def release(self, owner: str) -> None:
        await self.sweep(owner, include_own=True)

    async def sweep(self, owner: str = "", *, include_own: bool = False) -> int:
        """Resolve pending reservations of plain calls whose replica is gone (lease expired): void when the
        request certainly never left, unknown otherwise. A job's reservation is left to the job."""
        where = f"status = 'pending' AND job_id IS NULL AND (lease_until < {NOW} OR owner IS NULL"
        args: list[Any] = []
        if include_own:
            where += " OR owner = %s"
            args.append(owner)
        where += ")"
        async with self.db.transaction() as conn:
            void = await conn.execute(
                sql(f"UPDATE spend SET status = 'void', actual_usd = 0 WHERE {where} AND sent = 0"), args
            )
            unknown = await conn.execute(
                sql(f"UPDATE spend SET status = 'unknown', actual_usd = estimated_usd WHERE {where} AND sent = 1"), args
            )
            return void.rowcount + unknown.rowcount

    async def _dicts(self, text: str, args: Any = None) -> list[dict[str, Any]]:
        async with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql(text), args)
            return list(await cur.fetchall())

    async def pending_for_jobs(self) -> list[dict[str, Any]]:
        return await self._dicts("SELECT * FROM spend WHERE status = 'pending' AND job_id IS NOT NULL")

    async def settle(self, charge_id: int, status: ChargeStatus, actual_usd: float | None) -> bool:
        """End a reservation; ``False`` when it had already ended (the first end wins)."""
        count = await self.db.execute(
            "UPDATE spend SET status = %s, actual_usd = %s WHERE id = %s AND status = 'pending'",
            (status, actual_usd, charge_id),
        )
        return count == 1

    async def attach_job(self, charge_id: int, job_id: str) -> None:
        await self.db.execute("UPDATE spend SET job_id = %s WHERE id = %s", (job_id, charge_id))

    async def get(self, charge_id: int) -> dict[str, Any] | None:
        rows = await self._dicts("SELECT * FROM spend WHERE id = %s", (charge_id,))
        return rows[0] if rows else None

    async def rows(self) -> list[dict[str, Any]]:
        return await self._dicts("SELECT * FROM spend ORDER BY id")

    async def forget(self, matcher: Matcher, *, dry_run: bool = False) -> int:
        """Scrub the person out of stored subjects (amounts stay for accounting), as the SQLite ledger does."""
        async with self.db.transaction() as conn:
            cur = await conn.execute("SELECT id, subject FROM spend WHERE subject IS NOT NULL FOR UPDATE")
            hits: list[tuple[str, int]] = []
            for charge_id, subject in await cur.fetchall():
                if matcher.may_hold(subject) and matcher.mentions(subject):
                    cleaned = matcher.scrub(subject)
                    hits.append((ERASED_TEXT if cleaned is ERASED else cleaned, charge_id))
            if hits and not dry_run:
                async with conn.cursor() as c:
                    await c.executemany("UPDATE spend SET subject = %s WHERE id = %s", hits)
        if hits and not dry_run:
            await self.db.vacuum("spend")
        return len(hits)

    def close(self) -> None:
        self.db.close()
