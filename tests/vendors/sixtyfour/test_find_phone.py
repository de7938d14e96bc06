from __future__ import annotations

import json

import pytest

from enrich_mcp.server import EnrichServer
from tests.conftest import connect

KEY = "sandbox-key-not-secret"


@pytest.mark.parametrize(
    ("name", "phones"),
    [
        ("Ada Lovelace", "single"),
        ("Many Numbers", "multiple"),
        ("Nobody Known", "none"),
    ],
)
async def test_find_phone_parses_every_documented_shape(server: EnrichServer, name: str, phones: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_phone", {"lead": {"name": name, "company": "Acme"}})
    assert not result.is_error, result.content
    [request] = sandbox.calls("POST", "/find-phone")
    assert str(request.url) == "https://api.sixtyfour.ai/find-phone"
    assert request.headers["x-api-key"] == KEY
    assert json.loads(request.content) == {"lead": {"name": name, "company": "Acme"}}
    out = result.structured_content
    assert out is not None
    raw_phone = out["raw"]["phone"]
    if phones == "single":
        assert isinstance(raw_phone, str) and raw_phone.startswith("+1 555-01")
        assert out["phones"] == [{"number": raw_phone, "region": None}]
    elif phones == "multiple":
        assert out["phones"] == raw_phone and len(raw_phone) == 2
        assert all(p["region"] == "US" for p in out["phones"])
    else:
        assert raw_phone == "" and out["phones"] == []
    assert out["cost_usd"] == 0.30


async def test_find_phone_is_cached(server: EnrichServer, era: str) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    args = {"lead": {"name": "Ada Lovelace"}}
    async with connect(server, mode=era) as client:
        await client.call_tool("sixtyfour_find_phone", args)
        second = await client.call_tool("sixtyfour_find_phone", args)
    assert second.structured_content is not None
    assert second.structured_content["cache"]["hit"] is True and second.structured_content["cost_usd"] == 0.0
    assert len(sandbox.calls("POST", "/find-phone")) == 1


async def test_429_storm_then_success_is_retried(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(429, {"detail": "Rate limit exceeded"}, times=3, path="/find-phone", headers={"Retry-After": "1"})
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_phone", {"lead": {"name": "Ada Lovelace"}})
    assert not result.is_error, result.content
    calls = sandbox.calls("POST", "/find-phone")
    assert len(calls) == 4
    assert [c.headers.get("X-Enrich-Attempt") for c in calls] == [None, "1", "2", "3"]
    assert all(json.loads(c.content) == {"lead": {"name": "Ada Lovelace"}} for c in calls)
    assert result.structured_content is not None and result.structured_content["phones"]
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(0.30)


async def test_500_on_a_paid_post_is_sent_once_and_the_charge_stays_unknown(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(500, {"detail": "Internal error"}, times=10, path="/find-phone")
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_phone", {"lead": {"name": "Ada Lovelace"}})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "HTTP 500" in text and "may have been processed" in text and "before retrying" in text
    assert len(sandbox.calls("POST", "/find-phone")) == 1
    report = await server.runtime.budget.report()
    assert report["reserved_usd"] == 0 and report["spent_usd"] > 0  # unknown: the estimate is counted


async def test_persistent_429_is_retried_and_spends_nothing(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    sandbox.fail_next(429, {"detail": "Too many requests"}, times=10, path="/find-phone")
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_phone", {"lead": {"name": "Ada Lovelace"}})
    assert result.is_error
    assert "HTTP 429" in result.content[0].text  # type: ignore[union-attr]
    assert len(sandbox.calls("POST", "/find-phone")) == 4  # first try + 3 retries
    report = await server.runtime.budget.report()
    assert report["spent_usd"] == 0 and report["reserved_usd"] == 0


async def test_find_phone_needs_an_identifier(server: EnrichServer) -> None:
    sandbox = server.runtime.sandboxes["sixtyfour"]
    async with connect(server) as client:
        result = await client.call_tool("sixtyfour_find_phone", {"lead": {"company": "Acme"}})
    assert result.is_error
    assert sandbox.requests == []
