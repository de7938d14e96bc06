from __future__ import annotations

from enrich_mcp.sandbox.fourrunr import Sandbox
from enrich_mcp.server import EnrichServer
from tests.conftest import connect
from tests.vendors.fourrunr.conftest import BASE, sent

CAMPAIGN = {
    "name": "Q1 Tech Outreach",
    "target_stage": "1st degree",
    "message_template": "Hi {name}, I noticed {company}...",
    "schedule": {"start_date": "2025-01-20", "frequency": "daily", "max_sends_per_day": 50},
}


async def test_campaign_create_start_pause_round_trip(server: EnrichServer, sandbox: Sandbox, era: str) -> None:
    async with connect(server, mode=era) as client:
        created = await client.call_tool("fourrunr_create_campaign", CAMPAIGN)
        assert not created.is_error, created.content
        assert created.structured_content is not None
        campaign_id = created.structured_content["campaign_id"]
        started = await client.call_tool("fourrunr_start_campaign", {"campaign_id": campaign_id})
        again = await client.call_tool("fourrunr_start_campaign", {"campaign_id": campaign_id})
        paused = await client.call_tool("fourrunr_pause_campaign", {"campaign_id": campaign_id})
        listed = await client.call_tool("fourrunr_list_campaigns", {})
        analytics = await client.call_tool("fourrunr_get_campaign_analytics", {})

    [create] = sandbox.calls("POST", "/campaigns")
    assert str(create.url) == f"{BASE}/campaigns"
    assert sent(create) == CAMPAIGN
    assert created.structured_content == {
        "campaign_id": campaign_id,
        "action": "created",
        "status": "draft",
        "data": {"id": campaign_id, "status": "draft", "message": "Campaign created successfully"},
    }
    assert campaign_id.startswith("cmp") and len(campaign_id) == 12

    first_start, _ = sandbox.calls("POST", f"/campaigns/{campaign_id}/start")
    assert str(first_start.url) == f"{BASE}/campaigns/{campaign_id}/start"
    assert sent(first_start) is None
    assert started.structured_content is not None
    assert (started.structured_content["action"], started.structured_content["status"]) == ("started", "running")

    # Starting a running campaign is a state conflict (409 INVALID_STATE in the sandbox).
    assert again.is_error
    message = again.content[0].text  # type: ignore[union-attr]
    assert "HTTP 409 (INVALID_STATE)" in message and "Cannot start a campaign that is running" in message

    [pause] = sandbox.calls("POST", f"/campaigns/{campaign_id}/pause")
    assert sent(pause) is None
    assert paused.structured_content is not None
    assert paused.structured_content["status"] == "paused"

    assert listed.structured_content is not None
    assert listed.structured_content["count"] == 1
    [campaign] = listed.structured_content["campaigns"]
    assert (campaign["id"], campaign["name"], campaign["status"]) == (campaign_id, "Q1 Tech Outreach", "paused")
    assert campaign["schedule"] == CAMPAIGN["schedule"]

    assert [r.url.path for r in sandbox.calls("GET")] == ["/api/v1/campaigns", "/api/v1/analytics/campaigns"]
    assert analytics.structured_content is not None
    data = analytics.structured_content["data"]
    assert data["total_campaigns"] == 1 and data["by_status"] == {"paused": 1}
    assert data["campaigns"][0]["target_leads"] == 2  # the two seeded "1st degree" leads


async def test_pausing_a_draft_or_unknown_campaign_is_an_error(server: EnrichServer, sandbox: Sandbox) -> None:
    async with connect(server) as client:
        created = await client.call_tool("fourrunr_create_campaign", CAMPAIGN)
        assert created.structured_content is not None
        draft = await client.call_tool(
            "fourrunr_pause_campaign", {"campaign_id": created.structured_content["campaign_id"]}
        )
        missing = await client.call_tool("fourrunr_start_campaign", {"campaign_id": "cmp000000000"})
    assert draft.is_error and "HTTP 409" in draft.content[0].text  # type: ignore[union-attr]
    assert missing.is_error and "HTTP 404 (NOT_FOUND)" in missing.content[0].text  # type: ignore[union-attr]


async def test_bad_schedule_is_refused_before_any_request(server: EnrichServer, sandbox: Sandbox) -> None:
    bad = {**CAMPAIGN, "schedule": {"start_date": "20 Jan", "frequency": "daily", "max_sends_per_day": 0}}
    async with connect(server) as client:
        result = await client.call_tool("fourrunr_create_campaign", bad)
    assert result.is_error
    assert sandbox.requests == []
