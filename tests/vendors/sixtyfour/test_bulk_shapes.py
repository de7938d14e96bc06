"""Issue 13.1: bulk finds through /job-status, whose result shape the document does not give."""

from __future__ import annotations

from typing import Any

import pytest

from enrich_mcp.sandbox.sixtyfour import Sandbox
from enrich_mcp.server import EnrichServer
from enrich_mcp.vendors.sixtyfour.jobs import bulk_answers
from tests.conftest import connect, sandbox_of
from tests.vendors.sixtyfour.test_bulk import _all_rows, _leads


def sixtyfour(server: EnrichServer) -> Sandbox:
    return sandbox_of(server, Sandbox)


@pytest.mark.parametrize("shape", Sandbox.variants["bulk_result"])
async def test_every_plausible_result_shape_gives_the_same_rows(server: EnrichServer, shape: str) -> None:
    sandbox = sixtyfour(server)
    sandbox.pin(bulk_result=shape)
    leads = [*_leads(5, fail_at=frozenset({3})), {"name": "Nobody Here", "company": "Acme"}]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_emails_bulk", {"leads": leads})
        out = result.structured_content
        assert out is not None, result.content
        rows = await _all_rows(client, out["job"]["job_id"])
    assert out["job"]["status"] == "completed"
    assert out["job"]["summary"] == {"chunks": 1, "chunks_open": 0, "found": 4, "failed": 1, "not_found": 1}
    assert [(r["index"], r["status"]) for r in rows] == [
        (0, "found"),
        (1, "found"),
        (2, "found"),
        (3, "failed"),
        (4, "found"),
        (5, "not_found"),
    ]
    assert [r["emails"][0]["address"] for r in rows if r["status"] == "found"] == [
        f"person.{i}@acme.example.com" for i in (0, 1, 2, 4)
    ]
    assert rows[3]["error"] == "Could not process this lead"
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(5 * 0.05)


@pytest.mark.parametrize("shape", Sandbox.variants["bulk_result"])
async def test_phone_shapes_too(server: EnrichServer, shape: str) -> None:
    sixtyfour(server).pin(bulk_result=shape)
    leads = [{"name": "Many Numbers", "company": "Acme"}, {"name": "Ada Lovelace", "company": "Acme"}]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_phones_bulk", {"leads": leads})
    out = result.structured_content
    assert out is not None and out["job"]["status"] == "completed", result.content
    assert [len(r["phones"]) for r in out["rows"]] == [2, 1]


async def test_an_unreadable_answer_is_kept_as_raw_rows_and_counted_as_spent(server: EnrichServer) -> None:
    """Before: the chunk was marked done, parsing raised, and the job ended "failed: No lead was answered"."""
    sandbox = sixtyfour(server)
    odd = {"task_id": "task_000000000001", "status": "completed", "result": {"file": "https://example.com/out.csv"}}
    sandbox.fail_next(200, odd, times=100, path="/job-status/task_000000000001")
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_emails_bulk", {"leads": _leads(3)})
        out = result.structured_content
        assert out is not None, result.content
        rows = await _all_rows(client, out["job"]["job_id"])
    job = out["job"]
    assert job["status"] == "completed"
    assert job["summary"] == {"chunks": 1, "chunks_open": 0, "unparsed": 3, "raw": 1}
    assert [r["status"] for r in rows] == ["unparsed", "unparsed", "unparsed", "raw"]
    assert rows[-1]["raw"] == {"file": "https://example.com/out.csv"}
    assert "raw row" in rows[0]["error"]
    # Sixtyfour finished (and presumably billed) the chunk: the budget counts it.
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(3 * 0.05)
    assert len(sandbox.calls("GET", "/job-status/task_000000000001")) == 1  # done once its rows were stored


async def test_parts_no_lead_claims_are_kept(server: EnrichServer) -> None:
    sandbox = sixtyfour(server)
    leads = _leads(2)
    answer = {
        "results": [
            {"lead": leads[1], "email": [["person.1@acme.example.com", "OK", "COMPANY"]]},
            {"lead": {"name": "Someone Else"}, "email": [["else@example.com", "OK", "COMPANY"]]},
        ]
    }
    sandbox.fail_next(200, {"status": "completed", "result": answer}, path="/job-status/task_000000000001")
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_emails_bulk", {"leads": leads})
        out = result.structured_content
        assert out is not None, result.content
        rows = await _all_rows(client, out["job"]["job_id"])
    assert [(r["index"], r["status"]) for r in rows] == [(0, "unparsed"), (1, "found"), (None, "raw")]
    assert rows[2]["raw"] == answer["results"][1]


LEADS = [{"name": "Ada", "company": "Acme"}, {"name": "Alan", "company": "Acme"}]
ADA = {"email": [["ada@acme.example.com", "OK", "COMPANY"]]}
ALAN = {"email": [["alan@acme.example.com", "OK", "COMPANY"]]}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([ADA, ALAN], [ADA, ALAN]),
        ({"results": [{"lead": LEADS[1], **ALAN}, {"lead": LEADS[0], **ADA}]}, [ADA, ALAN]),
        ({"leads": [{**LEADS[0], **ADA}, {**LEADS[1], **ALAN}]}, [ADA, ALAN]),
        ({"data": [{"input": LEADS[1], "output": ALAN}, {"input": LEADS[0], "output": ADA}]}, [ADA, ALAN]),
        ({"results": {"0": ADA, "1": ALAN}}, [ADA, ALAN]),
        ({"output": {"items": [ADA, ALAN]}}, [ADA, ALAN]),
        ({"emails_found": [ADA, ALAN]}, [ADA, ALAN]),
    ],
)
def test_bulk_answers_reads_each_shape(result: Any, expected: list[dict[str, Any]]) -> None:
    answers, unclaimed = bulk_answers(result, LEADS)
    assert [{"email": a["email"]} if a else None for a in answers] == expected
    assert unclaimed == []


def test_bulk_answers_with_an_email_only_lead_matches_by_the_echo() -> None:
    leads = [{"email": "a@acme.example.com"}, {"email": "b@acme.example.com"}]
    result = {"results": [{"lead": leads[1], **ALAN}, {"lead": leads[0], **ADA}]}
    answers, _ = bulk_answers(result, leads)
    assert answers == [ADA, ALAN]


def test_bulk_answers_never_drops_what_it_cannot_read() -> None:
    assert bulk_answers("done", LEADS) == ([None, None], ["done"])
    answers, unclaimed = bulk_answers([ADA], LEADS)  # one answer for two leads, no echo: order unknown
    assert answers == [None, None] and unclaimed == [ADA]
