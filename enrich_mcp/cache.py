"""On-disk result cache: JSON text in diskcache, keyed by vendor, operation, request and account.

Keys are ``<vendor>:<operation>:<sha256(canonical request + account hash)>``;
the account is a hash of the API key, never the key itself. Values are JSON
strings, which diskcache stores as TEXT, so nothing is ever pickled or
unpickled. The directory is created 0700. Disk calls run in a worker thread so
the event loop never blocks on them.

``CacheStore`` is the seam: :class:`DiskCacheStore` here (the embedded default),
:class:`enrich_mcp.stores.postgres.PgCacheStore` for a team's replicas on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread
import diskcache

T = TypeVar("T")

DEFAULT_TTL = 7 * 24 * 3600.0


class CacheStore(Protocol):
    """What the cache needs from storage: strings in, strings out, each entry with its own TTL."""

    async def get(self, key: str) -> str | None:
        """The value, unless missing or expired."""
        ...

    async def set(self, key: str, value: str, ttl: float | None) -> None: ...
    async def delete(self, key: str) -> bool: ...
    async def matching(self, needles: Sequence[str]) -> list[tuple[str, str]]:
        """Every ``(key, value)`` whose value contains a needle (lower-cased needles; case-insensitive)."""
        ...

    async def erase(self, keys: Sequence[str]) -> int:
        """Delete ``keys`` so that their values are not recoverable from the store's files."""
        ...

    async def counts(self) -> tuple[int, int, dict[str, int]]:
        """Entries, bytes used, and entries by vendor (the key's first part)."""
        ...

    def close(self) -> None: ...


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it readable by the user only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


class DiskCacheStore:
    """The embedded :class:`CacheStore`: diskcache's SQLite files under the data directory.

    Disk calls run in a worker thread so the event loop never blocks on them.
    """

    def __init__(self, directory: Path) -> None:
        private_dir(directory)
        # Strings are stored raw by diskcache's Disk; nothing here pickles.
        self._cache = diskcache.Cache(str(directory), eviction_policy="least-recently-stored", size_limit=2**30)

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

    async def matching(self, needles: Sequence[str]) -> list[tuple[str, str]]:
        return await anyio.to_thread.run_sync(
            lambda: [(k, raw) for k, raw in self._items() if any(n in raw.lower() for n in needles)]
        )

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
        return self.ttls.get(f"{vendor}.{operation}", default if default is not None else self.default_ttl)

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

    async def forget(self, needles: list[str]) -> int:
        """Delete every entry whose request or value mentions any needle (case-insensitive)."""
        lowered = [n.lower() for n in needles if n]
        doomed = [key for key, _ in await self.store.matching(lowered)] if lowered else []
        if doomed:
            await self.store.erase(doomed)
        return len(doomed)

    async def related(self, needles: list[str]) -> list[str]:
        """Other identifiers of the people the needles point at (names, emails, phones, LinkedIn URLs).

        Erasing by email must also erase the name a vendor was asked with, which may be stored where the
        email never appears (a job request, a ledger subject).
        """
        lowered = [n.lower() for n in needles if n]
        found: dict[str, str] = {}
        for _, raw in await self.store.matching(lowered) if lowered else []:
            entry = json.loads(raw)
            for value in _identifiers(entry.get("request")) + _identifiers(entry.get("value")):
                # Prefer the spelling as given over a normalised (lower-cased) copy.
                if found.setdefault(value.lower(), value).islower():
                    found[value.lower()] = value
        return sorted((v for k, v in found.items() if k not in lowered), key=str.lower)

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


_PERSON_KEYS = frozenset(
    {"name", "full_name", "email", "b2b_email", "personal_email", "work_email", "phone", "b2b_phone",
     "personal_phone", "linkedin", "linkedin_url"}
)  # fmt: skip


def _identifiers(value: Any) -> list[str]:
    """Person identifiers inside a cached request or answer. Too-short or one-word names are left out: they
    would erase strangers."""
    out: list[str] = []
    if isinstance(value, dict):
        first, last = value.get("first_name"), value.get("last_name")
        if isinstance(first, str) and isinstance(last, str) and first.strip() and last.strip():
            out.append(f"{first.strip()} {last.strip()}")
        for key, item in value.items():
            if key in _PERSON_KEYS and isinstance(item, str):
                text = item.strip()
                if len(text) >= 5 and (key not in ("name", "full_name") or " " in text):
                    out.append(text)
            elif isinstance(item, dict | list):
                out.extend(_identifiers(item))
    elif isinstance(value, list):
        for item in value:
            out.extend(_identifiers(item))
    return out
