"""The store contract: every rule the job manager, the budget and the cache rely on, run on both backends.

Two ``Stores`` opened with different owners stand for two processes (stdio servers on one data
directory, or replicas on one database).
"""

from __future__ import annotations

import time

import anyio
import pytest

from enrich_mcp.cache import ResultCache
from enrich_mcp.erasure import Matcher, parse_identifier
from enrich_mcp.http import Rate
from enrich_mcp.jobs import Job, Write
from tests.stores.conftest import Backend


def _job(job_id: str, *, kind: str = "fake.search", dedup_key: str | None = None, **kw: object) -> Job:
    return Job(id=job_id, vendor="fake", kind=kind, tool="fake_search", dedup_key=dedup_key, **kw)  # type: ignore[arg-type]


# -- the job ledger ------------------------------------------------------------------------------


async def test_a_job_is_stored_read_and_listed(backend: Backend) -> None:
    store = backend.open().jobs
    first = await store.insert(_job("j1", request={"q": "one"}, created_at=1.0), owner="p1", lease_seconds=30)
    await store.insert(_job("j2", created_at=2.0), owner="p1", lease_seconds=30)
    assert first.id == "j1"
    got = await store.get("j1")
    assert got is not None and got.request == {"q": "one"} and got.status == "queued"
    assert await store.get("nope") is None
    assert [j.id for j in await store.list()] == ["j2", "j1"]  # newest first
    assert [j.id for j in await store.list(limit=1)] == ["j2"]
    got.status = "running"
    assert await store.update(got, owner="p1") is Write.OK
    assert [j.id for j in await store.list(status="running")] == ["j1"]
    assert await store.list(vendor="other") == []


async def test_an_identical_unfinished_request_returns_the_open_job(backend: Backend) -> None:
    store = backend.open().jobs
    await store.insert(_job("a", dedup_key="k"), owner="p1", lease_seconds=30)
    again = await store.insert(_job("b", dedup_key="k"), owner="p1", lease_seconds=30)
    assert again.id == "a"
    found = await store.find_open("k")
    assert found is not None and found.id == "a"
    found.status = "completed"
    assert await store.update(found)
    assert await store.find_open("k") is None
    third = await store.insert(_job("c", dedup_key="k"), owner="p1", lease_seconds=30)
    assert third.id == "c"  # the first one ended: a new job


async def test_concurrent_identical_starts_in_two_processes_make_one_job(backend: Backend) -> None:
    a, b = backend.open("p1").jobs, backend.open("p2").jobs
    ids: list[str] = []

    async def start(n: int) -> None:
        store = a if n % 2 else b
        ids.append((await store.insert(_job(f"j{n}", dedup_key="same"), owner=f"p{n % 2}", lease_seconds=30)).id)

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(start, n)
    assert len(set(ids)) == 1
    assert len(await a.list()) == 1


async def test_a_guarded_write_is_refused_once_the_job_ended_or_moved(backend: Backend) -> None:
    store = backend.open().jobs
    job = await store.insert(_job("j1"), owner="p1", lease_seconds=30)
    job.status = "running"
    assert await store.update(job, owner="p1", lease_seconds=30) is Write.OK
    assert await store.update(job, owner="p2") is Write.LOST  # another process's driver: refused
    cancelled = job.model_copy(update={"status": "cancelled"})
    assert await store.update(cancelled) is Write.OK  # a cancel, by anyone
    job.status = "completed"
    assert await store.update(job, [{"late": 1}], owner="p1") is Write.ENDED  # the first end wins
    stored = await store.get("j1")
    assert stored is not None and stored.status == "cancelled"
    assert await store.results("j1", 0, 10) == []  # the refused rows were rolled back
    assert await store.update(_job("ghost")) is Write.ENDED


