from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from enrich_mcp.jobs import Job
from enrich_mcp.sandbox.lance import (
    BROKE_PERSON,
    CANCELLED_PERSON,
    FAILING_PERSON,
    NO_DATA_PERSON,
    ODD_PERSON,
    ODD_STATUS,
    SLOW_PERSON,
    Sandbox,
)
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect, sandbox_of

KEY = "sandbox-key-not-secret"
PERSON = "550e8400-e29b-41d4-a716-446655440000"
URL = f"https://app.lance.so/api/v1/operations/enrichment/{PERSON}?field=emails"
PATH = f"/operations/enrichment/{PERSON}"


def lance(server: EnrichServer) -> Sandbox:
    return sandbox_of(server, Sandbox)


def text(result: Any) -> str:
    return result.content[0].text


async def spent(server: EnrichServer) -> float:
    return (await server.runtime.budget.report())["spent_usd"]


async def test_enrich_person_triggers_then_polls_to_finished(server: EnrichServer, era: str) -> None:
    sandbox = lance(server)
    async with connect(server, mode=era) as client:
        result = await client.call_tool("lance_enrich_person", {"person_id": PERSON, "field": "emails"})
    assert not result.is_error, result.content
    # A free read first (what exists decides whether the trigger pays), the trigger, then two polls.
    assert [(r.method, str(r.url)) for r in sandbox.requests] == [
        ("GET", URL),
        ("POST", URL),
        ("GET", URL),
        ("GET", URL),
    ]
    for request in sandbox.requests:
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.content == b""
    record = sandbox.history()[0]
    out = result.structured_content
    assert out is not None
    assert out["finished"] is True
    assert (out["status"], out["vendor_status"]) == ("completed", "finished")
    assert out["enrichment"] == record
    assert out["enrichment"]["dataFound"] is True
    assert out["enrichment"]["creditTransactionId"] is not None
    assert out["charged"] is True and out["cost_usd"] == 0.10
    assert out["job"]["vendor_job_id"] == record["id"]
    assert out["job"]["summary"] == {"enrichment_id": record["id"], "dataFound": True, "charged": True}
    _, rows = await server.runtime.jobs.results(out["job"]["job_id"])
    assert rows == [record]
    assert await spent(server) == pytest.approx(0.10)


async def test_second_call_returns_the_existing_enrichment_free(server: EnrichServer) -> None:
    sandbox = lance(server)
    args = {"person_id": PERSON, "field": "emails"}
    async with connect(server) as client:
        first = await client.call_tool("lance_enrich_person", args)
        second = await client.call_tool("lance_enrich_person", args)
    assert first.structured_content and second.structured_content
    assert len(sandbox.calls("POST", PATH)) == 2
    assert len(sandbox.calls("GET", PATH)) == 4  # 2 reads before the triggers; the second needed no poll
    assert len(sandbox.history()) == 1
    out = second.structured_content
    assert (out["status"], out["charged"], out["cost_usd"]) == ("completed", False, 0.0)
    assert out["enrichment"]["id"] == first.structured_content["enrichment"]["id"]
    assert "no credits used" in out["job"]["message"]
    rows = await server.runtime.budget.ledger.rows()
    assert [(r["status"], r["actual_usd"]) for r in rows] == [("settled", 0.10), ("settled", 0.0)]
    assert await spent(server) == pytest.approx(0.10)


async def _pending_job(server: EnrichServer, client: Any, args: dict[str, Any]) -> Job:
    """Start lance_enrich_person and return its job once Lance said "pending"."""
    triggered = anyio.Event()
    job_id = ""

    async def on_change(job: Job) -> None:
        if job.id == job_id and job.vendor_status == "pending":
            triggered.set()

    server.runtime.jobs.listeners.append(on_change)
    try:
        result = await client.call_tool("lance_enrich_person", {**args, "wait_seconds": 0})
        assert result.structured_content is not None, result.content
        job_id = result.structured_content["job"]["job_id"]
        if (await server.runtime.jobs.get(job_id)).vendor_status != "pending":
            with anyio.fail_after(5):
                await triggered.wait()
        return await server.runtime.jobs.get(job_id)
    finally:
        server.runtime.jobs.listeners.remove(on_change)


async def test_the_same_enrichment_asked_again_while_pending_returns_the_same_job_free(
    make_settings: Callable[..., Settings],
) -> None:
    # Slow polls keep the first enrichment pending while the second call asks for it again.
    server = build_server(make_settings(toolsets=["lance"], poll_interval_seconds=60))
    args = {"person_id": PERSON, "field": "phones", "wait_seconds": 0}
    try:
        async with connect(server) as client:
            first = (await client.call_tool("lance_enrich_person", args)).structured_content
            second = (await client.call_tool("lance_enrich_person", args)).structured_content
        assert first is not None and second is not None
        assert second["job"]["job_id"] == first["job"]["job_id"]
        assert (first["charged"], second["charged"]) == (True, False)
        assert second["cost_usd"] == 0.0
        assert len(lance(server).calls("POST", PATH)) == 1
        [row] = await server.runtime.budget.ledger.rows()
        assert row["status"] == "pending"  # one reservation, for the one enrichment still running
        assert len(lance(server).history()) == 1
    finally:
        server.runtime.close()


