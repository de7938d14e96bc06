from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
from mcp.client.session import ClientRequestContext

from enrich_mcp.sandbox.fourrunr import Sandbox
from enrich_mcp.server import EnrichServer
from tests.conftest import connect
from tests.vendors.fourrunr.conftest import BASE, sent

ADA = "recf2c317c69"  # the first seeded lead


def text(result: Any) -> str:
    return result.content[0].text


async def test_list_leads_sends_documented_query_and_pages(server: EnrichServer, sandbox: Sandbox, era: str) -> None:
    async with connect(server, mode=era) as client:
        first = await client.call_tool("fourrunr_list_leads", {"limit": 2})
        second = await client.call_tool("fourrunr_list_leads", {"limit": 2, "offset": 4})
    assert not first.is_error, first.content
    first_req, second_req = sandbox.calls("GET", "/leads")
    assert str(first_req.url) == f"{BASE}/leads?limit=2&offset=0"
    assert sent(first_req) is None
    assert str(second_req.url) == f"{BASE}/leads?limit=2&offset=4"
    out = first.structured_content
    assert out is not None
    assert [lead["name"] for lead in out["leads"]] == ["Ada Lovelace", "Grace Hopper"]
    assert out["leads"][0]["id"] == ADA
    assert {k: out[k] for k in ("total", "limit", "offset", "has_more", "next_offset")} == {
        "total": 6,
        "limit": 2,
        "offset": 0,
        "has_more": True,
        "next_offset": 2,
    }
    last = second.structured_content
    assert last is not None
    assert (last["has_more"], last["next_offset"], len(last["leads"])) == (False, None, 2)


async def test_list_leads_filters_by_stage_and_source(server: EnrichServer, sandbox: Sandbox) -> None:
    async with connect(server) as client:
        result = await client.call_tool("fourrunr_list_leads", {"stage": "1st degree", "source": "manual"})
    [request] = sandbox.calls("GET", "/leads")
    assert dict(request.url.params) == {"limit": "50", "offset": "0", "stage": "1st degree", "source": "manual"}
    out = result.structured_content
    assert out is not None
    assert [lead["name"] for lead in out["leads"]] == ["Barbara Liskov"]
    assert out["total"] == 1 and out["has_more"] is False


async def test_limit_over_1000_is_refused_before_any_request(server: EnrichServer, sandbox: Sandbox) -> None:
    async with connect(server) as client:
        result = await client.call_tool("fourrunr_list_leads", {"limit": 1001})
        bad_id = await client.call_tool("fourrunr_get_lead", {"lead_id": "../health"})
        bad_email = await client.call_tool("fourrunr_create_lead", {"name": "X", "email": "nope"})
        no_name = await client.call_tool("fourrunr_create_lead", {"email": "x@example.com"})
        empty_update = await client.call_tool("fourrunr_update_lead", {"lead_id": ADA})
    assert result.is_error and "1000" in text(result)
    assert bad_id.is_error and bad_email.is_error and no_name.is_error
    assert empty_update.is_error and "at least one field" in text(empty_update)
    assert sandbox.requests == []


