"""The job system end to end: ledger, background poller, waiting, cancel, results, restarts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from mcp import Client

from enrich_mcp.jobs import Job, SqliteJobStore
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect
from tests.jobs_fakes import Changes, FakeVendor, fake_server, left_by_a_dead_process

Serve = Callable[[FakeVendor], EnrichServer]


@pytest.fixture
def serve(make_settings: Callable[..., Settings]) -> Iterator[Serve]:
    """Servers on one data directory with the fake vendor; each is closed at the end (a restart closes its own)."""
    servers: list[EnrichServer] = []

    def make(vendor: FakeVendor) -> EnrichServer:
        # Vendor toolsets stay off: the job machinery must not depend on any real vendor's tools.
        server = fake_server(lambda: build_server(make_settings(toolsets=["core"])), vendor)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.runtime.close()


async def _call(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


# -- waiting -------------------------------------------------------------------------------------


async def test_wait_zero_returns_a_handle_then_the_job_completes_in_the_background(serve: Serve, era: str) -> None:
    vendor = FakeVendor(rows=3)
    server = serve(vendor)
    changes = Changes(server.runtime.jobs)
    async with connect(server, mode=era) as client:
        handle = await _call(client, "fake_search", query="ceo acme", wait_seconds=0)
        assert handle["finished"] is False
        assert handle["rows"] is None
        job = handle["job"]
        assert job["status"] in ("queued", "running")
        assert job["resource_uri"] == f"enrich://jobs/{job['job_id']}"
        assert job["resource_uri"] in handle["next_step"]

        done = await changes.until(job["job_id"], lambda j: j.done)
        assert done.status == "completed"
        assert done.vendor_status == "DONE"  # the vendor's own word is kept beside ours
        assert done.result_count == 3
        info = await _call(client, "get_job", job_id=job["job_id"])
        assert info["status"] == "completed"
        assert info["status"] == "completed" and info["result_count"] == 3
    assert vendor.submits == 1


async def test_wait_long_enough_returns_the_finished_result_with_rows(serve: Serve, era: str) -> None:
    vendor = FakeVendor(rows=4)
    server = serve(vendor)
    async with connect(server, mode=era) as client:
        with anyio.fail_after(10):
            result = await _call(client, "fake_search", query="cto", wait_seconds=30)
    assert result["finished"] is True
    assert result["job"]["status"] == "completed"
    assert [r["email"] for r in result["rows"]] == [f"p{i}@example.com" for i in range(4)]
    assert result["rows"][0]["query"] == "cto"
    assert result["more_rows"] is False


async def test_a_failing_vendor_job_ends_failed_with_the_reason(serve: Serve) -> None:
    vendor = FakeVendor(fail=True)
    server = serve(vendor)
    async with connect(server) as client:
        with anyio.fail_after(10):
            result = await _call(client, "fake_search", query="x", wait_seconds=30)
    assert result["finished"] is True
    assert result["job"]["status"] == "failed"
    assert result["job"]["vendor_status"] == "ERROR"
    assert "ERROR" in result["job"]["error"]
    assert result["rows"] is None


async def test_progress_notifications_reach_a_waiting_caller(serve: Serve, era: str) -> None:
    vendor = FakeVendor(rows=5, running_polls=2)
    server = serve(vendor)
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with connect(server, mode=era) as client:
        with anyio.fail_after(10):
            result = await client.call_tool(
                "fake_search", {"query": "q", "wait_seconds": 30}, progress_callback=on_progress
            )
    assert not result.is_error
    assert len(updates) >= 2  # one per job change while waiting, not just the last
    assert updates[-1] == (5.0, 5.0, "Completed with 5 result row(s)")
    assert any(message and "Submit" in message for _, _, message in updates)


# -- results -------------------------------------------------------------------------------------


async def test_get_job_results_pages_with_next_offset_and_selects_fields(serve: Serve, era: str) -> None:
    vendor = FakeVendor(rows=25)
    server = serve(vendor)
    async with connect(server, mode=era) as client:
        with anyio.fail_after(10):
            done = await _call(client, "fake_search", query="q", wait_seconds=30)
        job_id = done["job"]["job_id"]
        assert done["job"]["result_count"] == 25

        seen: list[int] = []
        offset: int | None = 0
        pages = 0
        while offset is not None:
            page = await _call(client, "get_job_results", job_id=job_id, offset=offset, limit=10)
            assert page["offset"] == offset and page["limit"] == 10
            seen += [r["idx"] for r in page["rows"]]
            offset = page["next_offset"]
            pages += 1
        assert seen == list(range(25))
        assert pages == 3

        last = await _call(client, "get_job_results", job_id=job_id, offset=20, limit=10)
        assert len(last["rows"]) == 5 and last["next_offset"] is None
        beyond = await _call(client, "get_job_results", job_id=job_id, offset=100)
        assert beyond["rows"] == [] and beyond["next_offset"] is None

        slim = await _call(client, "get_job_results", job_id=job_id, limit=2, fields=["email", "missing"])
        assert slim["rows"] == [
            {"email": "p0@example.com", "missing": None},
            {"email": "p1@example.com", "missing": None},
        ]
        assert slim["next_offset"] == 2

        unknown = await client.call_tool("get_job_results", {"job_id": "nope"})
        assert unknown.is_error


async def test_list_jobs_filters_by_status_and_vendor(serve: Serve) -> None:
    vendor = FakeVendor()
    server = serve(vendor)
    async with connect(server) as client:
        with anyio.fail_after(10):
            done = await _call(client, "fake_search", query="q", wait_seconds=30)
        listed = await _call(client, "list_jobs", status="completed", vendor="fake")
        assert [j["job_id"] for j in listed["jobs"]] == [done["job"]["job_id"]]
        assert (await _call(client, "list_jobs", status="running"))["count"] == 0


# -- cancel --------------------------------------------------------------------------------------


async def test_cancel_job_tells_the_vendor_and_the_poller_stops(serve: Serve, era: str) -> None:
    vendor = FakeVendor(running_polls=10**9)  # runs until cancelled
    server = serve(vendor)
    changes = Changes(server.runtime.jobs)
    async with connect(server, mode=era) as client:
        handle = await _call(client, "fake_search", query="long", wait_seconds=0)
        job_id = handle["job"]["job_id"]
        running = await changes.until(job_id, lambda j: j.status == "running")
        assert running.vendor_job_id == "v1"

        cancelled = await _call(client, "cancel_job", job_id=job_id)
        assert cancelled["cancelled_at_vendor"] is True
        assert cancelled["job"]["status"] == "cancelled"
        assert cancelled["job"]["vendor_status"] == "cancelled"
        assert vendor.cancels == ["v1"]
        polls_at_cancel = vendor.polls_of("v1")

        # A second job going through several polls proves the poller ran on without touching the first.
        vendor.running_polls = 2
        with anyio.fail_after(10):
            other = await _call(client, "fake_search", query="short", wait_seconds=30)
        assert other["job"]["status"] == "completed"
        assert vendor.polls_of("v2") >= 3
        # A poll already in flight when the cancel landed may still reach the vendor; no new one starts.
        assert vendor.polls_of("v1") <= polls_at_cancel + 1
        assert (await _call(client, "get_job", job_id=job_id))["status"] == "cancelled"

        # Cancelling a finished job leaves it as it is.
        again = await _call(client, "cancel_job", job_id=other["job"]["job_id"])
        assert again["cancelled_at_vendor"] is False
        assert again["job"]["status"] == "completed"


async def test_a_poll_in_flight_cannot_undo_a_cancel(serve: Serve) -> None:
    vendor = FakeVendor(cancellable=False, running_polls=10**9, poll_gate=anyio.Event())
    server = serve(vendor)
    jobs = server.runtime.jobs
    changes = Changes(jobs)
    async with connect(server):
        job, _ = await jobs.start(vendor="fake", kind="fake.search", tool="t", request={"query": "q"})
        with anyio.fail_after(5):
            await vendor.until(lambda: vendor.polls_started == 1)
        # The first poll is now parked at the vendor; cancel under it.
        ended, at_vendor = await jobs.cancel(job.id)
        assert ended.status == "cancelled" and at_vendor is False
        assert "has no way to cancel" in (ended.message or "")
        assert vendor.poll_gate is not None
        vendor.poll_gate.set()
        with anyio.fail_after(5):
            await vendor.until(lambda: vendor.poll_count == 1)
        # Finish another job: by then the parked poll's answer has been applied (or refused).
        vendor.running_polls = 0
        other, _ = await jobs.start(vendor="fake", kind="fake.search", tool="t", request={"query": "r"})
        await changes.until(other.id, lambda j: j.done)
        stored = await jobs.get(job.id)
        assert stored.status == "cancelled"
        assert vendor.polls_of("v1") == 1  # never polled again


async def test_a_job_cancelled_while_submitting_is_cancelled_at_the_vendor_once_the_submit_lands(
    serve: Serve,
) -> None:
    vendor = FakeVendor(hang_after_submit=anyio.Event())
    server = serve(vendor)
    jobs = server.runtime.jobs
    async with connect(server), anyio.create_task_group() as tg:
        tg.start_soon(lambda: jobs.start(vendor="fake", kind="fake.search", tool="t", request={"query": "q"}))
        with anyio.fail_after(5):
            await vendor.submitted.wait()
        [job] = await jobs.list()
        ended, at_vendor = await jobs.cancel(job.id)
        assert ended.status == "cancelled" and at_vendor is False
        assert "submit was in flight" in (ended.message or "")
        assert vendor.hang_after_submit is not None
        vendor.hang_after_submit.set()
        with anyio.fail_after(5):
            await vendor.until(lambda: vendor.cancels == ["v1"])
        stored = await jobs.get(job.id)
        assert stored.status == "cancelled"
        assert vendor.poll_count == 0
    stored = await jobs.get(job.id)
    assert stored.summary["cancelled_at_vendor"] is True and stored.summary["vendor_job_id"] == "v1"


# -- durability ----------------------------------------------------------------------------------


async def test_restart_resumes_polling_and_never_submits_twice(serve: Serve, era: str) -> None:
    vendor = FakeVendor(rows=2, poll_gate=anyio.Event())  # polls park: A stops mid-job
    server_a = serve(vendor)
    changes_a = Changes(server_a.runtime.jobs)
    async with connect(server_a, mode=era) as client:
        handle = await _call(client, "fake_search", query="resume me", wait_seconds=0)
        job_id = handle["job"]["job_id"]
        await changes_a.until(job_id, lambda j: j.vendor_job_id is not None)
    server_a.runtime.close()
    assert vendor.submits == 1 and vendor.poll_count == 0

    assert vendor.poll_gate is not None
    vendor.poll_gate.set()
    server_b = serve(vendor)  # same home, same vendor
    changes_b = Changes(server_b.runtime.jobs)
    async with connect(server_b, mode=era) as client:
        listed = await _call(client, "list_jobs")
        assert job_id in [j["job_id"] for j in listed["jobs"]]
        done = await changes_b.until(job_id, lambda j: j.done)
        assert done.status == "completed"
        page = await _call(client, "get_job_results", job_id=job_id)
        assert [r["query"] for r in page["rows"]] == ["resume me", "resume me"]
    assert vendor.submits == 1
    assert vendor.poll_count >= 3


async def test_a_step_found_submitting_after_a_crash_makes_the_job_unknown_and_is_not_resent(
    make_settings: Callable[..., Settings],
    serve: Serve,
) -> None:
    settings = make_settings()
    await left_by_a_dead_process(
        settings.home,
        Job(
            id="crashed1",
            vendor="fake",
            kind="fake.search",
            tool="fake_search",
            request={"query": "q"},
            # The request was on its way, then the process died before the vendor's id was stored.
            state={"phase": "submit", "steps": {"submit": {"status": "sending", "at": 0.0}}},
        ),
    )

    vendor = FakeVendor()
    server = serve(vendor)
    changes = Changes(server.runtime.jobs)
    async with connect(server) as client:
        job = await changes.until("crashed1", lambda j: j.done)
        info = await _call(client, "get_job", job_id="crashed1")
    assert job.status == "unknown"
    assert "may have reached the vendor" in (job.error or "")
    assert "not resent" in (info["message"] or "")
    assert vendor.submits == 0


async def test_a_server_stopped_while_the_submit_was_in_flight_reports_unknown_after_restart(
    serve: Serve, era: str
) -> None:
    vendor = FakeVendor(hang_after_submit=anyio.Event())  # the vendor got it; the answer never comes back
    server_a = serve(vendor)
    async with connect(server_a, mode=era) as client, anyio.create_task_group() as tg:
        tg.start_soon(lambda: client.call_tool("fake_search", {"query": "q", "wait_seconds": 0}))
        with anyio.fail_after(5):
            await vendor.submitted.wait()
        tg.cancel_scope.cancel()  # the client gives up; then the server stops (past the grace period)
    [job] = await server_a.runtime.jobs.list()
    server_a.runtime.close()

    vendor.hang_after_submit = None
    server_b = serve(vendor)
    changes = Changes(server_b.runtime.jobs)
    async with connect(server_b, mode=era):
        job = await changes.until(job.id, lambda j: j.done)
    assert job.status == "unknown"
    assert job.state["steps"]["submit"]["status"] == "unknown"
    assert "was not sent again" in (job.error or "")
    assert vendor.submits == 1


async def test_a_job_written_but_never_sent_is_submitted_on_restart(
    make_settings: Callable[..., Settings], serve: Serve
) -> None:
    settings = make_settings()
    # Stopped after the ledger write but before the submit step began: safe to send now.
    await left_by_a_dead_process(
        settings.home,
        Job(id="unsent1", vendor="fake", kind="fake.search", tool="t", state={"phase": "submit"}),
    )
    vendor = FakeVendor()
    server = serve(vendor)
    changes = Changes(server.runtime.jobs)
    async with connect(server):
        job = await changes.until("unsent1", lambda j: j.done)
    assert job.status == "completed"
    assert vendor.submits == 1


@pytest.mark.parametrize("name", ["jobs.sqlite3", "spend.sqlite3"])
def test_ledgers_use_wal_and_synchronous_full(make_settings: Callable[..., Settings], name: str) -> None:
    server = build_server(make_settings(toolsets=["core"]))
    db = server.runtime.jobs.store.db if name == "jobs.sqlite3" else server.runtime.budget.ledger.db  # type: ignore[attr-defined]
    conn: sqlite3.Connection = db._conn  # pyright: ignore[reportPrivateUsage]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert (server.runtime.home / name).stat().st_mode & 0o077 == 0  # private to the user
    server.runtime.close()


async def test_a_store_update_never_reopens_an_ended_job(tmp_path: Any) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    job = Job(id="j1", vendor="fake", kind="k", tool="t")
    await store.insert(job, owner="me", lease_seconds=30)
    job.status = "running"
    assert await store.update(job, [{"a": 1}], owner="me")
    assert (await store.get("j1")).result_count == 1  # type: ignore[union-attr]
    job.status = "cancelled"
    assert await store.update(job)
    stale = Job(id="j1", vendor="fake", kind="k", tool="t", status="running")
    assert not await store.update(stale, [{"a": 2}])
    stored = await store.get("j1")
    assert stored is not None and stored.status == "cancelled"
    assert await store.results("j1", 0, 10) == [{"a": 1}]  # the refused rows were rolled back
    store.close()