async def test_rows_of_one_part_are_stored_once(backend: Backend) -> None:
    a, b = backend.open("p1").jobs, backend.open("p2").jobs
    job = await a.insert(_job("j1"), owner="p1", lease_seconds=30)
    assert await a.update(job, [{"i": 0}, {"i": 1}], part="chunk-0", owner="p1")
    assert job.result_count == 2
    assert await a.update(job, [{"i": 0}, {"i": 1}], part="chunk-0", owner="p1")  # answered twice
    assert job.result_count == 2
    assert await b.update(job, [{"i": 2, "name": "Zoë"}], part="chunk-1")
    assert job.result_count == 3
    assert await b.results("j1", 0, 10) == [{"i": 0}, {"i": 1}, {"i": 2, "name": "Zoë"}]
    assert await b.results("j1", 1, 1) == [{"i": 1}]
    stored = await b.get("j1")
    assert stored is not None and stored.result_count == 3


async def test_claim_takes_unheld_and_expired_jobs_of_known_kinds_only(backend: Backend) -> None:
    a, b = backend.open("p1").jobs, backend.open("p2").jobs
    await a.insert(_job("held"), owner="p1", lease_seconds=30)
    await a.insert(_job("expired"), owner="dead", lease_seconds=-1)
    await a.insert(_job("other-kind", kind="elsewhere.kind"), owner="dead", lease_seconds=-1)
    done = await a.insert(_job("done", status="completed"), owner="dead", lease_seconds=-1)
    assert done.done
    claimed = await b.claim("p2", 30, ["fake.search"])
    assert [j.id for j in claimed] == ["expired"]
    assert await b.claim("p3", 30, ["fake.search"]) == []  # p2 holds it now
    assert await a.heartbeat("p1", 30) == {"held"}
    assert await b.heartbeat("p2", 30) == {"expired"}
    assert await a.claim("p1", 30, ["fake.search"]) == []  # its own are renewed by its heartbeat, not re-read


async def test_two_processes_claiming_at_once_split_the_jobs(backend: Backend) -> None:
    a, b = backend.open("p1").jobs, backend.open("p2").jobs
    for n in range(30):
        await a.insert(_job(f"j{n:02}"), owner="dead", lease_seconds=-1)
    claims: dict[str, list[str]] = {}

    async def claim(store_owner: str) -> None:
        store = a if store_owner == "p1" else b
        claims[store_owner] = [j.id for j in await store.claim(store_owner, 30, ["fake.search"])]

    async with anyio.create_task_group() as tg:
        tg.start_soon(claim, "p1")
        tg.start_soon(claim, "p2")
    assert not set(claims["p1"]) & set(claims["p2"])
    assert sorted(claims["p1"] + claims["p2"]) == [f"j{n:02}" for n in range(30)]


async def test_a_released_job_is_taken_over_at_once_and_the_old_owner_loses_it(backend: Backend) -> None:
    a, b = backend.open("p1").jobs, backend.open("p2").jobs
    job = await a.insert(_job("j1"), owner="p1", lease_seconds=30)
    await a.release("p1")
    assert [j.id for j in await b.claim("p2", 30, ["fake.search"])] == ["j1"]
    assert await a.heartbeat("p1", 30) == set()
    job.message = "stale driver"
    assert await a.update(job, owner="p1", lease_seconds=30) is Write.LOST


async def test_damaged_rows_are_skipped_and_reported(backend: Backend) -> None:
    store = backend.open().jobs
    await store.insert(_job("good"), owner="dead", lease_seconds=-1)
    await store.insert(_job("bad"), owner="dead", lease_seconds=-1)
    backend.damage("bad")
    assert [j.id for j in await store.list()] == ["good"]
    assert await store.get("bad") is None
    assert [j.id for j in await store.claim("p1", 30, ["fake.search"])] == ["good"]
    assert "bad" in store.damaged  # type: ignore[attr-defined]


async def test_annotate_adds_to_an_ended_jobs_summary(backend: Backend) -> None:
    store = backend.open().jobs
    job = await store.insert(_job("j1"), owner="p1", lease_seconds=30)
    job.status, job.summary = "cancelled", {"rows": 1}
    assert await store.update(job)
    await store.annotate("j1", {"cancelled_at_vendor": True})
    await store.annotate("nope", {"x": 1})
    stored = await store.get("j1")
    assert stored is not None and stored.summary == {"rows": 1, "cancelled_at_vendor": True}


