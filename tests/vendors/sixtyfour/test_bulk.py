from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp import Client

from enrich_mcp.server import EnrichServer
from tests.conftest import connect

KEY = "sandbox-key-not-secret"


def _leads(count: int, fail_at: frozenset[int] = frozenset()) -> list[dict[str, str]]:
    return [{"name": f"{'Fail' if i in fail_at else 'Person'} {i}", "company": "Acme"} for i in range(count)]


async def _all_rows(client: Client, job_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = await client.call_tool("get_job_results", {"job_id": job_id, "offset": offset, "limit": 100})
        assert page.structured_content is not None, page.content
        rows += page.structured_content["rows"]
        offset = page.structured_content["next_offset"]
    return rows


async def test_250_leads_go_in_three_chunks_with_a_partial_failure(server: EnrichServer, era: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    leads = _leads(250, fail_at=frozenset({120}))
    async with connect(server, mode=era) as client:
        result = await client.call_tool("sixtyfour_find_emails_bulk", {"leads": leads})
        assert not result.is_error, result.content
        out = result.structured_content
        assert out is not None
        rows = await _all_rows(client, out["job"]["job_id"])
    submits = sandbox.calls("POST", "/find-email-bulk-async")
    bodies = [json.loads(s.content) for s in submits]
    assert [len(b["leads"]) for b in bodies] == [100, 100, 50]
    assert bodies[0] == {"leads": leads[:100], "mode": "PROFESSIONAL"}
    assert bodies[2]["leads"] == leads[200:]
    assert all(s.headers["x-api-key"] == KEY for s in submits)
    assert all(str(s.url) == "https://api.sixtyfour.ai/find-email-bulk-async" for s in submits)
    for task in ("task_000000000001", "task_000000000002", "task_000000000003"):
        assert len(sandbox.calls("GET", f"/job-status/{task}")) == 3
    assert out["finished"] is True
    job = out["job"]
    assert job["status"] == "completed"
    assert job["result_count"] == 250
    assert job["summary"] == {"chunks": 3, "chunks_open": 0, "found": 249, "failed": 1}
    assert [r["index"] for r in rows] == list(range(250))
    assert rows[0] == {
        "index": 0,
        "lead": {"name": "Person 0", "company": "Acme"},
        "status": "found",
        "emails": [{"address": "person.0@acme.example.com", "status": "OK", "type": "COMPANY"}],
        "personal_email": None,
        "error": None,
    }
    assert rows[120]["status"] == "failed" and rows[120]["error"] == "Could not process this lead"
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(249 * 0.05)


async def test_a_402_on_one_chunk_keeps_the_other_chunks(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(402, {"detail": "Insufficient credits"}, method="POST", path="/find-phone-bulk-async")
    leads = _leads(150)
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_phones_bulk", {"leads": leads})
        out = result.structured_content
        assert out is not None
        rows = await _all_rows(client, out["job"]["job_id"])
    submits = sandbox.calls("POST", "/find-phone-bulk-async")
    assert [len(json.loads(s.content)["leads"]) for s in submits] == [100, 50]
    assert json.loads(submits[1].content) == {"leads": leads[100:]}
    job = out["job"]
    assert job["status"] == "completed"
    assert job["summary"] == {"chunks": 2, "chunks_open": 0, "failed": 100, "found": 50}
    by_index = {r["index"]: r for r in rows}
    assert sorted(by_index) == list(range(150))
    assert by_index[0]["status"] == "failed" and "HTTP 402" in by_index[0]["error"]
    assert by_index[100]["status"] == "found" and by_index[100]["phones"][0]["number"].startswith("+1 555-01")
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(50 * 0.30)


async def test_bulk_with_wait_zero_returns_a_handle_then_completes(server: EnrichServer) -> None:
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_emails_bulk", {"leads": _leads(3), "wait_seconds": 0})
        out = result.structured_content
        assert out is not None and out["finished"] is False and out["rows"] is None
        with anyio.fail_after(5):
            job = await server.runtime.jobs.wait(out["job"]["job_id"], 5)
    assert job.status == "completed" and job.result_count == 3


async def test_every_chunk_refused_is_a_tool_error_and_spends_nothing(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(400, {"detail": "Bad leads"}, path="/find-email-bulk-async")
    async with connect(server) as client:
        result = await client.call_tool(
            "sixtyfour_find_emails_bulk", {"leads": _leads(2), "mode": "PERSONAL", "wait_seconds": 0}
        )
    assert result.is_error
    assert "HTTP 400" in result.content[0].text and "Bad leads" in result.content[0].text  # type: ignore[union-attr]
    report = await server.runtime.budget.report()
    assert (report["spent_usd"], report["reserved_usd"]) == (0, 0)
    [job] = await server.runtime.jobs.list()
    assert job.status == "failed"


async def test_unidentified_lead_is_rejected_before_any_call(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_emails_bulk", {"leads": [{"name": "Ada"}, {"company": "Acme"}]})
    assert result.is_error
    assert "[1]" in result.content[0].text  # type: ignore[union-attr]
    assert sandbox.requests == []


async def test_sandbox_rejects_more_than_100_leads(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    http = server.runtime.vendors["sixtyfour"].http
    response = await http.request(
        "POST", "/find-email-bulk-async", json_body={"leads": _leads(101)}, ok_statuses=frozenset({400})
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "At most 100 leads per request, got 101"}
    assert len(sandbox.calls("POST", "/find-email-bulk-async")) == 1
