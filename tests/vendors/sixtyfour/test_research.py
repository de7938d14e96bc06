from __future__ import annotations

import json

import anyio
import pytest

from enrich_mcp.server import EnrichServer
from tests.conftest import connect

KEY = "sandbox-key-not-secret"
STRUCT = [
    {"name": "role", "description": "Current job title"},
    {"name": "years", "description": "Years in role", "type": "int"},
]
ROLE = [{"name": "role", "description": "Job title"}]


async def test_enrich_lead_polls_job_status_and_returns_the_result(server: EnrichServer, era: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    args = {
        "lead_info": {"name": "Ada Lovelace", "company": "Analytical Engines"},
        "struct": STRUCT,
        "research_plan": "Check the company site first",
    }
    async with connect(server, mode=era) as client:
        result = await client.call_tool("sixtyfour_enrich_lead", args)
    assert not result.is_error, result.content
    [submit] = sandbox.calls("POST", "/enrich-lead-async")
    assert str(submit.url) == "https://api.sixtyfour.ai/enrich-lead-async"
    assert submit.headers["x-api-key"] == KEY
    assert json.loads(submit.content) == {
        "lead_info": {"name": "Ada Lovelace", "company": "Analytical Engines"},
        "struct": {"role": "Current job title", "years": {"description": "Years in role", "type": "int"}},
        "research_plan": "Check the company site first",
    }
    polls = sandbox.calls("GET", "/job-status/task_000000000001")
    assert len(polls) == 3  # pending, processing, completed
    assert all(p.headers["x-api-key"] == KEY for p in polls)
    out = result.structured_content
    assert out is not None
    assert out["finished"] is True
    assert out["result"] == {
        "notes": "Synthetic research on Ada Lovelace.",
        "structured_data": {"role": "role of Ada Lovelace (synthetic)", "years": 42},
        "references": {"https://example.com/people/ada.lovelace": "Synthetic profile page"},
        "confidence_score": 9.0,
    }
    assert out["job"]["status"] == "completed" and out["job"]["vendor_status"] == "completed"
    assert out["job"]["vendor_job_id"] == "task_000000000001"
    assert out["cost_usd"] == 0.10
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(0.10)


async def test_enrich_lead_answer_is_cached_and_fresh_bypasses(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    args = {"lead_info": {"name": "Ada Lovelace"}, "struct": ROLE}
    async with connect(server) as client:
        first = await client.call_tool("sixtyfour_enrich_lead", args)
        second = await client.call_tool("sixtyfour_enrich_lead", args)
        fresh = await client.call_tool("sixtyfour_enrich_lead", {**args, "fresh": True})
    assert first.structured_content and second.structured_content and fresh.structured_content
    assert second.structured_content["cache"]["hit"] is True
    assert second.structured_content["job"] is None
    assert second.structured_content["cost_usd"] == 0.0
    assert second.structured_content["result"] == first.structured_content["result"]
    assert fresh.structured_content["cache"]["hit"] is False
    assert len(sandbox.calls("POST", "/enrich-lead-async")) == 2
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(0.20)


async def test_enrich_lead_wait_zero_returns_handle_then_completes(server: EnrichServer) -> None:
    args = {"lead_info": {"name": "Ada Lovelace"}, "struct": ROLE, "wait_seconds": 0}
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_enrich_lead", args)
        out = result.structured_content
        assert out is not None and out["finished"] is False and out["result"] is None
        job_id = out["job"]["job_id"]
        assert out["job"]["resource_uri"] == f"enrich://jobs/{job_id}"
        with anyio.fail_after(5):
            job = await server.runtime.jobs.wait(job_id, 5)
        assert job.status == "completed"
        page = await client.call_tool("get_job_results", {"job_id": job_id})
    assert page.structured_content is not None
    assert page.structured_content["rows"][0]["structured_data"] == {"role": "role of Ada Lovelace (synthetic)"}


async def test_failed_research_job_spends_nothing(server: EnrichServer) -> None:
    async with connect(server) as client:
        result = await client.call_tool(
            "sixtyfour_enrich_lead", {"lead_info": {"name": "Failing Person"}, "struct": ROLE}
        )
    out = result.structured_content
    assert out is not None
    assert out["job"]["status"] == "failed"
    assert "Could not find enough public information about Failing Person" in out["job"]["error"]
    assert out["result"] is None and out["cost_usd"] == 0.0
    assert (await server.runtime.budget.report())["spent_usd"] == 0


async def test_enrich_lead_rejects_empty_struct_before_any_call(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_enrich_lead", {"lead_info": {"name": "Ada"}, "struct": []})
        empty = await client.call_tool("sixtyfour_enrich_lead", {"lead_info": {}, "struct": ROLE})
    assert result.is_error and empty.is_error
    assert "lead_info is empty" in empty.content[0].text  # type: ignore[union-attr]
    assert sandbox.requests == []


async def test_enrich_company_with_people(server: EnrichServer, era: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    args = {
        "target_company": {"company_name": "Acme", "website": "https://acme.example.com"},
        "struct": [{"name": "industry", "description": "Industry"}],
        "lead_struct": [{"name": "name", "description": "Full name"}],
        "find_people": True,
        "people_focus_prompt": "Sales leaders",
    }
    async with connect(server, mode=era) as client:
        result = await client.call_tool("sixtyfour_enrich_company", args)
    assert not result.is_error, result.content
    [submit] = sandbox.calls("POST", "/enrich-company-async")
    assert submit.headers["x-api-key"] == KEY
    assert json.loads(submit.content) == {
        "target_company": {"company_name": "Acme", "website": "https://acme.example.com"},
        "struct": {"industry": "Industry"},
        "find_people": True,
        "lead_struct": {"name": "Full name"},
        "people_focus_prompt": "Sales leaders",
    }
    out = result.structured_content
    assert out is not None
    assert out["result"]["structured_data"] == {
        "industry": "industry of Acme (synthetic)",
        "leads": [
            {"name": "name of person 1 at Acme (synthetic)", "score": 9},
            {"name": "name of person 2 at Acme (synthetic)", "score": 7},
        ],
    }
    assert out["cost_usd"] == 0.10


async def test_enrich_company_people_options_need_find_people(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool(
            "sixtyfour_enrich_company",
            {"target_company": {"company_name": "Acme"}, "struct": ROLE, "people_focus_prompt": "CTOs"},
        )
    assert result.is_error
    assert "find_people" in result.content[0].text  # type: ignore[union-attr]
    assert sandbox.requests == []


async def test_qualify_lead_sends_documented_body(server: EnrichServer, era: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    args = {
        "data": [{"key": "name", "value": "Ada Lovelace"}, {"key": "company", "value": "Analytical Engines"}],
        "qualification_criteria": [
            {"criteria_name": "Seniority", "description": "Director or above", "weight": 2, "threshold": 0.5},
            {"criteria_name": "Industry", "description": "Works in computing"},
        ],
        "references": [{"url": "https://example.com/ada", "description": "Bio"}],
        "struct": [{"name": "summary", "description": "One-line summary"}],
    }
    async with connect(server, mode=era) as client:
        result = await client.call_tool("sixtyfour_qualify_lead", args)
    assert not result.is_error, result.content
    # The QA agent runs as a task (qa-agent-async, polled on /job-status): a slow agent is a job, not a lost answer.
    assert sandbox.calls("POST", "/qa-agent") == []
    [request] = sandbox.calls("POST", "/qa-agent-async")
    assert str(request.url) == "https://api.sixtyfour.ai/qa-agent-async"
    assert sandbox.calls("GET", None) and all("/job-status/" in r.url.path for r in sandbox.calls("GET", None))
    assert request.headers["x-api-key"] == KEY
    assert json.loads(request.content) == {
        "data": {"name": "Ada Lovelace", "company": "Analytical Engines"},
        "qualification_criteria": [
            {"criteria_name": "Seniority", "description": "Director or above", "weight": 2.0, "threshold": 0.5},
            {"criteria_name": "Industry", "description": "Works in computing", "weight": 1.0},
        ],
        "references": [{"url": "https://example.com/ada", "description": "Bio"}],
        "struct": {"summary": "One-line summary"},
    }
    out = result.structured_content
    assert out is not None
    assert out["finished"] is True and out["job"]["status"] == "completed"
    assert out["cost_usd"] == 0.05
    assert out["result"]["qualified"] is True
    assert [c["criteria_name"] for c in out["result"]["criteria_scores"]] == ["Seniority", "Industry"]
    assert out["result"]["structured_data"] == {"summary": "summary of this record (synthetic)"}


async def test_qualify_lead_needs_criteria(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool(
            "sixtyfour_qualify_lead", {"data": [{"key": "name", "value": "Ada"}], "qualification_criteria": []}
        )
    assert result.is_error
    assert sandbox.requests == []