async def test_forget_drops_a_persons_rows_and_scrubs_ended_jobs_only(backend: Backend) -> None:
    store = backend.open().jobs
    ada = Matcher({parse_identifier("ada@example.com")})
    job = await store.insert(
        _job("j1", request={"leads": [{"email": "Ada@Example.com"}, {"email": "bob@example.com"}]}),
        owner="p1",
        lease_seconds=30,
    )
    rows = [{"email": "bob@example.com"}, {"email": "ADA@example.com", "name": "Ada Lovelace"}, {"email": "c@x.io"}]
    await store.update(job, rows, owner="p1")
    running = await store.insert(_job("j2", request={"email": "ada@example.com"}), owner="p1", lease_seconds=30)
    assert await store.related(ada) >= {parse_identifier("Ada Lovelace")}
    dry = await store.forget(ada, dry_run=True)
    assert (dry.rows_removed, dry.jobs_scrubbed, sorted(dry.unfinished)) == (0, 0, ["j1", "j2"])  # both run
    job.status = "completed"
    assert await store.update(job, owner="p1")
    count = await store.forget(ada)
    assert (count.rows_removed, count.jobs_scrubbed, count.unfinished) == (1, 1, [running.id])
    stored = await store.get("j1")
    # The request keeps its positions (chunks are cut by position): the person's lead is a placeholder.
    assert stored is not None and stored.request == {"leads": [{"erased": True}, {"email": "bob@example.com"}]}
    assert stored.result_count == 2
    assert await store.results("j1", 0, 10) == [{"email": "bob@example.com"}, {"email": "c@x.io"}]  # no gap
    untouched = await store.get("j2")
    assert untouched is not None and untouched.request == {"email": "ada@example.com"}  # unfinished: left


# -- the spend ledger ----------------------------------------------------------------------------


def _row(usd: float = 0.05, **kw: object) -> dict[str, object]:
    return {
        "at": time.time(),
        "vendor": "sixtyfour",
        "tool": "sixtyfour_find_email",
        "operation": "find_email.PROFESSIONAL",
        "units": 1,
        "estimated_usd": usd,
        "actual_usd": None,
        "price_known": 1,
        "subject": None,
        "job_id": None,
        **kw,
    }


async def test_the_cap_holds_under_concurrency_across_processes(backend: Backend) -> None:
    ledgers = [backend.open(f"p{i}").spend for i in range(2)]
    granted: list[int] = []

    async def reserve(n: int) -> None:
        charge_id, _ = await ledgers[n % 2].reserve(1.00, **_row(0.05))
        if charge_id is not None:
            granted.append(charge_id)

    async with anyio.create_task_group() as tg:
        for n in range(50):
            tg.start_soon(reserve, n)
    assert len(granted) == 20
    assert await ledgers[0].committed_usd() == pytest.approx(1.00)
    assert len(await ledgers[1].rows()) == 20


async def test_a_reservation_ends_once(backend: Backend) -> None:
    spend = backend.open().spend
    charge_id = await spend.insert(**_row(0.20, subject="Ada"))
    row = await spend.get(charge_id)
    assert row is not None and row["status"] == "pending" and row["owner"] == "p1" and row["sent"] == 0
    assert await spend.settle(charge_id, "settled", 0.05)
    assert not await spend.settle(charge_id, "void", 0.0)  # the first end wins
    row = await spend.get(charge_id)
    assert row is not None and (row["status"], row["actual_usd"]) == ("settled", 0.05)
    assert await spend.committed_usd() == pytest.approx(0.05)
    assert await spend.get(999_999) is None


async def test_the_sweep_ends_reservations_of_dead_processes(backend: Backend) -> None:
    dead = backend.open("dead", lease_seconds=-1).spend
    alive = backend.open("alive").spend
    never_sent = await dead.insert(**_row())
    sent = await dead.insert(**_row())
    await dead.mark_sent(sent)
    of_a_job = await dead.insert(**_row())
    await dead.attach_job(of_a_job, "job-1")
    mine = await alive.insert(**_row())
    assert await alive.sweep("alive") == 2
    statuses = {r["id"]: (r["status"], r["actual_usd"]) for r in await alive.rows()}
    assert statuses[never_sent] == ("void", 0.0)
    assert statuses[sent] == ("unknown", 0.05)  # it may have reached the vendor: the estimate counts
    assert statuses[of_a_job] == ("pending", None)  # left to its job
    assert statuses[mine] == ("pending", None)  # our lease is alive
    assert [r["id"] for r in await alive.pending_for_jobs()] == [of_a_job]
    await alive.heartbeat("alive", 30)
    await alive.release("alive")  # shutdown: ours end now
    assert (await alive.get(mine) or {})["status"] == "void"


