"""The sandbox store's contract, on both backends: what the fake vendors rely on.

Two ``Stores`` opened with different owners stand for two processes (stdio servers on one data
directory, or replicas on one database). The store is synchronous (the sandbox's handlers are
``httpx.MockTransport`` functions), so concurrency here is threads, each with its own stores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest

from enrich_mcp.sandbox.sixtyfour import Sandbox as Sixtyfour
from enrich_mcp.sandbox.store import SandboxStore
from tests.stores.conftest import Backend

HEADERS = {"x-api-key": "k"}


def _threads(count: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]


async def test_records_are_stored_replaced_in_place_listed_and_deleted(backend: Backend) -> None:
    store = backend.open().sandbox("sixtyfour")
    store.put("task", "t1", {"n": 1, "name": "Ada é"})
    store.put("task", "t2", {"n": 2}, parent="p")
    store.put("task", "t3", {"n": 3}, parent="p")
    store.put("search", "t1", {"other": True})  # another kind: its own id space
    assert store.get("task", "t1") == {"n": 1, "name": "Ada é"}
    assert store.get("task", "nope") is None
    assert store.has("task", "t2") and not store.has("task", "nope")
    store.put("task", "t2", {"n": 22})  # replaced: keeps its place and its parent
    assert [r["n"] for r in store.list("task")] == [1, 22, 3]
    assert [r["n"] for r in store.list("task", newest_first=True)] == [3, 22, 1]
    assert [r["n"] for r in store.list("task", parent="p")] == [22, 3]
    assert [r["n"] for r in store.list("task", offset=1, limit=1)] == [22]
    assert [r["n"] for r in store.list("task", offset=1)] == [22, 3]
    assert (store.count("task"), store.count("task", parent="p"), store.count("search")) == (3, 2, 1)
    store.put("task", "t3", {"n": 33}, parent="q")  # a new parent, when given, moves it
    assert [r["n"] for r in store.list("task", parent="q")] == [33]
    assert store.delete("task", "t1") is True and store.delete("task", "t1") is False
    assert store.get("search", "t1") == {"other": True}
    store.put_many("lead", [(f"l{i}", {"i": i}) for i in range(5)], parent="pipe")
    store.put_many("lead", [])
    assert [r["i"] for r in store.list("lead", parent="pipe", newest_first=True, limit=2)] == [4, 3]
    assert store.list("empty") == [] and store.count("empty") == 0


async def test_settings_and_counters(backend: Backend) -> None:
    store = backend.open().sandbox("sixtyfour")
    assert store.meta("variants") is None and store.meta("seeded", False) is False
    store.set_meta("variants", {"bulk_result": "list"})
    store.set_meta("window", {"start": 1.5, "count": 2})
    assert store.meta("variants") == {"bulk_result": "list"} and store.meta("window") == {"start": 1.5, "count": 2}
    assert [store.counter("task"), store.counter("task"), store.counter("other")] == [1, 2, 1]
    assert store.meta("counter:task") == 2


async def test_a_closed_store_reopens_on_next_use_with_its_state(backend: Backend) -> None:
    """A server's stores close when it stops; the fake vendor (and a test reading it) outlives it."""
    store = backend.open().sandbox("sixtyfour")
    store.put("task", "t1", {"n": 1})
    store.close()
    store.close()
    assert store.get("task", "t1") == {"n": 1}
    with store.transaction():
        assert store.counter("ids") == 1


async def test_a_transaction_is_all_or_nothing_and_nested_ones_join_it(backend: Backend) -> None:
    store = backend.open().sandbox("sixtyfour")

    def failing_request() -> None:
        with store.transaction():
            store.put("task", "t1", {"n": 1})
            with store.transaction():
                store.set_meta("k", 1)
            store.counter("ids")
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError, match="the handler failed"):
        failing_request()
    assert store.get("task", "t1") is None and store.meta("k") is None and store.meta("counter:ids") is None
    with store.transaction():
        with store.transaction():
            store.put("task", "t1", {"n": 1})
        assert store.get("task", "t1") == {"n": 1}  # the outer transaction sees what the inner wrote
    assert store.get("task", "t1") == {"n": 1}


