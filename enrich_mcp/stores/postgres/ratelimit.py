"""The shared vendor rate window on PostgreSQL (see :mod:`enrich_mcp.stores.ratelimit`).

One call of the ``enrich_rate_take`` function (schema migration 3): a transaction advisory lock
per vendor account, then the same slot rule as SQLite's, on the database server's clock.
"""

from __future__ import annotations

from enrich_mcp.http import Rate
from enrich_mcp.stores.postgres.database import PostgresDatabase


class PgRateWindow:
    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def take(self, key: str, rate: Rate | None, block_for: float = 0.0) -> float:
        rows = await self.db.fetchall(
            "SELECT enrich_rate_take(%s, %s, %s, %s)",
            (key, rate.requests if rate else None, rate.per_seconds if rate else None, block_for),
        )
        return float(rows[0][0])

    def close(self) -> None:
        self.db.close()