async def test_forget_blanks_subjects_and_keeps_amounts(backend: Backend) -> None:
    spend = backend.open().spend
    kept = await spend.insert(**_row(subject="Bob Stone"))
    erased = await spend.insert(**_row(subject="ada@example.com"))
    assert await spend.forget(Matcher({parse_identifier("ADA@example.com")})) == 1
    rows = {r["id"]: r for r in await spend.rows()}
    assert rows[erased]["subject"] == "[erased]" and rows[erased]["estimated_usd"] == 0.05
    assert rows[kept]["subject"] == "Bob Stone"


# -- the cache -----------------------------------------------------------------------------------


async def test_cache_entries_round_trip_and_expire_by_their_own_ttl(backend: Backend) -> None:
    cache = backend.open().cache
    await cache.set("acme:lookup:1", '{"v": "Zoë"}', 60)
    await cache.set("acme:lookup:2", '{"v": 2}', None)
    await cache.set("acme:other:3", '{"v": 3}', -1)  # already expired
    assert await cache.get("acme:lookup:1") == '{"v": "Zoë"}'
    assert await cache.get("acme:lookup:2") == '{"v": 2}'
    assert await cache.get("acme:other:3") is None
    await cache.set("acme:lookup:1", '{"v": 1}', 60)  # overwrite
    assert await cache.get("acme:lookup:1") == '{"v": 1}'
    entries, size, per_vendor = await cache.counts()
    assert (entries, per_vendor) == (2, {"acme": 2}) and size > 0
    assert await cache.delete("acme:lookup:2") and not await cache.delete("acme:lookup:2")


async def test_the_result_cache_forgets_a_person_on_both_backends(backend: Backend) -> None:
    stores = backend.open()
    cache = ResultCache(stores.cache, ttls={"acme.lookup": 60})
    ada_request = {"email": "Ada.Lovelace@example.com", "name": "Ada Lovelace"}
    await cache.set("acme", "lookup", ada_request, "acct", {"phone": "+1 555 0100"})
    await cache.set("acme", "lookup", {"email": "bob@example.com"}, "acct", {"name": "Bob Stone"})
    ada = Matcher({parse_identifier("ada.lovelace@example.com")})
    assert await cache.related(ada) == {parse_identifier("Ada Lovelace"), parse_identifier("+15550100")}
    assert await cache.forget(ada, dry_run=True) == 1
    assert await cache.forget(ada) == 1
    assert await cache.get("acme", "lookup", ada_request, "acct") is None
    kept = await cache.get("acme", "lookup", {"email": "bob@example.com"}, "acct")
    assert kept is not None and kept.value == {"name": "Bob Stone"}
    assert (await cache.summary())["entries"] == 1


# -- the shared rate window ------------------------------------------------------------------------


async def test_the_rate_window_is_shared_by_every_process(backend: Backend) -> None:
    a, b = backend.open("p1").rates, backend.open("p2").rates
    rate = Rate(4, 60)
    waits = [await (a if n % 2 else b).take("sixtyfour:acct", rate) for n in range(4)]
    assert waits == [0.0] * 4
    full = await a.take("sixtyfour:acct", rate)
    assert 59 < full <= 60  # until the first start leaves the window
    assert await b.take("sixtyfour:acct", rate) == full or 59 < await b.take("sixtyfour:acct", rate) <= 60
    assert await a.take("enrichabl:acct", rate) == 0.0  # another account's window
    # A process configured with a smaller limit waits for the start that brings the window under it.
    assert 59 < await b.take("sixtyfour:acct", Rate(2, 60)) <= 60


async def test_a_vendor_block_holds_every_process(backend: Backend) -> None:
    a, b = backend.open("p1").rates, backend.open("p2").rates
    assert await a.take("lance:acct", None, block_for=30) > 29
    assert 29 < await b.take("lance:acct", None) <= 30
    assert 29 < await b.take("lance:acct", Rate(100, 1)) <= 30
