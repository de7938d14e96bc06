from __future__ import annotations

import pytest

from enrich_mcp.sandbox.fourrunr import Sandbox
from enrich_mcp.server import EnrichServer
from tests.conftest import connect
from tests.vendors.fourrunr.conftest import BASE, sent

ADA = "recf2c317c69"


async def test_sync_airtable_and_status(server: EnrichServer, sandbox: Sandbox, era: str) -> None:
    sandbox.clock = lambda: 1_736_920_800.0  # 2025-01-15T06:00:00Z
    async with connect(server, mode=era) as client:
        synced = await client.call_tool("fourrunr_sync_airtable", {"force_full_sync": True})
        status = await client.call_tool("fourrunr_get_sync_status", {})
    [post] = sandbox.calls("POST", "/sync/airtable")
    assert str(post.url) == f"{BASE}/sync/airtable"
    assert sent(post) == {"force_full_sync": True, "clean_data": True}
    assert synced.structured_content == {
        "synced_leads": 3,
        "cleaned_leads": 3,
        "skipped_leads": 0,
        "sync_duration": "0.4s",
    }
    [get] = sandbox.calls("GET", "/sync/status")
    assert sent(get) is None
    assert status.structured_content == {
        "last_sync": "2025-01-15T06:00:00Z",
        "next_sync": "2025-01-16T06:00:00Z",
        "sync_status": "completed",
        "total_synced": 3,
    }


async def test_clean_lead_is_recorded_as_spend_and_cached(server: EnrichServer, sandbox: Sandbox) -> None:
    args = {
        "lead_data": {"name": "  JOHN DOE  ", "email": "JOHN@EXAMPLE.COM", "company": "  Tech Corp Inc.  "},
        "context": {"source": "api", "priority": "high"},
    }
    async with connect(server) as client:
        first = await client.call_tool("fourrunr_clean_lead", args)
        second = await client.call_tool("fourrunr_clean_lead", args)
    [request] = sandbox.calls("POST", "/clean/lead")
    assert str(request.url) == f"{BASE}/clean/lead"
    assert sent(request) == args
    assert first.structured_content == {
        "cleaned_data": {"name": "John Doe", "email": "john@example.com", "company": "Tech Corp Inc"},
        "cleaning_stats": {"fields_cleaned": 3, "confidence_score": 0.95, "processing_time": 0.023},
        "cache": {"hit": False, "age_seconds": 0.0},
    }
    assert second.structured_content is not None and second.structured_content["cache"]["hit"] is True
    [row] = await server.runtime.budget.ledger.rows()
    assert (row["tool"], row["operation"], row["status"], row["actual_usd"]) == (
        "fourrunr_clean_lead",
        "clean_lead",
        "settled",
        0.0,
    )


async def test_clean_leads_bulk_charges_per_lead(server: EnrichServer, sandbox: Sandbox) -> None:
    server.runtime.budget.prices["fourrunr.clean_lead"] = 0.01
    async with connect(server) as client:
        result = await client.call_tool(
            "fourrunr_clean_leads_bulk", {"lead_ids": [ADA, ADA, "recmissing00"], "force_reclean": True}
        )
    [request] = sandbox.calls("POST", "/clean/bulk")
    assert sent(request) == {"lead_ids": [ADA, "recmissing00"], "force_reclean": True}
    assert result.structured_content == {
        "lead_ids": [ADA, "recmissing00"],
        "data": {
            "cleaned_leads": 1,
            "skipped_leads": 0,
            "not_found": ["recmissing00"],
            "message": "Bulk cleaning completed",
        },
    }
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(0.02)


async def test_generate_message(server: EnrichServer, sandbox: Sandbox) -> None:
    async with connect(server) as client:
        result = await client.call_tool("fourrunr_generate_message", {"lead_id": ADA})
    [request] = sandbox.calls("POST", "/ai/generate-message")
    assert str(request.url) == f"{BASE}/ai/generate-message"
    assert sent(request) == {"lead_id": ADA, "message_type": "initial_outreach", "personalization_level": "high"}
    assert result.structured_content == {
        "ai_message": "Hi Ada, I noticed Analytical Engines is growing fast and thought we should talk.",
        "confidence_score": 0.92,
        "personalization_elements": ["company_name", "industry", "recent_news"],
    }
    [row] = await server.runtime.budget.ledger.rows()
    assert (row["operation"], row["subject"], row["status"]) == ("generate_message", ADA, "settled")


