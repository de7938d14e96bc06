"""The result cache on PostgreSQL: one table, each entry with its own expiry (the operation's TTL).

Expiry is read from the database server's clock. Expired entries are not returned and are
deleted from time to time (every :data:`PURGE_EVERY` writes), and by ``forget_person``, which
erases a person's entries (and purges the expired ones) exactly as from the local cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from enrich_mcp.stores.postgres.database import NOW, PostgresDatabase, sql

PURGE_EVERY: Final = 500
_LIVE: Final = f"(expires_at IS NULL OR expires_at > {NOW})"


class PgCacheStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self._writes = 0

    async def get(self, key: str) -> str | None:
        rows = await self.db.fetchall(f"SELECT value FROM cache WHERE key = %s AND {_LIVE}", (key,))
        return rows[0][0] if rows else None

    async def set(self, key: str, value: str, ttl: float | None) -> None:
        await self.db.execute(
            f"INSERT INTO cache (key, vendor, value, stored_at, expires_at) VALUES (%s, %s, %s, {NOW}, {NOW} + %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, stored_at = excluded.stored_at, "
            "expires_at = excluded.expires_at",
            (key, key.split(":", 1)[0], value, ttl),
        )
        self._writes += 1
        if self._writes % PURGE_EVERY == 0:
            await self.db.execute(f"DELETE FROM cache WHERE expires_at <= {NOW}")

    async def delete(self, key: str) -> bool:
        return await self.db.execute("DELETE FROM cache WHERE key = %s", (key,)) > 0

    async def scan(self, keep: Callable[[str], bool]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        async with self.db.transaction() as conn, conn.cursor(name="enrich_cache_scan") as cur:
            # A server-side cursor: the table is read in batches, not loaded at once.
            await cur.execute(sql(f"SELECT key, value FROM cache WHERE {_LIVE}"))
            async for key, value in cur:
                if keep(value):
                    found.append((key, value))
        return found

    async def erase(self, keys: Sequence[str]) -> int:
        """Delete ``keys`` and the expired entries (as diskcache's vacuum does), then VACUUM the table."""
        count = await self.db.execute("DELETE FROM cache WHERE key = ANY(%s)", (list(keys),)) if keys else 0
        await self.db.execute(f"DELETE FROM cache WHERE expires_at <= {NOW}")
        await self.db.vacuum("cache")
        return count

    async def counts(self) -> tuple[int, int, dict[str, int]]:
        rows = await self.db.fetchall(f"SELECT vendor, count(*) FROM cache WHERE {_LIVE} GROUP BY vendor")
        size = await self.db.fetchall("SELECT pg_total_relation_size('cache')")
        per_vendor = {str(vendor): int(count) for vendor, count in rows}
        return sum(per_vendor.values()), int(size[0][0]), per_vendor

    def close(self) -> None:
        self.db.close()
