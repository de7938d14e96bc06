"""The PostgreSQL schema, versioned, with forward migrations.

``enrich_schema_version`` records every migration applied. At start-up each replica runs
:func:`ensure_schema` under a session advisory lock (so replicas starting together migrate once):

* a database already at :data:`LATEST` is used as is;
* pending migrations that are all ``online`` (additive: new tables, columns, indexes, functions —
  safe while older replicas still run) are applied automatically;
* a pending migration that is not online (it rewrites or drops data older replicas still read)
  stops the start with :class:`SchemaError`: stop the old replicas, run ``enrich-mcp db upgrade``;
* a database *newer* than this version of enrich-mcp stops the start too: an old replica must not
  write rows whose meaning changed under it.

The sandbox's state (``ENRICH_MCP_SANDBOX=1`` on a database) is reached through synchronous
connections (its handlers are synchronous), so the same migrations run from both kinds of
connection: :func:`ensure_schema` and :func:`ensure_schema_sync` differ only in their awaits.

Job and result rows hold the same JSON text as the SQLite ledger (not ``jsonb``, which would
reorder keys), so both backends answer byte for byte alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, Connection

from enrich_mcp.errors import SchemaError
from enrich_mcp.jobs.models import TERMINAL

_OPEN = "status NOT IN (" + ", ".join(f"'{s}'" for s in sorted(TERMINAL)) + ")"
MIGRATION_LOCK = 0x656E7269636801  # pg_advisory_lock key: "enrich" + 1
"""Serialises schema changes across replicas."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str
    online: bool = True
    """Additive, so replicas of the previous version keep working while it is applied."""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "job ledger, result rows and the spend ledger",
        f"""
        CREATE TABLE jobs (
            id text PRIMARY KEY,
            vendor text NOT NULL,
            kind text NOT NULL,
            status text NOT NULL,
            created_at float8 NOT NULL,
            data text NOT NULL,
            owner text,
            lease_until float8 NOT NULL DEFAULT 0,
            dedup_key text
        );
        CREATE INDEX jobs_created ON jobs (created_at DESC);
        CREATE INDEX jobs_open_owner ON jobs (owner, lease_until) WHERE {_OPEN};
        -- At most one unfinished job per identical request: the second start finds the first.
        CREATE UNIQUE INDEX jobs_open_dedup ON jobs (dedup_key) WHERE {_OPEN};
        CREATE TABLE results (
            job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            idx integer NOT NULL,
            data text NOT NULL,
            PRIMARY KEY (job_id, idx)
        );
        CREATE TABLE result_parts (
            job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            part text NOT NULL,
            PRIMARY KEY (job_id, part)
        );
        CREATE TABLE spend (
            id bigserial PRIMARY KEY,
            at float8 NOT NULL,
            vendor text NOT NULL,
            tool text NOT NULL,
            operation text NOT NULL,
            units float8 NOT NULL,
            estimated_usd float8 NOT NULL,
            actual_usd float8,
            status text NOT NULL,
            price_known integer NOT NULL,
            subject text,
            job_id text,
            owner text,
            lease_until float8 NOT NULL DEFAULT 0,
            sent integer NOT NULL DEFAULT 0
        );
        CREATE INDEX spend_pending ON spend (status) WHERE status = 'pending';
        """,
    ),
    Migration(
        2,
        "result cache with a TTL per entry",
        """
        CREATE TABLE cache (
            key text PRIMARY KEY,
            vendor text NOT NULL,
            value text NOT NULL,
            stored_at float8 NOT NULL,
            expires_at float8
        );
        CREATE INDEX cache_expires ON cache (expires_at) WHERE expires_at IS NOT NULL;
        """,
    ),
    Migration(
        3,
        "shared vendor rate windows",
        """
        CREATE TABLE rate_events (key text NOT NULL, at float8 NOT NULL);
        CREATE INDEX rate_events_key ON rate_events (key, at);
        CREATE TABLE rate_blocks (key text PRIMARY KEY, until float8 NOT NULL);
        -- One slot request in one round trip, serialised per key by a transaction advisory lock.
        -- Returns 0 when a start was recorded, else the seconds to wait before asking again.
        CREATE FUNCTION enrich_rate_take(p_key text, p_limit integer, p_window float8, p_block float8)
        RETURNS float8 LANGUAGE plpgsql AS $$
        DECLARE
            now_s float8;
            used integer;
            oldest float8;
            blocked float8;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('enrich_rate:' || p_key));
            now_s := extract(epoch from clock_timestamp());
            IF p_block > 0 THEN
                INSERT INTO rate_blocks VALUES (p_key, now_s + p_block)
                ON CONFLICT (key) DO UPDATE SET until = greatest(rate_blocks.until, excluded.until);
            END IF;
            SELECT until INTO blocked FROM rate_blocks WHERE key = p_key;
            IF blocked IS NOT NULL AND blocked > now_s THEN
                RETURN blocked - now_s;
            END IF;
            IF p_limit IS NULL THEN
                RETURN 0;
            END IF;
            DELETE FROM rate_events WHERE key = p_key AND at <= now_s - p_window;
            SELECT count(*) INTO used FROM rate_events WHERE key = p_key;
            IF used >= p_limit THEN
                SELECT at INTO oldest FROM rate_events WHERE key = p_key ORDER BY at OFFSET used - p_limit LIMIT 1;
                RETURN greatest(oldest + p_window - now_s, 0.001);
            END IF;
            INSERT INTO rate_events VALUES (p_key, now_s);
            RETURN 0;
        END
        $$;
        """,
    ),
    Migration(
        4,
        "sandbox state shared by replicas",
        """
        -- The fake vendors' records and settings (enrich_mcp.sandbox.store), keyed by vendor. seq keeps
        -- insertion order; a replaced record keeps its seq (its place), as SQLite's rowid does.
        CREATE TABLE sandbox_records (
            vendor text NOT NULL,
            kind text NOT NULL,
            id text NOT NULL,
            parent text,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            data text NOT NULL,
            PRIMARY KEY (vendor, kind, id)
        );
        CREATE INDEX sandbox_records_order ON sandbox_records (vendor, kind, seq);
        CREATE INDEX sandbox_records_parent ON sandbox_records (vendor, kind, parent, seq);
        CREATE TABLE sandbox_meta (
            vendor text NOT NULL,
            key text NOT NULL,
            value text NOT NULL,
            PRIMARY KEY (vendor, key)
        );
        """,
    ),
)
LATEST = MIGRATIONS[-1].version