async def test_enrich_lead_fills_missing_fields(server: EnrichServer, sandbox: Sandbox) -> None:
    dijkstra = next(lead["id"] for lead in sandbox.leads().values() if lead["name"] == "Edsger Dijkstra")
    async with connect(server) as client:
        result = await client.call_tool(
            "fourrunr_enrich_lead", {"lead_id": dijkstra, "enrichment_sources": ["google", "linkedin"]}
        )
        bad = await client.call_tool("fourrunr_enrich_lead", {"lead_id": dijkstra, "enrichment_sources": ["myspace"]})
    first, _ = sandbox.calls("POST", "/ai/enrich-lead")
    assert sent(first) == {"lead_id": dijkstra, "enrichment_sources": ["google", "linkedin"]}
    assert result.structured_content == {
        "lead_id": dijkstra,
        "data": {
            "lead_id": dijkstra,
            "fields_enriched": ["email"],
            "sources_used": ["google", "linkedin"],
            "confidence_score": 0.89,
        },
    }
    assert sandbox.leads()[dijkstra]["email"] == "edsger.dijkstra@shortestpaths.example.com"
    assert bad.is_error and "VALIDATION_ERROR" in bad.content[0].text  # type: ignore[union-attr]
    statuses = [row["status"] for row in await server.runtime.budget.ledger.rows()]
    assert statuses == ["settled", "void"]  # a vendor error spends nothing


async def test_health_and_automation_status(server: EnrichServer, sandbox: Sandbox, era: str) -> None:
    sandbox.clock = lambda: 1_736_955_000.0  # 2025-01-15T15:30:00Z
    async with connect(server, mode=era) as client:
        health = await client.call_tool("fourrunr_get_health", {})
        automation = await client.call_tool("fourrunr_get_automation_status", {})
    assert [str(r.url) for r in sandbox.requests] == [f"{BASE}/health", f"{BASE}/automation/status"]
    assert all(sent(r) is None for r in sandbox.requests)
    assert health.structured_content == {
        "system_status": "healthy",
        "database_status": "connected",
        "airtable_status": "synced",
        "automation_status": "running",
        "last_health_check": "2025-01-15T15:30:00Z",
        "uptime": "7d 12h 45m",
    }
    assert automation.structured_content == {
        "automation_engine": "running",
        "last_cycle": "2025-01-15T15:25:00Z",
        "next_cycle": "2025-01-15T15:30:00Z",
        "cycles_completed": 2880,
        "average_cycle_time": "2.3s",
    }


async def test_lead_analytics_follow_the_state(server: EnrichServer, sandbox: Sandbox) -> None:
    async with connect(server) as client:
        await client.call_tool("fourrunr_create_lead", {"name": "New Person", "source": "api"})
        result = await client.call_tool("fourrunr_get_lead_analytics", {})
    [request] = sandbox.calls("GET", "/analytics/leads")
    assert str(request.url) == f"{BASE}/analytics/leads"
    assert result.structured_content == {
        "total_leads": 7,
        "by_stage": {"1st degree": 3, "contacted": 1, "ready_for_contact": 1, "responded": 1, "qualified": 1},
        "by_source": {"airtable": 3, "manual": 2, "api": 2},
        "quality_metrics": {"with_email": 5, "with_company": 6, "fully_enriched": 5},
    }


async def test_trigger_automation(server: EnrichServer, sandbox: Sandbox) -> None:
    args = {
        "operation": "enrich_leads",
        "parameters": [{"key": "limit", "value": 10}, {"key": "force", "value": False}],
    }
    async with connect(server) as client:
        result = await client.call_tool("fourrunr_trigger_automation", args)
        bad = await client.call_tool("fourrunr_trigger_automation", {"operation": "DROP TABLE"})
    [request] = sandbox.calls("POST", "/automation/trigger")
    assert str(request.url) == f"{BASE}/automation/trigger"
    assert sent(request) == {"operation": "enrich_leads", "parameters": {"limit": 10, "force": False}}
    assert result.structured_content == {
        "operation": "enrich_leads",
        "data": {"operation": "enrich_leads", "status": "started", "parameters": {"limit": 10, "force": False}},
    }
    assert bad.is_error and len(sandbox.requests) == 1
