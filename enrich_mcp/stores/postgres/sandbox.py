"""The sandbox's state on PostgreSQL (see :mod:`enrich_mcp.sandbox.store`), shared by every replica.

The five fake vendors share two tables (schema migration 4), keyed by vendor. The handlers are
synchronous, so each store holds one synchronous connection of its own (opened on first use,
reopened after a failure), used by one thread at a time. A transaction takes a transaction
advisory lock on its vendor first, so sandbox requests of one vendor run one after another across
every process on the database, as SQLite's ``BEGIN IMMEDIATE`` makes them on one data directory:
a poll's read-advance-write of a job's life cycle never interleaves with another's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import psycopg
from psycopg import Connection

from enrich_mcp.errors import StoreUnavailable
from enrich_mcp.sandbox.store import StoreConnection, close_all, dump
from enrich_mcp.stores.postgres.database import PostgresDatabase, sql

SANDBOX_LOCK: Final = 0x656E7273  # pg_advisory_xact_lock(int, int) namespace ("enrs"); the second key is the vendor's
_UPSERT: Final = (
    "INSERT INTO sandbox_records (vendor, kind, id, parent, data) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (vendor, kind, id) DO UPDATE "
    "SET data = excluded.data, parent = COALESCE(excluded.parent, sandbox_records.parent)"
)


class PgSandboxStore(StoreConnection):
    """:class:`~enrich_mcp.sandbox.store.SandboxStore` for one vendor, in the ``sandbox_*`` tables."""

    def __init__(self, db: PostgresDatabase, vendor: str) -> None:
        self.db = db
        self.vendor = vendor
        super().__init__()

    def _connection(self) -> Connection[Any]:
        if self._open and (self._open[0].closed or self._open[0].broken):
            close_all(self._open)
        if not self._open:
            self._open.append(self.db.connect_sync())
        return self._open[0]

    @contextmanager
    def _using(self) -> Iterator[Connection[Any]]:
        """The connection, for this thread alone; a lost connection is a :class:`StoreUnavailable`."""
        with self._lock:
            try:
                yield self._connection()
            except psycopg.OperationalError as exc:
                if not self._depth:  # inside a transaction, the outermost level reports it
                    close_all(self._open)
                raise StoreUnavailable(
                    f"The shared database stopped answering the sandbox ({type(exc).__name__}).",
                    hint="Try again when the database is back.",
                ) from exc

    def _rows(self, text: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._using() as conn:
            return conn.execute(sql(text), args).fetchall()

    def _run(self, text: str, args: tuple[Any, ...]) -> int:
        with self._using() as conn:
            return conn.execute(sql(text), args).rowcount

    @contextmanager
    def _outermost(self) -> Iterator[None]:
        with self._using() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (SANDBOX_LOCK, self.vendor))
            yield

    # -- records ---------------------------------------------------------------------------------

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT data FROM sandbox_records WHERE vendor = %s AND kind = %s AND id = %s", (self.vendor, kind, key)
        )
        return json.loads(rows[0][0]) if rows else None

    def put(self, kind: str, key: str, value: dict[str, Any], *, parent: str | None = None) -> None:
        self._run(_UPSERT, (self.vendor, kind, key, parent, dump(value)))

    def put_many(self, kind: str, items: list[tuple[str, dict[str, Any]]], *, parent: str | None = None) -> None:
        if not items:
            return
        with self._using() as conn, conn.cursor() as cur:
            cur.executemany(_UPSERT, [(self.vendor, kind, key, parent, dump(value)) for key, value in items])

    def delete(self, kind: str, key: str) -> bool:
        deleted = self._run(
            "DELETE FROM sandbox_records WHERE vendor = %s AND kind = %s AND id = %s", (self.vendor, kind, key)
        )
        return deleted > 0

    def list(
        self,
        kind: str,
        *,
        parent: str | None = None,
        newest_first: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        text = "SELECT data FROM sandbox_records WHERE vendor = %s AND kind = %s"
        args: tuple[Any, ...] = (self.vendor, kind)
        if parent is not None:
            text, args = text + " AND parent = %s", (*args, parent)
        text += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT %s OFFSET %s"  # LIMIT NULL: all
        return [json.loads(row[0]) for row in self._rows(text, (*args, limit, offset))]

    def count(self, kind: str, *, parent: str | None = None) -> int:
        text = "SELECT count(*) FROM sandbox_records WHERE vendor = %s AND kind = %s"
        if parent is None:
            return int(self._rows(text, (self.vendor, kind))[0][0])
        return int(self._rows(text + " AND parent = %s", (self.vendor, kind, parent))[0][0])

    def has(self, kind: str, key: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM sandbox_records WHERE vendor = %s AND kind = %s AND id = %s", (self.vendor, kind, key)
            )
        )

    # -- settings and counters -------------------------------------------------------------------

    def meta(self, key: str, default: Any = None) -> Any:
        rows = self._rows("SELECT value FROM sandbox_meta WHERE vendor = %s AND key = %s", (self.vendor, key))
        return json.loads(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        self._run(
            "INSERT INTO sandbox_meta (vendor, key, value) VALUES (%s, %s, %s) "
            "ON CONFLICT (vendor, key) DO UPDATE SET value = excluded.value",
            (self.vendor, key, dump(value)),
        )

    def counter(self, name: str) -> int:
        # One statement, so it is atomic even outside a transaction; the value is the JSON of an int.
        rows = self._rows(
            "INSERT INTO sandbox_meta (vendor, key, value) VALUES (%s, %s, '1') "
            "ON CONFLICT (vendor, key) DO UPDATE SET value = (sandbox_meta.value::bigint + 1)::text RETURNING value",
            (self.vendor, f"counter:{name}"),
        )
        return int(rows[0][0])