_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS enrich_schema_version ("
    "version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
)
_CURRENT = "SELECT COALESCE(max(version), 0) FROM enrich_schema_version"
_RECORD = "INSERT INTO enrich_schema_version (version, description) VALUES (%s, %s)"


async def current_version(conn: AsyncConnection[Any]) -> int:
    await conn.execute(_VERSION_TABLE)
    cur = await conn.execute(_CURRENT)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def current_version_sync(conn: Connection[Any]) -> int:
    conn.execute(_VERSION_TABLE)
    row = conn.execute(_CURRENT).fetchone()
    return int(row[0]) if row else 0


def pending_migrations(
    version: int, *, allow_offline: bool, auto: bool, target: int | None, migrations: Sequence[Migration]
) -> list[Migration]:
    """What to apply to a database at ``version``; :class:`SchemaError` when it must not be used as is."""
    latest = migrations[-1].version
    target = latest if target is None else target
    if version > latest:
        raise SchemaError(
            f"The database's enrich-mcp schema is version {version}, newer than this enrich-mcp knows "
            f"({latest}): another replica runs a newer release.",
            hint="Upgrade this enrich-mcp to the release the other replicas run.",
        )
    pending = [m for m in migrations if version < m.version <= target]
    if not pending:
        return []
    blocking = [m for m in pending if not m.online]
    if blocking and not allow_offline:
        raise SchemaError(
            f"The database schema is at version {version}; migration {blocking[0].version} "
            f"({blocking[0].description}) cannot run while older replicas write.",
            hint="Stop every enrich-mcp replica, run `enrich-mcp db upgrade`, then start them again.",
        )
    if not auto and not allow_offline:
        raise SchemaError(
            f"The database schema is at version {version}, this enrich-mcp needs {latest}.",
            hint="Run `enrich-mcp db upgrade`.",
        )
    return pending


async def ensure_schema(
    conn: AsyncConnection[Any],
    *,
    allow_offline: bool,
    auto: bool = True,
    target: int | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[Migration]:
    """Bring the schema to ``target`` (default: the latest); returns the migrations applied.

    ``allow_offline`` is ``enrich-mcp db upgrade``: it also applies migrations that are not online.
    ``auto=False`` applies nothing at start-up; it only checks that the schema is current.
    """
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        version = await current_version(conn)
        pending = pending_migrations(
            version, allow_offline=allow_offline, auto=auto, target=target, migrations=migrations
        )
        for migration in pending:
            async with conn.transaction():
                await conn.execute(migration.sql.encode())
                await conn.execute(_RECORD, (migration.version, migration.description))
        return pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def ensure_schema_sync(
    conn: Connection[Any],
    *,
    allow_offline: bool,
    auto: bool = True,
    target: int | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[Migration]:
    """:func:`ensure_schema` on a synchronous connection (the sandbox's)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        version = current_version_sync(conn)
        pending = pending_migrations(
            version, allow_offline=allow_offline, auto=auto, target=target, migrations=migrations
        )
        for migration in pending:
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(_RECORD, (migration.version, migration.description))
        return pending
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
