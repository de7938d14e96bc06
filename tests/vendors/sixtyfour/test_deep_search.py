from __future__ import annotations

import json

import pytest

from enrich_mcp.server import EnrichServer
from tests.conftest import connect

KEY = "sandbox-key-not-secret"


async def test_deep_search_downloads_the_csv_as_rows(server: EnrichServer, era: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server, mode=era) as client:
        result = await client.call_tool(
            "sixtyfour_deep_search", {"query": "Heads of sales at fintechs in Berlin", "max_results": 50}
        )
    assert not result.is_error, result.content
    [start] = sandbox.calls("POST", "/search/start-deep-search")
    assert str(start.url) == "https://api.sixtyfour.ai/search/start-deep-search"
    assert start.headers["x-api-key"] == KEY
    assert json.loads(start.content) == {
        "query": "Heads of sales at fintechs in Berlin",
        "mode": "people",
        "max_results": 50,
    }
    assert len(sandbox.calls("GET", "/search/deep-search-status/search_000000000001")) == 3
    [download] = sandbox.calls("GET", "/search/download")
    assert str(download.url) == "https://api.sixtyfour.ai/search/download?resource_handle_id=rh_search_000000000001"
    assert download.headers["x-api-key"] == KEY
    [signed] = sandbox.calls("GET", "/search-results/search_000000000001.csv")
    assert signed.url.host == "storage.sandbox.example.com"
    assert "x-api-key" not in signed.headers  # the key never leaves the vendor's host
    out = result.structured_content
    assert out is not None
    assert out["job"]["status"] == "completed"
    assert out["job"]["summary"] == {"total_results": 3, "exported_count": 3}
    assert out["rows"][0] == {
        "name": "Sample Person 1",
        "title": "Head of Sales",
        "company": "Example Co 1",
        "linkedin": "https://www.linkedin.com/in/sample-person-1",
        "email": "sample.person1@example.com",
    }
    assert len(out["rows"]) == 3
    report = await server.runtime.budget.report()
    assert report["spent_usd"] == pytest.approx(0.03) and report["reserved_usd"] == 0


async def test_company_mode_and_a_failed_search(server: EnrichServer) -> None:
    async with connect(server) as client:
        companies = await client.call_tool("sixtyfour_deep_search", {"query": "Robotics startups", "mode": "company"})
        failed = await client.call_tool("sixtyfour_deep_search", {"query": "Fail this search"})
    assert companies.structured_content and failed.structured_content
    assert companies.structured_content["rows"][0] == {
        "company_name": "Example Co 1",
        "website": "https://co1.example.com",
        "industry": "Software",
    }
    assert failed.structured_content["job"]["status"] == "failed"
    assert "The search agent gave up" in failed.structured_content["job"]["error"]
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(0.03)


async def test_bad_mode_is_rejected_before_any_call(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_deep_search", {"query": "CTOs", "mode": "places"})
    assert result.is_error
    assert sandbox.requests == []
