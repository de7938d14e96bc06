"""Where enrich-mcp keeps its state: one choice of backend, made here, for every store.

====================  ==========================================================  ===========================
                      embedded default: files in the data dir                     ``ENRICH_MCP_DATABASE_URL``
====================  ==========================================================  ===========================
job ledger + results  ``jobs.sqlite3`` (:class:`SqliteJobStore`)                  :class:`PgJobStore`
spend ledger          ``spend.sqlite3`` (:class:`SpendLedger`)                    :class:`PgSpendStore`
result cache          ``cache/`` (:class:`DiskCacheStore`)                        :class:`PgCacheStore`
vendor rate windows   ``ratelimit.sqlite3`` (:class:`SqliteRateWindow`)           :class:`PgRateWindow`
sandbox state         ``sandbox/<vendor>.sqlite3`` (:class:`SqliteSandboxStore`)  :class:`PgSandboxStore`
====================  ==========================================================  ===========================

Each store sits behind a small protocol (``JobStore``, ``SpendStore``, ``CacheStore``,
``RateWindowStore``, ``SandboxStore``) with one implementation per backend; the embedded ones live
beside the code that uses them, the PostgreSQL ones together in :mod:`enrich_mcp.stores.postgres`
(one database, one versioned schema). The same contract tests run on both (``tests/stores/``).

The sandbox's state (``ENRICH_MCP_SANDBOX=1``) is one store per fake vendor, from
:meth:`Stores.sandbox`: on a database every replica serves the same sandbox, so a sandbox job one
replica started is found by the replica that polls it. Its handlers are synchronous, so its
PostgreSQL store uses synchronous connections of its own beside the async pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from enrich_mcp.budget import SpendLedger, SpendStore
from enrich_mcp.cache import CacheStore, DiskCacheStore, private_dir
from enrich_mcp.errors import ConfigError
from enrich_mcp.http import Rate
from enrich_mcp.jobs.store import JobStore, SqliteJobStore
from enrich_mcp.sandbox.store import SandboxStore, SqliteSandboxStore
from enrich_mcp.settings import Settings
from enrich_mcp.stores.ratelimit import RateWindowStore, SharedRateLimiter, SqliteRateWindow

if TYPE_CHECKING:
    from enrich_mcp.stores.postgres import PostgresDatabase

Backend = Literal["sqlite", "postgresql"]


@dataclass
class Stores:
    backend: Backend
    jobs: JobStore
    spend: SpendStore
    cache: CacheStore
    rates: RateWindowStore
    open_sandbox: Callable[[str], SandboxStore]
    """A fake vendor's sandbox state on this backend (use :meth:`sandbox`)."""
    database: PostgresDatabase | None = None
    where: str = ""
    """Where the state lives, safe to show (a directory, or the database URL without its password)."""
    sandboxes: dict[str, SandboxStore] = field(default_factory=dict)
    """The sandbox stores opened so far, by vendor (closed with the others)."""

    def sandbox(self, vendor: str) -> SandboxStore:
        """The fake ``vendor``'s state, shared by every process on these stores."""
        if vendor not in self.sandboxes:
            self.sandboxes[vendor] = self.open_sandbox(vendor)
        return self.sandboxes[vendor]

    def limiter(self, vendor: str, account: str, rate: Rate | None) -> SharedRateLimiter:
        """The one rate limiter of a vendor account, shared by every process on these stores."""
        return SharedRateLimiter(self.rates, f"{vendor}:{account}", rate)

    async def health(self) -> dict[str, Any]:
        """Whether the stores answer, and how fast (for ``/healthz``)."""
        if self.database is not None:
            return await self.database.health()
        started = time.perf_counter()
        try:
            with anyio.fail_after(3):
                await self.jobs.list(limit=1)
        except Exception as exc:
            return {"ok": False, "backend": self.backend, "error": type(exc).__name__}
        return {"ok": True, "backend": self.backend, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

    async def aclose(self) -> None:
        """Close what belongs to the running event loop (the PostgreSQL pool); reopened on next use."""
        if self.database is not None:
            await self.database.aclose()

    def close(self) -> None:
        for store in (self.jobs, self.spend, self.cache, self.rates, *self.sandboxes.values()):
            store.close()


def open_stores(settings: Settings, *, owner: str) -> Stores:
    """The stores ``settings`` ask for. Nothing connects yet: PostgreSQL opens its pool on first use."""
    if settings.database_url is not None:
        return _postgres(settings, owner=owner)
    home = private_dir(settings.home)
    return Stores(
        backend="sqlite",
        jobs=SqliteJobStore(home / "jobs.sqlite3"),
        spend=SpendLedger(home / "spend.sqlite3", owner=owner, lease_seconds=settings.lease_seconds),
        cache=DiskCacheStore(home / "cache"),
        rates=SqliteRateWindow(home / "ratelimit.sqlite3"),
        open_sandbox=lambda vendor: SqliteSandboxStore(home / "sandbox" / f"{vendor}.sqlite3"),
        where=str(home),
    )


def _postgres(settings: Settings, *, owner: str) -> Stores:
    try:  # imported on demand: the driver is an optional extra (enrich-mcp[postgres])
        from enrich_mcp.stores.postgres import (
            PgCacheStore,
            PgJobStore,
            PgRateWindow,
            PgSandboxStore,
            PgSpendStore,
            PostgresDatabase,
        )
        from enrich_mcp.stores.postgres.database import redacted_url
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            f"ENRICH_MCP_DATABASE_URL is set, but the PostgreSQL driver is not installed ({exc.name}).",
            hint="pip install 'enrich-mcp[postgres]'",
        ) from None
    assert settings.database_url is not None
    url = settings.database_url.get_secret_value()
    db = PostgresDatabase(url, origin=owner, max_size=settings.database_pool_size)
    return Stores(
        backend="postgresql",
        jobs=PgJobStore(db),
        spend=PgSpendStore(db, owner=owner, lease_seconds=settings.lease_seconds),
        cache=PgCacheStore(db),
        rates=PgRateWindow(db),
        open_sandbox=lambda vendor: PgSandboxStore(db, vendor),
        database=db,
        where=redacted_url(url),
    )