async def test_pending_enrichment_started_outside_enrich_mcp_is_not_charged(server: EnrichServer) -> None:
    """Issue 13.6: Lance returns a pending enrichment that Lance's web app started, free; it is not ours to pay."""
    sandbox = lance(server)
    outside = sandbox.trigger_elsewhere(SLOW_PERSON, "emails")
    async with connect(server) as client:
        job = await _pending_job(server, client, {"person_id": SLOW_PERSON, "field": "emails"})
        answer = await client.call_tool("lance_enrich_person", {"person_id": SLOW_PERSON, "field": "emails"})
    assert job.vendor_job_id == outside["id"]
    assert job.summary["charged"] is False
    assert answer.structured_content is not None
    assert (answer.structured_content["charged"], answer.structured_content["cost_usd"]) == (False, 0.0)
    assert len(sandbox.history()) == 1  # no enrichment was started by enrich-mcp


async def test_an_unreadable_state_before_the_trigger_counts_as_charged(server: EnrichServer) -> None:
    """When the read before the trigger fails, a pending answer may be ours: the budget errs on the safe side."""
    sandbox = lance(server)
    sandbox.trigger_elsewhere(SLOW_PERSON, "emails")
    sandbox.fail_next(500, {"error": {"code": "INTERNAL_ERROR", "message": "busy"}}, times=4, method="GET")
    async with connect(server) as client:
        job = await _pending_job(server, client, {"person_id": SLOW_PERSON, "field": "emails"})
    assert job.summary["charged"] is True


@pytest.mark.parametrize(
    ("person", "word", "status", "charged"),
    # A cancelled enrichment keeps its charge (the ledger's rule); a failed one is void.
    [(CANCELLED_PERSON, "cancelled", "cancelled", True), (ODD_PERSON, ODD_STATUS, "failed", False)],
)
async def test_cancelled_and_undocumented_statuses_end_the_job(
    server: EnrichServer, person: str, word: str, status: str, charged: bool
) -> None:
    async with connect(server) as client:
        result = await client.call_tool("lance_enrich_person", {"person_id": person, "field": "emails"})
    out = result.structured_content
    assert out is not None, result.content
    assert (out["status"], out["vendor_status"], out["charged"]) == (status, word, charged)
    if word == ODD_STATUS:
        assert out["job"]["error"] == f"Lance reported an undocumented status {word!r}."


async def test_a_pending_enrichment_past_800_s_reads_as_timeout(server: EnrichServer) -> None:
    sandbox = lance(server)
    async with connect(server) as client:
        job = await _pending_job(server, client, {"person_id": SLOW_PERSON, "field": "emails"})
        now = time.time()
        sandbox.clock = lambda: now + 801  # stored createdAt + the maximum age
        with anyio.fail_after(5):
            job = await server.runtime.jobs.wait(job.id, 5)
        status = await client.call_tool("lance_get_enrichment", {"person_id": SLOW_PERSON, "field": "emails"})
    assert (job.status, job.vendor_status) == ("failed", "timeout")
    assert status.structured_content is not None
    assert (status.structured_content["status"], status.structured_content["vendor_status"]) == ("failed", "timeout")
    # A timed-out enrichment is not reused: the next trigger starts a new one.
    async with connect(server) as client:
        again = await client.call_tool(
            "lance_enrich_person", {"person_id": SLOW_PERSON, "field": "emails", "wait_seconds": 0}
        )
    assert again.structured_content is not None
    assert len(sandbox.history()) == 2


async def test_no_data_found_still_completes(server: EnrichServer) -> None:
    async with connect(server) as client:
        result = await client.call_tool("lance_enrich_person", {"person_id": NO_DATA_PERSON, "field": "phones"})
    out = result.structured_content
    assert out is not None
    assert out["status"] == "completed"
    assert out["enrichment"]["dataFound"] is False
    assert out["job"]["message"] == "Finished: no contact data found"


async def test_failed_enrichment_is_reported_and_a_retry_creates_a_new_one(server: EnrichServer) -> None:
    sandbox = lance(server)
    args = {"person_id": FAILING_PERSON, "field": "emails"}
    async with connect(server) as client:
        first = await client.call_tool("lance_enrich_person", args)
        second = await client.call_tool("lance_enrich_person", args)
    assert not first.is_error and first.structured_content and second.structured_content
    out = first.structured_content
    assert (out["status"], out["vendor_status"]) == ("failed", "failed")
    assert out["job"]["error"] == "All enrichment providers failed for this person"
    assert out["charged"] is False and out["cost_usd"] == 0.0
    assert second.structured_content["enrichment"]["id"] != out["enrichment"]["id"]
    assert len(sandbox.history()) == 2
    assert await spent(server) == 0


