"""Issue 10, in process: pay once, record every cent, lose no job.

Each test names the reproduction it covers ("#n") and asserts the exact vendor requests and the exact ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from enrich_mcp.budget import Budget, SpendLedger
from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.jobs import Job, JobControl, PollOutcome, SqliteJobStore
from enrich_mcp.sandbox import SandboxApp, load_sandbox
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect
from tests.jobs_fakes import Changes, FakeHandler, FakeVendor, fake_server, left_by_a_dead_process
from tests.vendors.sixtyfour.test_workflows import _create as _create_workflow  # pyright: ignore[reportPrivateUsage]

LEAD = {"name": "Ada Lovelace", "company": "Analytical Engines"}


@pytest.fixture
def build(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., EnrichServer]]:
    built: list[EnrichServer] = []

    def make(transports: dict[str, httpx.AsyncBaseTransport] | None = None, **settings: Any) -> EnrichServer:
        srv = build_server(make_settings(**settings), transports=transports)
        built.append(srv)
        return srv

    yield make
    for srv in built:
        srv.runtime.close()


def fake(build: Callable[..., EnrichServer], vendor: FakeVendor, **settings: Any) -> EnrichServer:
    return fake_server(lambda: build(toolsets=["core"], **settings), vendor)


async def call(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text


class Gated(httpx.AsyncBaseTransport):
    """A sandbox behind a gate: requests to ``path`` wait for ``gate`` (a slow vendor) before being answered."""

    def __init__(self, sandbox: SandboxApp, path: str, gate: anyio.Event) -> None:
        self.sandbox = sandbox
        self.path = path
        self.gate = gate
        self.arrived = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.sandbox.relative_path(request) == self.path:
            self.arrived.set()
            await self.gate.wait()
        return self.sandbox.handle(request)


async def ledger(server: EnrichServer) -> list[tuple[str, float | None]]:
    return [(r["status"], r["actual_usd"]) for r in await server.runtime.budget.ledger.rows()]


# -- #1 submit inside the call -------------------------------------------------------------------


async def test_a_refused_submit_is_a_tool_error_even_with_wait_zero(build: Callable[..., EnrichServer]) -> None:
    server = build(toolsets=["sixtyfour"])
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(400, {"detail": "query is too vague"}, path="/search/start-deep-search")
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_deep_search", {"query": "people", "wait_seconds": 0})
    assert "HTTP 400" in error_text(result) and "query is too vague" in error_text(result)
    assert len(sandbox.calls("POST", "/search/start-deep-search")) == 1
    assert await ledger(server) == [("void", 0.0)]
    [job] = await server.runtime.jobs.list()
    assert job.status == "failed"


async def test_the_handle_comes_back_only_after_the_vendor_accepted(build: Callable[..., EnrichServer]) -> None:
    server = build(toolsets=["sixtyfour"])
    async with connect(server) as client:
        out = await call(client, "sixtyfour_deep_search", query="CTOs in Lisbon", max_results=5, wait_seconds=0)
    assert out["finished"] is False
    assert out["job"]["vendor_job_id"]  # the vendor's task id is known when the handle is returned
    [row] = await server.runtime.budget.ledger.rows()
    assert row["job_id"] == out["job"]["job_id"]


# -- #2, #7 interrupted calls end their reservations ------------------------------------------------


async def test_a_slow_paid_call_the_client_stopped_waiting_for_is_recorded_once(
    build: Callable[..., EnrichServer],
) -> None:
    gate = anyio.Event()
    sandbox = load_sandbox("sixtyfour")
    transport = Gated(sandbox, "/find-email", gate)
    server = build(toolsets=["sixtyfour"], transports={"sixtyfour": transport})
    async with connect(server) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: client.call_tool("sixtyfour_find_email", {"lead": LEAD}))
            with anyio.fail_after(5):
                await transport.arrived.wait()
            tg.cancel_scope.cancel()  # the client cancels while the request is at the vendor
        settled = anyio.Event()
        spend = server.runtime.budget.ledger
        settle = spend.settle

        async def noting(*args: Any) -> bool:
            ended = await settle(*args)
            settled.set()
            return ended

        spend.settle = noting  # type: ignore[method-assign]
        gate.set()
        with anyio.fail_after(5):
            await settled.wait()
    # The request had left: the call was shielded, so the vendor's answer was read and the charge settled.
    assert await ledger(server) == [("settled", 0.05)]
    assert len(sandbox.calls("POST", "/find-email")) == 1


async def test_start_up_resolves_reservations_a_dead_process_left_pending(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(toolsets=["core"])
    old = SpendLedger(settings.home / "spend.sqlite3", owner="dead-process", lease_seconds=-1)
    common = {"at": 0.0, "vendor": "sixtyfour", "tool": "t", "operation": "find_email.PROFESSIONAL", "units": 1}
    never_sent = await old.insert(**common, estimated_usd=0.05, price_known=1)
    maybe_sent = await old.insert(**common, estimated_usd=0.20, price_known=1)
    await old.mark_sent(maybe_sent)
    old.close()

    server = build_server(settings)
    try:
        async with connect(server):
            rows = {r["id"]: (r["status"], r["actual_usd"]) for r in await server.runtime.budget.ledger.rows()}
    finally:
        server.runtime.close()
    assert rows == {never_sent: ("void", 0.0), maybe_sent: ("unknown", 0.20)}


# -- #3, #4 cancel tells the truth -----------------------------------------------------------------


async def test_cancel_right_after_an_enrichabl_start_reaches_enrichabl(build: Callable[..., EnrichServer]) -> None:
    from tests.vendors.enrichabl.conftest import seed
    from tests.vendors.enrichabl.test_runs import LEADS, template

    server = build(toolsets=["enrichabl"], poll_interval_seconds=60)
    sandbox: Any = server.runtime.sandboxes["enrichabl"]
    pipeline_id = seed(sandbox, "p", LEADS)
    template_id = template(sandbox, "ai", name="Summary", prompt_template="Summarize", model="gpt-4o-mini")
    async with connect(server) as client:
        for _ in range(3):
            started = await call(
                client,
                "enrichabl_start_enrichment",
                pipeline_id=pipeline_id,
                enrichment={"enrichment_type": "AI_COLUMN", "ai_template_id": template_id},
                wait_seconds=0,
            )
            assert started["job"]["vendor_job_id"]
            cancelled = await call(client, "cancel_job", job_id=started["job"]["job_id"])
            assert cancelled["cancelled_at_vendor"] is True
    assert len(sandbox.calls("POST", "/enrichment/start")) == 3
    cancels = [r for r in sandbox.requests if r.method == "POST" and r.url.path.endswith("/cancel")]
    assert len(cancels) == 3


async def test_cancelling_work_the_vendor_cannot_cancel_keeps_the_charge(build: Callable[..., EnrichServer]) -> None:
    server = build(toolsets=["sixtyfour"], budget_usd=1.00, poll_interval_seconds=60)
    async with connect(server) as client:
        for i in range(10):
            out = await call(client, "sixtyfour_deep_search", query=f"query {i}", max_results=10, wait_seconds=0)
            cancelled = await call(client, "cancel_job", job_id=out["job"]["job_id"])
            assert cancelled["cancelled_at_vendor"] is False
            assert "keeps working and billing" in cancelled["job"]["message"]
        refused = await client.call_tool("sixtyfour_deep_search", {"query": "one more", "max_results": 10})
        report = await call(client, "spend_report")
    assert "budget is left" in error_text(refused)
    assert report["spent_usd"] == pytest.approx(1.00) and report["remaining_usd"] == 0
    assert await ledger(server) == [("unknown", 0.10)] * 10


async def test_cancel_before_the_request_left_sends_nothing_and_voids(build: Callable[..., EnrichServer]) -> None:
    vendor = FakeVendor(hang_before_send=anyio.Event())
    server = fake(build, vendor)
    jobs = server.runtime.jobs
    async with connect(server) as client, anyio.create_task_group() as tg:
        tg.start_soon(lambda: client.call_tool("fake_search", {"query": "q", "price_usd": 0.5}))
        with anyio.fail_after(5):
            await vendor.about_to_send.wait()
        [job] = await jobs.list()
        cancelled = await call(client, "cancel_job", job_id=job.id)
        assert cancelled["job"]["status"] == "cancelled"
        assert vendor.hang_before_send is not None
        vendor.hang_before_send.set()
    stored = await jobs.get(job.id)
    assert vendor.submits == 0  # the "sending" mark was refused, so the request never left
    assert stored.summary.get("sent_to_vendor") is False
    assert await ledger(server) == [("void", 0.0)]


# -- #5 one driver per job across processes ---------------------------------------------------------


async def test_a_second_process_leaves_a_live_owners_job_alone_and_takes_it_over_when_it_goes(
    build: Callable[..., EnrichServer],
) -> None:
    vendor = FakeVendor(running_polls=3)
    settings = {"lease_seconds": 0.3, "poll_interval_seconds": 0.02}
    server_a = fake(build, vendor, **settings)
    server_b = fake(build, vendor, **settings)  # same home: a second MCP client's server
    changes = Changes(server_b.runtime.jobs)
    vendor.poll_gate = anyio.Event()
    async with connect(server_b):
        async with connect(server_a) as client_a:
            out = await call(client_a, "fake_search", query="q")
            job_id = out["job"]["job_id"]
            with anyio.fail_after(5):
                await vendor.until(lambda: vendor.polls_started >= 1)
            # B heartbeats several times while A holds the job: it must not touch it.
            with anyio.move_on_after(1.0):
                await changes.until(job_id, lambda j: False)
            assert job_id not in server_b.runtime.jobs._held  # pyright: ignore[reportPrivateUsage]
        # A stopped (its leases released): B resumes the job and finishes it.
        vendor.poll_gate.set()
        done = await changes.until(job_id, lambda j: j.done)
    assert done.status == "completed"
    assert vendor.submits == 1
    assert done.result_count == vendor.rows


async def test_a_lost_lease_stops_the_old_owner_from_writing(make_settings: Callable[..., Settings]) -> None:
    store = SqliteJobStore(make_settings().home / "jobs.sqlite3")
    try:
        job = Job(id="j", vendor="fake", kind="fake.search", tool="t")
        await store.insert(job, owner="A", lease_seconds=-1)  # A's lease has expired
        [claimed] = await store.claim("B", 30, ["fake.search"])
        assert claimed.id == "j"
        job.status = "running"
        assert (await store.update(job, [{"row": 1}], owner="A")).value == "lost"
        assert (await store.update(job, [{"row": 1}], part="chunk-0", owner="B")).value == "ok"
        assert (await store.update(job, [{"row": 1}], part="chunk-0", owner="B")).value == "ok"
        assert await store.results("j", 0, 10) == [{"row": 1}]  # a part is stored once
    finally:
        store.close()


# -- #6 the cap holds under concurrency, in one process and across two ------------------------------


async def test_fifty_concurrent_reservations_never_pass_the_cap(make_settings: Callable[..., Settings]) -> None:
    path = make_settings().home / "spend.sqlite3"
    ledgers = [SpendLedger(path, owner=f"p{i}") for i in range(2)]  # two "processes" on one file
    budgets = [Budget(ledger, {"v.op": 0.05}, cap_usd=0.10) for ledger in ledgers]
    granted: list[int] = []
    refused: list[int] = []

    async def one(i: int) -> None:
        try:
            await budgets[i % 2].authorize(vendor="v", tool="t", operation="op")
            granted.append(i)
        except Exception:
            refused.append(i)

    try:
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(one, i)
        assert (len(granted), len(refused)) == (2, 48)
        assert await ledgers[0].committed_usd() == pytest.approx(0.10)
    finally:
        for ledger_ in ledgers:
            ledger_.close()


# -- #8 accepted but unreadable --------------------------------------------------------------------


async def test_a_200_that_cannot_be_read_is_unknown_not_free(build: Callable[..., EnrichServer]) -> None:
    seen: list[httpx.Request] = []

    def garbled(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"<html>upstream proxy page</html>")

    server = build(toolsets=["sixtyfour"], transports={"sixtyfour": httpx.MockTransport(garbled)})
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_email", {"lead": LEAD})
    assert result.is_error
    assert len(seen) == 1
    assert await ledger(server) == [("unknown", 0.05)]


# -- #10 polling ends --------------------------------------------------------------------------------


class ConfusedHandler(FakeHandler):
    """A vendor that answers every poll with a status word its document does not have."""

    async def poll(self, job: Job, ctl: JobControl) -> PollOutcome:
        self.vendor_state.poll_count += 1
        raise VendorProtocolError("fake", "job-status reported the undocumented status 'RETICULATING'")


async def test_an_undocumented_status_word_ends_the_job_after_a_few_polls(build: Callable[..., EnrichServer]) -> None:
    vendor = FakeVendor()
    server = build(toolsets=["core"], poll_interval_seconds=0.001)
    server.runtime.jobs.register(ConfusedHandler(vendor, kind="fake.confused"))
    server.runtime.budget.prices["fake.op"] = 0.25
    charge = await server.runtime.budget.authorize(vendor="fake", tool="t", operation="op")
    changes = Changes(server.runtime.jobs)
    async with connect(server):
        job, _ = await server.runtime.jobs.start(
            vendor="fake", kind="fake.confused", tool="t", request={"query": "q"}, charge=charge
        )
        done = await changes.until(job.id, lambda j: j.done)
    assert done.status == "failed"
    assert "RETICULATING" in (done.error or "")
    assert vendor.poll_count == server.runtime.jobs.max_poll_errors
    assert await ledger(server) == [("unknown", 0.25)]  # the vendor accepted the work: never recorded as free


# -- #11 paying twice by accident ------------------------------------------------------------------


async def test_ten_identical_concurrent_calls_make_one_paid_call(build: Callable[..., EnrichServer]) -> None:
    gate = anyio.Event()
    sandbox = load_sandbox("sixtyfour")
    transport = Gated(sandbox, "/find-email", gate)
    server = build(toolsets=["sixtyfour"], transports={"sixtyfour": transport})
    results: list[Any] = []
    async with connect(server) as client:

        async def one() -> None:
            results.append(await client.call_tool("sixtyfour_find_email", {"lead": LEAD}))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(one)
            with anyio.fail_after(5):
                await transport.arrived.wait()
            await anyio.sleep(0.05)  # let the other nine reach the single flight
            gate.set()
    assert len(sandbox.calls("POST", "/find-email")) == 1
    assert all(not r.is_error for r in results)
    assert sorted(r.structured_content["cost_usd"] for r in results) == [0.0] * 9 + [0.05]
    assert await ledger(server) == [("settled", 0.05)]


async def test_repeating_a_job_start_returns_the_running_job_and_fresh_starts_another(
    build: Callable[..., EnrichServer],
) -> None:
    vendor = FakeVendor(running_polls=10**9)
    server = fake(build, vendor)
    async with connect(server) as client:
        first = await call(client, "fake_search", query="q", price_usd=0.5)
        again = await call(client, "fake_search", query="q", price_usd=0.5)
        forced = await call(client, "fake_search", query="q", price_usd=0.5, fresh=True)
    assert again["job"]["job_id"] == first["job"]["job_id"] and again["reused"] is True
    assert forced["job"]["job_id"] != first["job"]["job_id"] and forced["reused"] is False
    assert vendor.submits == 2
    # Two reservations, one per job actually started; both jobs are still running (a next server resumes them).
    assert [s for s, _ in await ledger(server)] == ["pending", "pending"]


# -- #12 the poller outlives any one session -------------------------------------------------------


async def test_the_poller_runs_while_any_session_is_open(build: Callable[..., EnrichServer]) -> None:
    vendor = FakeVendor()
    server = fake(build, vendor)
    runtime = server.runtime
    first_done = anyio.Event()
    async with anyio.create_task_group() as tg:

        async def first_session() -> None:
            async with runtime.serving():
                await first_done.wait()

        tg.start_soon(first_session)
        async with runtime.serving():
            assert runtime.jobs.running
            first_done.set()
            await anyio.sleep(0.05)  # the first session has left
            assert runtime.jobs.running
            async with connect(server) as client:
                out = await call(client, "fake_search", query="q", wait_seconds=5)
            assert out["job"]["status"] == "completed"
    assert not runtime.jobs.running


# -- "unknown" is a last resort: idempotent steps are resent safely ---------------------------------


async def test_a_workflow_run_carries_a_stable_idempotency_key(build: Callable[..., EnrichServer]) -> None:
    server = build(toolsets=["sixtyfour"], poll_interval_seconds=60)
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        workflow = (await _create_workflow(client))["id"]
        out = await call(
            client,
            "sixtyfour_run_workflow",
            workflow_id=workflow,
            webhook_payload=[[{"key": "name", "value": "Ada"}]],
            wait_seconds=0,
        )
    [run] = sandbox.calls("POST", "/workflows/run")
    assert run.headers["Idempotency-Key"] == f"enrich-mcp-{out['job']['job_id']}-run"


async def test_a_resend_safe_step_that_may_have_left_is_sent_again_not_parked(
    make_settings: Callable[..., Settings],
) -> None:
    class Reusable(FakeHandler):
        async def submit(self, job: Job, ctl: JobControl) -> PollOutcome | None:
            await ctl.step("submit", lambda: self.vendor_state.submit(job.request), resend_safe=True)
            return None

    settings = make_settings(toolsets=["core"])
    await left_by_a_dead_process(
        settings.home,
        Job(
            id="resend1",
            vendor="fake",
            kind="fake.search",
            tool="t",
            request={"query": "q"},
            state={"phase": "submit", "steps": {"submit": {"status": "sending", "at": 0.0}}},
        ),
    )
    vendor = FakeVendor()
    server = build_server(settings)
    server.runtime.jobs.register(Reusable(vendor))
    changes = Changes(server.runtime.jobs)
    try:
        async with connect(server):
            done = await changes.until("resend1", lambda j: j.done)
    finally:
        server.runtime.close()
    assert (done.status, vendor.submits) == ("completed", 1)


async def test_a_bulk_chunk_whose_answer_was_lost_is_not_resent_and_still_counted(
    build: Callable[..., EnrichServer],
) -> None:
    server = build(toolsets=["sixtyfour"])
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(504, {"detail": "gateway timeout"}, path="/find-email-bulk-async")  # chunk 0's answer is lost
    leads = [{"name": f"Person {i}", "company": "Acme"} for i in range(150)]
    async with connect(server) as client:
        out = await call(client, "sixtyfour_find_emails_bulk", leads=leads, wait_seconds=5)
    assert out["job"]["status"] == "completed"
    assert len(sandbox.calls("POST", "/find-email-bulk-async")) == 2  # chunk 0 was not resent
    assert out["job"]["summary"]["unknown"] == 100
    # 50 answered + 100 that may have been billed: never recorded as free.
    assert await ledger(server) == [("settled", pytest.approx(150 * 0.05))]


# -- "unknown" is a last resort: a step that may have left is looked up in the vendor's list --------


def _audiencelab_listing(rows: list[dict[str, Any]], posts: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/enrichments":
            posts.append(request)
            rows.append({"id": "new-job", "name": "Q4 list", "status": "IN_QUEUE", "total": 1, "created_at": None})
            return httpx.Response(202, json={"jobId": "new-job", "status": "IN_QUEUE"})
        if request.method == "GET" and request.url.path == "/enrichments":
            return httpx.Response(
                200, json={"total_records": len(rows), "page_size": 1000, "page": 1, "total_pages": 1, "data": rows}
            )
        return httpx.Response(404, json={"error": "not here"})

    return httpx.MockTransport(handle)


async def _resume_crashed_create(build: Callable[..., EnrichServer], rows: list[dict[str, Any]]) -> tuple[Job, int]:
    import datetime as dt

    posts: list[httpx.Request] = []
    server = build(
        toolsets=["audiencelab"],
        poll_interval_seconds=60,
        transports={"audiencelab": _audiencelab_listing(rows, posts)},
    )
    now = dt.datetime.now(dt.UTC).timestamp()
    await server.runtime.jobs.store.insert(
        Job(
            id="crashed-create",
            vendor="audiencelab",
            kind="audiencelab.enrichment",
            tool="audiencelab_enrich_contacts_bulk",
            request={"name": "Q4 list", "operator": "OR", "records": [{"email": "ada@example.com"}]},
            state={"phase": "submit", "steps": {"create": {"status": "sending", "at": now}}},
        ),
        owner="dead-process",
        lease_seconds=-1,
    )
    changes = Changes(server.runtime.jobs)
    async with connect(server):
        job = await changes.until("crashed-create", lambda j: j.phase == "poll" or j.done)
    return job, len(posts)


async def test_a_create_found_in_the_vendors_list_is_adopted_not_resent(build: Callable[..., EnrichServer]) -> None:
    import datetime as dt

    created = dt.datetime.now(dt.UTC).isoformat()
    listed = [{"id": "theirs-1", "name": "Q4 list", "status": "PROCESSING", "total": 1, "created_at": created}]
    job, posts = await _resume_crashed_create(build, listed)
    assert (job.vendor_job_id, posts) == ("theirs-1", 0)
    assert job.state["steps"]["create"]["reconciled"] is True


async def test_a_create_absent_from_the_vendors_list_is_sent(build: Callable[..., EnrichServer]) -> None:
    job, posts = await _resume_crashed_create(build, [])
    assert (job.vendor_job_id, posts) == ("new-job", 1)


async def test_a_create_the_list_cannot_tell_apart_is_unknown(build: Callable[..., EnrichServer]) -> None:
    old = "2020-01-01T00:00:00Z"
    listed = [{"id": "old-run", "name": "Q4 list", "status": "COMPLETED", "total": 1, "created_at": old}]
    job, posts = await _resume_crashed_create(build, listed)
    assert (job.status, posts) == ("unknown", 0)
