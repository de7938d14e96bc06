from __future__ import annotations

import json

import pytest

from enrich_mcp.server import EnrichServer
from tests.conftest import connect


async def test_find_email_professional_sends_documented_request(server: EnrichServer, era: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server, mode=era) as client:
        result = await client.call_tool(
            "sixtyfour_find_email", {"lead": {"name": "Ada Lovelace", "company": "Analytical Engines"}}
        )
    assert not result.is_error, result.content
    [request] = sandbox.calls("POST", "/find-email")
    assert str(request.url) == "https://api.sixtyfour.ai/find-email"
    assert request.headers["x-api-key"] == "sandbox-key-not-secret"
    assert json.loads(request.content) == {
        "lead": {"name": "Ada Lovelace", "company": "Analytical Engines"},
        "mode": "PROFESSIONAL",
    }
    out = result.structured_content
    assert out is not None
    assert out["emails"] == [
        {"address": "ada.lovelace@analyticalengines.example.com", "status": "OK", "type": "COMPANY"}
    ]
    assert out["cost_usd"] == 0.05
    assert out["cache"] == {"hit": False, "age_seconds": 0.0}


async def test_second_call_is_served_from_cache(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    args = {"lead": {"name": "Ada Lovelace", "company": "Analytical Engines"}, "mode": "PERSONAL"}
    async with connect(server) as client:
        first = await client.call_tool("sixtyfour_find_email", args)
        second = await client.call_tool("sixtyfour_find_email", args)
        fresh = await client.call_tool("sixtyfour_find_email", {**args, "fresh": True})
    assert first.structured_content and second.structured_content and fresh.structured_content
    assert second.structured_content["cache"]["hit"] is True
    assert second.structured_content["cost_usd"] == 0.0
    assert fresh.structured_content["cache"]["hit"] is False
    assert len(sandbox.calls("POST", "/find-email")) == 2
    report = await server.runtime.budget.report()
    assert report["spent_usd"] == pytest.approx(0.40)


async def test_wrong_mode_is_a_tool_error_without_vendor_call(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_email", {"lead": {"name": "Ada"}, "mode": "WRONG"})
    assert result.is_error
    assert "PROFESSIONAL" in result.content[0].text  # type: ignore[union-attr]
    assert sandbox.requests == []


async def test_vendor_401_is_actionable_and_spends_nothing(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(401, {"detail": "Invalid API key sandbox-key-not-secret"})
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_email", {"lead": {"name": "Ada Lovelace"}})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "HTTP 401" in text and "check the key" in text
    assert "sandbox-key-not-secret" not in text
    assert (await server.runtime.budget.report())["spent_usd"] == 0


async def test_an_unreadable_200_is_one_post_and_the_charge_stays_unknown(server: EnrichServer) -> None:
    """Sixtyfour accepted (and billed) the call, but its answer is not the documented object."""
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(200, "<html>upstream hiccup</html>", path="/find-email")
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_email", {"lead": {"name": "Ada Lovelace"}})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "HTTP 200" in text and "could not be read" in text and "may have charged" in text
    assert len(sandbox.calls("POST", "/find-email")) == 1
    rows = await server.runtime.budget.ledger.rows()
    assert [(r["status"], r["estimated_usd"]) for r in rows] == [("unknown", 0.05)]
