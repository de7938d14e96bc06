"""``enrich-mcp db upgrade``: bring the state store's schema to this release.

Start-up already applies what is safe (every SQLite file migrates when it is opened; PostgreSQL
applies pending *online* migrations under a lock). This command also applies PostgreSQL
migrations that are not online, which need every replica stopped first, and prints each store's
schema version.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import anyio

from enrich_mcp.errors import StoreUnavailable
from enrich_mcp.settings import Settings
from enrich_mcp.stores import open_stores


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:  # pyright: ignore[reportPrivateUsage]
    db = sub.add_parser("db", help="the state store (data directory or ENRICH_MCP_DATABASE_URL)")
    actions = db.add_subparsers(dest="db_command", required=True)
    actions.add_parser(
        "upgrade",
        help="apply pending schema migrations",
        description="Apply pending schema migrations to the data directory's ledgers, or to the PostgreSQL "
        "database of ENRICH_MCP_DATABASE_URL (stop every replica first when a migration is not online).",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.db_command == "upgrade":
        for line in upgrade(settings):
            print(line)
    return 0


def upgrade(settings: Settings) -> list[str]:
    if settings.database_url is not None:
        return anyio.run(_upgrade_postgres, settings)
    return _upgrade_sqlite(settings)


def _sqlite_version(path: Path) -> int | None:
    if not path.exists():
        return None
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _upgrade_sqlite(settings: Settings) -> list[str]:
    files = ("jobs.sqlite3", "spend.sqlite3", "ratelimit.sqlite3")
    before = {name: _sqlite_version(settings.home / name) for name in files}
    open_stores(settings, owner="enrich-mcp db upgrade").close()  # each ledger migrates as it opens
    lines = [f"data directory {settings.home}"]
    for name in files:
        after = _sqlite_version(settings.home / name)
        was = before[name]
        change = "created" if was is None else "up to date" if was == after else f"upgraded from {was}"
        lines.append(f"  {name}: schema {after} ({change})")
    return lines


async def _upgrade_postgres(settings: Settings) -> list[str]:
    # On demand: the PostgreSQL driver is an optional extra.
    from psycopg import AsyncConnection, OperationalError

    from enrich_mcp.stores.postgres.database import redacted_url
    from enrich_mcp.stores.postgres.schema import LATEST, current_version, ensure_schema

    assert settings.database_url is not None
    url = settings.database_url.get_secret_value()
    try:
        connection = await AsyncConnection.connect(url, autocommit=True, connect_timeout=10)
    except OperationalError:
        raise StoreUnavailable(
            f"The database at {redacted_url(url)} is not reachable.",
            hint="Check ENRICH_MCP_DATABASE_URL and that PostgreSQL is running.",
        ) from None
    async with connection as conn:
        was = await current_version(conn)
        applied = await ensure_schema(conn, allow_offline=True)
    lines = [f"database {redacted_url(url)}: schema {LATEST}" + (f" (upgraded from {was})" if applied else "")]
    lines += [f"  applied {m.version}: {m.description}" for m in applied] or ["  up to date"]
    return lines
