"""On-disk result cache: JSON text in diskcache, keyed by vendor, operation, request and account.

Keys are ``<vendor>:<operation>:<sha256(canonical request + account hash)>``;
the account is a hash of the API key, never the key itself. Values are JSON
strings, which diskcache stores as TEXT, so nothing is ever pickled or
unpickled. The directory is created 0700, its files 0600; a damaged cache is
moved aside (it is only a cache) with a warning naming it. Disk calls run in a worker thread so
the event loop never blocks on them.

``CacheStore`` is the seam: :class:`DiskCacheStore` here (the embedded default),
:class:`enrich_mcp.stores.postgres.PgCacheStore` for a team's replicas on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread
import diskcache
from diskcache.core import UNKNOWN

from enrich_mcp._sqlite import integrity_problem
from enrich_mcp.datadir import move_aside, private_dir, private_file, private_files
from enrich_mcp.erasure import Identifier, Matcher, harvest
from enrich_mcp.errors import DataDirectoryError

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TTL = 7 * 24 * 3600.0


class CacheStore(Protocol):
    """What the cache needs from storage: strings in, strings out, each entry with its own TTL."""

    async def get(self, key: str) -> str | None:
        """The value, unless missing or expired."""
        ...

    async def set(self, key: str, value: str, ttl: float | None) -> None: ...
    async def delete(self, key: str) -> bool: ...
    async def scan(self, keep: Callable[[str], bool]) -> list[tuple[str, str]]:
        """Every live ``(key, value)`` whose value ``keep`` accepts (a prefilter, run where the values are)."""
        ...

    async def erase(self, keys: Sequence[str]) -> int:
        """Delete ``keys``, and every expired entry, so that their values are not recoverable from the store."""
        ...

    async def counts(self) -> tuple[int, int, dict[str, int]]:
        """Entries, bytes used, and entries by vendor (the key's first part)."""
        ...

    def close(self) -> None: ...


class _PrivateDisk(diskcache.Disk):
    """diskcache's Disk, with the value files it writes for large values (and their two folders) made the
    user's only, whatever the process umask."""

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple[int | None, int, str | None, Any]:
        size, mode, filename, db_value = super().store(value, read, key=key)
        if filename:
            path = Path(self._directory) / filename  # pyright: ignore[reportAttributeAccessIssue]
            os.chmod(path, 0o600)
            for folder in (path.parent, path.parent.parent):
                os.chmod(folder, 0o700)
        return size, mode, filename, db_value


class DiskCacheStore:
    """The embedded :class:`CacheStore`: diskcache's SQLite files under the data directory.

    Disk calls run in a worker thread so the event loop never blocks on them.
    """

    def __init__(self, directory: Path) -> None:
        private_dir(directory, what="cache folder")
        self.moved_aside: Path | None = None
        database = directory / "cache.db"
        problem = _damage(database)
        if problem is not None:
            # Only a cache: move it aside (never delete what the user may want to inspect) and start empty.
            aside = self.moved_aside = move_aside(directory)
            logger.warning(
                "The cache %s was damaged (%s) and was moved aside to %s; enrich-mcp starts with an empty cache. "
                "Delete %s when you no longer need it: it may hold personal data.",
                directory,
                problem,
                aside,
                aside,
            )
            private_dir(directory, what="cache folder")
        private_file(database, what="cache database")
        try:
            # Strings are stored raw by diskcache's Disk; nothing here pickles.
            self._cache = diskcache.Cache(
                str(directory), eviction_policy="least-recently-stored", size_limit=2**30, disk=_PrivateDisk
            )
        except sqlite3.Error as exc:
            raise DataDirectoryError(
                f"enrich-mcp cannot open its cache {database} ({exc}). The cache can always be rebuilt: move the "
                f"folder {directory} aside (or delete it) and start again."
            ) from None
        # diskcache made its files (and value files) under the process umask: make them the user's only.
        private_files(directory)

    def _get(self, key: str) -> str | None:
        value = self._cache.get(key)
        return value if isinstance(value, str) else None

    def _items(self) -> Iterator[tuple[str, str]]:
        for key in list(self._cache.iterkeys()):
            value = self._cache.get(key)
            if isinstance(key, str) and isinstance(value, str):
                yield key, value

    async def get(self, key: str) -> str | None:
        return await anyio.to_thread.run_sync(self._get, key)

    async def set(self, key: str, value: str, ttl: float | None) -> None:
        await anyio.to_thread.run_sync(lambda: self._cache.set(key, value, expire=ttl))

    async def delete(self, key: str) -> bool:
        return await anyio.to_thread.run_sync(lambda: bool(self._cache.delete(key)))

    async def scan(self, keep: Callable[[str], bool]) -> list[tuple[str, str]]:
        return await anyio.to_thread.run_sync(lambda: [(k, raw) for k, raw in self._items() if keep(raw)])

    async def erase(self, keys: Sequence[str]) -> int:
        def run() -> int:
            count = sum(1 for key in keys if self._cache.delete(key))
            if keys:
                self.vacuum()
            return count

        return await anyio.to_thread.run_sync(run)

    async def counts(self) -> tuple[int, int, dict[str, int]]:
        def run() -> tuple[int, int, dict[str, int]]:
            per_vendor: dict[str, int] = {}
            entries = 0
            for key, _ in self._items():
                entries += 1
                vendor = key.split(":", 1)[0]
                per_vendor[vendor] = per_vendor.get(vendor, 0) + 1
            return entries, int(self._cache.volume()), per_vendor

        return await anyio.to_thread.run_sync(run)

    def close(self) -> None:
        self._cache.close()

    def vacuum(self) -> None:
        """Rewrite the database so erased values leave no trace in free pages."""
        self._cache.expire()
        sql = self._cache._sql  # pyright: ignore[reportPrivateUsage]
        # diskcache runs SQLite in WAL mode: erased rows live on in the -wal file until it is checkpointed.
        sql("PRAGMA wal_checkpoint(TRUNCATE)")
        sql("VACUUM")
        sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _damage(database: Path) -> str | None:
    """Why the cache database cannot be used, or None (missing and empty files are fine: they start anew)."""
    if database.is_symlink() or not database.is_file() or database.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        return integrity_problem(conn, database)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


def canonical(value: Any) -> str:
    """Stable JSON for hashing: sorted keys, no whitespace, strings stripped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def account_id(api_key: str | None) -> str:
    """A short, non-reversible id for the account that owns a key."""
    if not api_key:
        return "anon"
    return hashlib.sha256(b"enrich-mcp:" + api_key.encode()).hexdigest()[:16]


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0


@dataclass(frozen=True)
class Cached:
    """A cache answer: the value and whether it came from the cache (or from an identical call in flight)."""

    value: Any
    hit: bool
    age_seconds: float = 0.0
    shared: bool = False


@dataclass
class _Flight:
    done: anyio.Event = field(default_factory=anyio.Event)
    value: Any = None
    error: Exception | None = None


class ResultCache:
    def __init__(self, store: CacheStore, ttls: dict[str, float] | None = None, default_ttl: float = DEFAULT_TTL):
        self._flights: dict[str, _Flight] = {}
        self.store = store
        self.ttls = dict(ttls or {})
        self.default_ttl = default_ttl
        self.stats = CacheStats()

    def key(self, vendor: str, operation: str, request: Any, account: str) -> str:
        digest = hashlib.sha256(f"{account}\n{canonical(request)}".encode()).hexdigest()
        return f"{vendor}:{operation}:{digest}"

    def ttl(self, vendor: str, operation: str, default: float | None = None) -> float:
        """The TTL set for ``<vendor>.<operation>``, else for its nearest dotted prefix, else the default.

        A prefix covers an operation's variants: ``sixtyfour.find_email`` sets both ``find_email.PROFESSIONAL``
        and ``find_email.PERSONAL`` (and keeps working for settings written before the mode joined the name).
        """
        name = f"{vendor}.{operation}"
        while name.startswith(f"{vendor}."):
            if name in self.ttls:
                return self.ttls[name]
            name = name.rpartition(".")[0]
        return default if default is not None else self.default_ttl

    async def get(self, vendor: str, operation: str, request: Any, account: str) -> Cached | None:
        key = self.key(vendor, operation, request, account)
        raw = await self.store.get(key)
        if raw is None:
            self.stats.misses += 1
            return None
        entry = json.loads(raw)
        self.stats.hits += 1
        return Cached(entry["value"], True, max(0.0, time.time() - entry.get("at", time.time())))

    async def set(
        self, vendor: str, operation: str, request: Any, account: str, value: Any, *, ttl: float | None = None
    ) -> None:
        key = self.key(vendor, operation, request, account)
        entry = {"vendor": vendor, "operation": operation, "request": request, "value": value, "at": time.time()}
        raw = json.dumps(entry, ensure_ascii=False, default=str)
        await self.store.set(key, raw, self.ttl(vendor, operation, ttl))
        self.stats.writes += 1

    async def get_or_fetch(
        self,
        vendor: str,
        operation: str,
        request: Any,
        account: str,
        fetch: Callable[[], Awaitable[T]],
        *,
        fresh: bool = False,
        ttl: float | None = None,
        cache_if: Callable[[T], bool] | None = None,
    ) -> Cached:
        """The cached value, or ``fetch()``'s (stored unless ``cache_if`` says no). ``fresh`` skips the read.

        Identical concurrent calls share one fetch (single flight): ten agents asking for the same
        person at once make one paid vendor call; the others get its answer (or its error).
        """
        if not fresh and (cached := await self.get(vendor, operation, request, account)) is not None:
            return cached
        key = self.key(vendor, operation, request, account)
        flight = self._flights.get(key)
        if flight is not None:
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return Cached(flight.value, True, shared=True)
        flight = _Flight()
        self._flights[key] = flight
        try:
            value = await fetch()
            if cache_if is None or cache_if(value):
                await self.set(vendor, operation, request, account, value, ttl=ttl)
            flight.value = value
        except BaseException as exc:
            flight.error = exc if isinstance(exc, Exception) else None
            raise
        finally:
            del self._flights[key]
            flight.done.set()
        return Cached(value, False)

    async def forget(self, matcher: Matcher, *, dry_run: bool = False) -> int:
        """Delete every entry that mentions the person (a cached answer to a request naming them goes whole:
        kept without them, a later identical request would get a partial answer)."""
        candidates = await self.store.scan(matcher.may_hold)
        doomed = [key for key, raw in candidates if matcher.mentions(json.loads(raw))]
        if doomed and not dry_run:
            await self.store.erase(doomed)
        return len(doomed)

    async def related(self, matcher: Matcher) -> set[Identifier]:
        """The person's other identifiers (name, phones, LinkedIn) in the cached requests and answers about them.

        Erasing by email must also erase the name a vendor was asked with, which may be stored where the
        email never appears (a job request, a ledger subject).
        """
        found: set[Identifier] = set()
        for _, raw in await self.store.scan(matcher.may_hold):
            entry = json.loads(raw)
            found |= harvest({"request": entry.get("request"), "value": entry.get("value")}, matcher)
        return found

    async def summary(self) -> dict[str, Any]:
        entries, size, per_vendor = await self.store.counts()
        lookups = self.stats.hits + self.stats.misses
        return {
            "entries": entries,
            "size_bytes": size,
            "entries_by_vendor": per_vendor,
            "hits": self.stats.hits,
            "misses": self.stats.misses,
            "hit_rate": round(self.stats.hits / lookups, 4) if lookups else None,
        }

    def close(self) -> None:
        self.store.close()