async def test_wait_zero_returns_a_handle(server: EnrichServer) -> None:
    async with connect(server) as client:
        result = await client.call_tool(
            "lance_enrich_person", {"person_id": PERSON, "field": "emails", "wait_seconds": 0}
        )
        assert result.structured_content is not None
        assert result.structured_content["finished"] is False
        job_id = result.structured_content["job"]["job_id"]
        with anyio.fail_after(5):
            job = await server.runtime.jobs.wait(job_id, 5)
    assert (job.status, job.vendor_status) == ("completed", "finished")


async def test_bad_input_is_refused_before_any_request(server: EnrichServer) -> None:
    sandbox = lance(server)
    cases = [
        ("lance_enrich_person", {"person_id": "not-a-uuid", "field": "emails"}, "person_id"),
        ("lance_enrich_person", {"person_id": PERSON, "field": "Emails"}, "field: must be emails or phones"),
        ("lance_enrich_person", {"person_id": PERSON, "field": "email"}, "field: must be emails or phones"),
        ("lance_enrich_person", {"person_id": PERSON, "field": "emails", "wait_seconds": -1}, "wait_seconds"),
        ("lance_get_enrichment", {"person_id": "12345", "field": "phones"}, "person_id"),
        ("lance_get_enrichment", {"person_id": PERSON, "field": "PHONES"}, "field: must be emails or phones"),
    ]
    async with connect(server) as client:
        for tool, args, expected in cases:
            result = await client.call_tool(tool, args)
            assert result.is_error, args
            assert expected in text(result), (args, text(result))
    assert sandbox.requests == []
    assert await server.runtime.jobs.list() == []


async def test_insufficient_credits_is_an_actionable_tool_error(server: EnrichServer, era: str) -> None:
    sandbox = lance(server)
    async with connect(server, mode=era) as client:
        result = await client.call_tool("lance_enrich_person", {"person_id": BROKE_PERSON, "field": "emails"})
    assert result.is_error
    assert text(result).endswith(
        "lance returned HTTP 402 (INSUFFICIENT_CREDITS): Insufficient credits for enrichment_email. "
        "Required: 1 credits. Nothing was spent. Top up credits or raise the plan's quota in the vendor's "
        "dashboard, then retry."
    )
    assert len(sandbox.calls("POST", f"/operations/enrichment/{BROKE_PERSON}")) == 1
    assert len(sandbox.calls("GET")) == 1  # the free read before the trigger (404: none yet)
    assert await spent(server) == 0


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (401, "UNAUTHORIZED", "Invalid token", "check the key"),
        (500, "INTERNAL_ERROR", "Enrichment processing failed", "Retry in a few minutes"),
    ],
)
async def test_vendor_errors_on_trigger_spend_nothing(
    server: EnrichServer, status: int, code: str, message: str, expected: str
) -> None:
    sandbox = lance(server)
    sandbox.fail_next(status, {"error": {"code": code, "message": message}}, times=10)
    async with connect(server) as client:
        result = await client.call_tool("lance_enrich_person", {"person_id": PERSON, "field": "emails"})
    assert result.is_error
    assert f"lance returned HTTP {status} ({code}): {message}" in text(result)
    assert expected in text(result)
    assert KEY not in text(result)
    assert await spent(server) == 0


async def test_get_enrichment_reads_status(server: EnrichServer, era: str) -> None:
    sandbox = lance(server)
    async with connect(server, mode=era) as client:
        await client.call_tool("lance_enrich_person", {"person_id": PERSON, "field": "emails"})
        before = len(sandbox.requests)
        result = await client.call_tool("lance_get_enrichment", {"person_id": PERSON, "field": "emails"})
    assert not result.is_error, result.content
    [request] = sandbox.requests[before:]
    assert (request.method, str(request.url)) == ("GET", URL)
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert result.structured_content == {
        "status": "completed",
        "vendor_status": "finished",
        "enrichment": sandbox.history()[0],
    }
    assert await spent(server) == pytest.approx(0.10)


async def test_get_enrichment_not_found_says_what_to_do(server: EnrichServer) -> None:
    async with connect(server) as client:
        result = await client.call_tool("lance_get_enrichment", {"person_id": PERSON, "field": "phones"})
    assert result.is_error
    assert text(result).endswith(
        "lance returned HTTP 404 (NOT_FOUND): Enrichment not found "
        "No phones enrichment exists for this person yet; start one with lance_enrich_person."
    )


async def test_get_enrichment_401(server: EnrichServer) -> None:
    lance(server).fail_next(401, {"error": {"code": "UNAUTHORIZED", "message": "Invalid token"}})
    async with connect(server) as client:
        result = await client.call_tool("lance_get_enrichment", {"person_id": PERSON, "field": "phones"})
    assert result.is_error
    assert "HTTP 401 (UNAUTHORIZED): Invalid token" in text(result)


def test_sandbox_refuses_a_missing_token_in_the_documented_shape() -> None:
    response = Sandbox().handle(httpx.Request("GET", URL))
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "UNAUTHORIZED", "message": "Invalid or missing API key"}}
