"""The on-disk result cache: hits, TTL, fresh, account separation, permissions, JSON only."""

from __future__ import annotations

import os
import pickle
import sqlite3
import stat
from pathlib import Path

import pytest

from enrich_mcp.cache import DiskCacheStore, ResultCache, account_id
from enrich_mcp.erasure import Matcher, parse_identifier


@pytest.fixture
def cache(tmp_path: Path) -> ResultCache:
    return ResultCache(DiskCacheStore(tmp_path / "cache"), ttls={"acme.lookup": 60})


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> dict[str, object]:
        self.calls += 1
        return {"email": "ada@example.com", "n": self.calls}


async def test_hit_after_miss_and_fresh_bypasses(cache: ResultCache) -> None:
    fetch = Counter()
    first = await cache.get_or_fetch("acme", "lookup", {"name": "Ada"}, "acct", fetch)
    second = await cache.get_or_fetch("acme", "lookup", {"name": "Ada"}, "acct", fetch)
    fresh = await cache.get_or_fetch("acme", "lookup", {"name": "Ada"}, "acct", fetch, fresh=True)
    assert (first.hit, second.hit, fresh.hit) == (False, True, False)
    assert second.value == {"email": "ada@example.com", "n": 1}
    assert fresh.value["n"] == 2
    assert fetch.calls == 2
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


async def test_key_is_canonical_and_per_account(cache: ResultCache) -> None:
    assert cache.key("acme", "lookup", {"a": 1, "b": 2}, "x") == cache.key("acme", "lookup", {"b": 2, "a": 1}, "x")
    assert cache.key("acme", "lookup", {"a": 1}, "x") != cache.key("acme", "lookup", {"a": 1}, "y")
    assert cache.key("acme", "lookup", {"a": 1}, "x") != cache.key("acme", "other", {"a": 1}, "x")
    assert account_id("secret-key") != "secret-key" and "secret" not in account_id("secret-key")
    assert account_id(None) == "anon"


async def test_ttl_expiry(cache: ResultCache, monkeypatch: pytest.MonkeyPatch) -> None:
    import diskcache.core

    now = [1_000_000.0]
    monkeypatch.setattr(diskcache.core.time, "time", lambda: now[0])
    await cache.set("acme", "lookup", {"q": 1}, "a", {"v": 1})
    now[0] += 59
    assert await cache.get("acme", "lookup", {"q": 1}, "a") is not None
    now[0] += 2
    assert await cache.get("acme", "lookup", {"q": 1}, "a") is None
    assert cache.ttl("acme", "lookup") == 60
    assert cache.ttl("acme", "unknown") == cache.default_ttl


def test_a_ttl_set_for_an_operation_covers_its_variants(tmp_path: Path) -> None:
    ttls = {"acme.find": 60.0, "acme.find.PERSONAL": 5.0}
    cache = ResultCache(DiskCacheStore(tmp_path / "cache"), ttls=ttls, default_ttl=99)
    try:
        assert cache.ttl("acme", "find.PROFESSIONAL") == 60  # the operation's own TTL, set before modes had names
        assert cache.ttl("acme", "find.PERSONAL") == 5  # the closest name wins
        assert cache.ttl("acme", "finder") == 99  # a prefix of the text is not a prefix of the name
        assert cache.ttl("other", "find.PERSONAL") == 99
    finally:
        cache.close()


async def test_cache_if_skips_storing_empty_answers(cache: ResultCache) -> None:
    async def empty() -> dict[str, object]:
        return {}

    await cache.get_or_fetch("acme", "lookup", {"q": 2}, "a", empty, cache_if=bool)
    assert await cache.get("acme", "lookup", {"q": 2}, "a") is None


async def test_directory_is_private(tmp_path: Path) -> None:
    DiskCacheStore(tmp_path / "deep" / "cache")
    mode = stat.S_IMODE((tmp_path / "deep" / "cache").stat().st_mode)
    assert mode == 0o700


async def test_values_are_json_text_never_pickles(cache: ResultCache, tmp_path: Path) -> None:
    await cache.set("acme", "lookup", {"q": 3}, "a", {"email": "ada@example.com", "tags": ["x"]})
    await cache.set("acme", "big", {"q": 4}, "a", {"blob": "y" * 100_000})  # large values go to files
    db = sqlite3.connect(tmp_path / "cache" / "cache.db")
    rows = db.execute("SELECT key, raw, mode, value, filename FROM Cache").fetchall()
    assert rows
    for key, raw, mode, value, filename in rows:
        assert isinstance(key, str) and raw == 1
        if value is not None:
            assert isinstance(value, str) and value.startswith("{")
            assert not value.startswith(pickle.dumps({})[:2].decode("latin1"))
        else:
            text = (tmp_path / "cache" / filename).read_text(encoding="utf-8")
            assert text.startswith("{")
        assert mode in (1, 3)  # diskcache MODE_RAW / MODE_TEXT; MODE_PICKLE (4) never appears


async def test_forget_removes_matching_entries(cache: ResultCache) -> None:
    await cache.set("acme", "lookup", {"name": "Ada"}, "a", {"email": "Ada@Example.com"})
    await cache.set("acme", "lookup", {"name": "Alan"}, "a", {"email": "alan@example.com"})
    assert await cache.forget(Matcher({parse_identifier("ada@example.com")})) == 1
    summary = await cache.summary()
    assert summary["entries"] == 1
    assert summary["entries_by_vendor"] == {"acme": 1}


async def test_cache_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = DiskCacheStore(tmp_path / "cache")
        await store.set("k", "v" * 100_000, None)  # large enough for diskcache to write a value file
        store.close()
    finally:
        os.umask(old)
    entries = list((tmp_path / "cache").rglob("*"))
    assert any(p.suffix == ".val" for p in entries) and any(p.name == "cache.db" for p in entries)
    wrong = {
        str(p): oct(p.stat().st_mode & 0o777)
        for p in entries
        if p.stat().st_mode & 0o777 != (0o700 if p.is_dir() else 0o600)
    }
    assert wrong == {}