async def test_create_get_update_list_delete_round_trip(server: EnrichServer, sandbox: Sandbox) -> None:
    sandbox.clock = lambda: 1_736_951_400.0  # 2025-01-15T14:30:00Z
    new = {
        "name": "Jane Smith",
        "email": "jane@startup.example.com",
        "company": "StartupIO",
        "company_website": "https://startup.example.com",
        "source": "manual_entry",
    }
    async with connect(server) as client:
        created = await client.call_tool("fourrunr_create_lead", new)
        assert not created.is_error, created.content
        assert created.structured_content is not None
        lead_id = created.structured_content["id"]
        fetched = await client.call_tool("fourrunr_get_lead", {"lead_id": lead_id})
        updated = await client.call_tool(
            "fourrunr_update_lead",
            {
                "lead_id": lead_id,
                "engagement_stage": "contacted",
                "ai_message": "Updated personalized message",
                "last_contacted": "2025-01-15T14:30:00Z",
            },
        )
        listed = await client.call_tool("fourrunr_list_leads", {"stage": "contacted"})
        deleted = await client.call_tool("fourrunr_delete_lead", {"lead_id": lead_id, "confirm": True})
        gone = await client.call_tool("fourrunr_get_lead", {"lead_id": lead_id})

    assert created.structured_content == {"id": lead_id, "message": "Lead created successfully"}
    assert lead_id.startswith("rec") and len(lead_id) == 12 and lead_id.isalnum()
    [create_req] = sandbox.calls("POST", "/leads")
    assert str(create_req.url) == f"{BASE}/leads"
    assert sent(create_req) == new

    assert fetched.structured_content is not None
    assert {k: fetched.structured_content[k] for k in ("name", "email", "engagement_stage", "created_at")} == {
        "name": "Jane Smith",
        "email": "jane@startup.example.com",
        "engagement_stage": "1st degree",
        "created_at": "2025-01-15T14:30:00Z",
    }

    [put] = sandbox.calls("PUT", f"/leads/{lead_id}")
    assert sent(put) == {
        "engagement_stage": "contacted",
        "ai_message": "Updated personalized message",
        "last_contacted": "2025-01-15T14:30:00Z",
    }
    assert updated.structured_content is not None
    assert updated.structured_content["changed"] == sent(put)
    assert updated.structured_content["data"]["updated_fields"] == ["ai_message", "engagement_stage", "last_contacted"]

    assert listed.structured_content is not None
    assert lead_id in [lead["id"] for lead in listed.structured_content["leads"]]

    [delete] = sandbox.calls("DELETE", f"/leads/{lead_id}")
    assert sent(delete) is None
    assert deleted.structured_content == {
        "lead_id": lead_id,
        "deleted": True,
        "data": {"id": lead_id, "message": "Lead deleted successfully"},
    }
    assert gone.is_error
    assert "HTTP 404 (NOT_FOUND)" in text(gone) and lead_id not in sandbox.leads()


async def test_delete_without_elicitation_requires_confirm(server: EnrichServer, sandbox: Sandbox, era: str) -> None:
    async with connect(server, mode=era) as client:
        result = await client.call_tool("fourrunr_delete_lead", {"lead_id": ADA})
    assert result.is_error
    assert "confirm: true" in text(result) and "Nothing was deleted" in text(result)
    assert sandbox.requests == [] and ADA in sandbox.leads()


def answering(action: str, delete: bool, asked: list[str]) -> Callable[..., Any]:
    async def callback(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action=action, content={"delete": delete} if action == "accept" else None)  # type: ignore[arg-type]

    return callback


async def test_delete_asks_the_user_and_deletes_on_approval(server: EnrichServer, sandbox: Sandbox) -> None:
    asked: list[str] = []
    with anyio.fail_after(5):
        async with connect(server, elicitation_callback=answering("accept", True, asked)) as client:
            result = await client.call_tool("fourrunr_delete_lead", {"lead_id": ADA})
    assert not result.is_error, result.content
    assert asked == [f"Delete 4Runr lead {ADA} permanently? This cannot be undone."]
    [request] = sandbox.calls("DELETE", f"/leads/{ADA}")
    assert str(request.url) == f"{BASE}/leads/{ADA}"
    assert ADA not in sandbox.leads()


async def test_delete_declined_by_the_user_sends_nothing_even_with_confirm(
    server: EnrichServer, sandbox: Sandbox
) -> None:
    asked: list[str] = []
    with anyio.fail_after(5):
        async with connect(server, elicitation_callback=answering("decline", False, asked)) as client:
            declined = await client.call_tool("fourrunr_delete_lead", {"lead_id": ADA, "confirm": True})
        async with connect(server, elicitation_callback=answering("accept", False, asked)) as client:
            unticked = await client.call_tool("fourrunr_delete_lead", {"lead_id": ADA})
    assert declined.is_error and unticked.is_error
    assert "did not approve" in text(declined) and "Nothing was deleted" in text(unticked)
    assert len(asked) == 2
    assert sandbox.requests == [] and ADA in sandbox.leads()
