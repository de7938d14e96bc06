from __future__ import annotations

import pytest

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


@pytest.mark.parametrize("listing", ["list", "object", "paginated"])
async def test_campaign_create_start_pause_round_trip(
    server: EnrichServer, sandbox: Sandbox, era: str, listing: str
) -> None:
    # The document shows no answer for these calls: the sandbox's shapes are pinned where asserted.
    sandbox.pin(campaign_list=listing, campaign_create="summary", campaign_conflict="refused")
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

    # Starting a running campaign: refused here with the document's only error code.
    assert again.is_error
    message = again.content[0].text  # type: ignore[union-attr]
    assert "HTTP 400 (VALIDATION_ERROR)" in message and "Cannot start a campaign that is running" in message

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


@pytest.mark.parametrize("conflict", ["noop", "refused"])
async def test_pausing_a_draft_says_so_and_an_unknown_campaign_is_an_error(
    server: EnrichServer, sandbox: Sandbox, conflict: str
) -> None:
    """The document lists no conflict answer: 4Runr may refuse (400) or answer with the unchanged status."""
    sandbox.pin(campaign_conflict=conflict)
    async with connect(server) as client:
        created = await client.call_tool("fourrunr_create_campaign", CAMPAIGN)
        assert created.structured_content is not None
        draft = await client.call_tool(
            "fourrunr_pause_campaign", {"campaign_id": created.structured_content["campaign_id"]}
        )
        missing = await client.call_tool("fourrunr_start_campaign", {"campaign_id": "cmp000000000"})
    if conflict == "refused":
        assert draft.is_error and "HTTP 400 (VALIDATION_ERROR)" in draft.content[0].text  # type: ignore[union-attr]
    else:
        assert draft.structured_content is not None and draft.structured_content["status"] == "draft"
    assert missing.is_error and "HTTP 404 (NOT_FOUND)" in missing.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("shape", ["summary", "object"])
async def test_created_campaign_id_is_read_from_either_answer(
    server: EnrichServer, sandbox: Sandbox, shape: str
) -> None:
    sandbox.pin(campaign_create=shape)
    async with connect(server) as client:
        created = await client.call_tool("fourrunr_create_campaign", CAMPAIGN)
    assert created.structured_content is not None, created.content
    [campaign_id] = sandbox.campaigns()
    assert created.structured_content["campaign_id"] == campaign_id
    assert created.structured_content["status"] == "draft"


async def test_bad_schedule_is_refused_before_any_request(server: EnrichServer, sandbox: Sandbox) -> None:
    bad = {**CAMPAIGN, "schedule": {"start_date": "20 Jan", "frequency": "daily", "max_sends_per_day": 0}}
    async with connect(server) as client:
        result = await client.call_tool("fourrunr_create_campaign", bad)
    assert result.is_error
    assert sandbox.requests == []