async def test_two_processes_share_one_vendor_state_and_vendors_are_apart(backend: Backend) -> None:
    first, second = backend.open("p1").sandbox("sixtyfour"), backend.open("p2").sandbox("sixtyfour")
    lance = backend.open("p1").sandbox("lance")
    with first.transaction():
        first.put("task", "t1", {"n": 1})
        first.set_meta("seeded", True)
        assert second.get("task", "t1") is None  # not before it commits
    assert second.get("task", "t1") == {"n": 1} and second.meta("seeded") is True
    assert first.counter("ids") == 1 and second.counter("ids") == 2
    assert lance.get("task", "t1") is None and lance.meta("seeded") is None and lance.counter("ids") == 1
    assert lance.list("task") == [] and lance.count("task") == 0


async def test_transactions_of_several_processes_never_interleave(backend: Backend) -> None:
    """A read-advance-write (a poll moving a job on) in one process never loses another's."""
    stores: list[SandboxStore] = [backend.open(f"p{n}").sandbox("sixtyfour") for n in range(4)]

    def advance(n: int) -> None:
        store = stores[n]
        for _ in range(15):
            with store.transaction():
                job = store.get("job", "j") or {"polls": 0}
                store.put("job", "j", {"polls": job["polls"] + 1})
                store.set_meta("seen", store.meta("seen", 0) + 1)

    _threads(4, advance)
    assert stores[0].get("job", "j") == {"polls": 60}
    assert stores[0].meta("seen") == 60


async def test_one_vendor_does_not_wait_for_another(backend: Backend) -> None:
    sixtyfour, lance = backend.open("p1").sandbox("sixtyfour"), backend.open("p2").sandbox("lance")
    done = threading.Event()

    def other_vendor(_: int) -> None:
        with lance.transaction():
            lance.put("job", "j", {"n": 1})
        done.set()

    with sixtyfour.transaction():
        sixtyfour.put("job", "j", {"n": 1})
        _threads(1, other_vendor)  # would hang (and fail) if every vendor shared one lock
    assert done.is_set() and lance.get("job", "j") == {"n": 1}


async def test_one_sandbox_life_cycle_whichever_process_answers(backend: Backend) -> None:
    first = Sixtyfour(store=backend.open("p1").sandbox("sixtyfour"))
    second = Sixtyfour(store=backend.open("p2").sandbox("sixtyfour"))
    assert first.shape == second.shape  # chosen once, stored
    started = first.handle(
        httpx.Request(
            "POST",
            "https://api.sixtyfour.ai/enrich-lead-async",
            json={"lead_info": {"name": "Ada"}, "struct": {"x": "y"}},
            headers=HEADERS,
        )
    )
    task_id = started.json()["task_id"]
    polls = [
        box.handle(httpx.Request("GET", f"https://api.sixtyfour.ai/job-status/{task_id}", headers=HEADERS)).json()[
            "status"
        ]
        for box in (second, first, second)
    ]
    assert polls == ["pending", "processing", "completed"]


async def test_several_processes_starting_sandbox_jobs_never_reuse_an_id(backend: Backend) -> None:
    boxes = [Sixtyfour(store=backend.open(f"p{n}").sandbox("sixtyfour")) for n in range(4)]
    ids: list[str] = []
    lock = threading.Lock()

    def start(n: int) -> None:
        for _ in range(15):
            request = httpx.Request(
                "POST", "https://api.sixtyfour.ai/search/start-deep-search", json={"query": "q"}, headers=HEADERS
            )
            task_id = boxes[n].handle(request).json()["task_id"]
            with lock:
                ids.append(task_id)

    _threads(4, start)
    assert len(ids) == len(set(ids)) == 60
