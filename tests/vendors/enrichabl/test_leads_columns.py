from __future__ import annotations

import anyio

from enrich_mcp.sandbox.enrichabl import Sandbox
from enrich_mcp.server import EnrichServer
from tests.conftest import connect
from tests.vendors.enrichabl.conftest import AUTH, BASE, PID, body, seed, text


async def test_list_leads_one_page_flattened_with_fields(server: EnrichServer, sandbox: Sandbox, era: str) -> None:
    pipeline_id = seed(sandbox, "p", [{"email": f"l{i}@example.com", "company": "Acme"} for i in range(5)])
    async with connect(server, mode=era) as client:
        result = await client.call_tool(
            "enrichabl_list_leads",
            {"pipeline_id": pipeline_id, "limit": 2, "offset": 1, "fields": ["lead_email", "pipeline_lead_stage"]},
        )
    assert not result.is_error, result.content
    [request] = sandbox.calls("GET", f"/pipelines/{pipeline_id}/leads")
    assert str(request.url) == f"{BASE}/pipelines/{pipeline_id}/leads?limit=2&offset=1"
    assert request.headers["Authorization"] == AUTH
    out = result.structured_content
    assert out is not None
    assert out["leads"] == [
        {"lead_email": "l3@example.com", "pipeline_lead_stage": "IMPORTED"},
        {"lead_email": "l2@example.com", "pipeline_lead_stage": "IMPORTED"},
    ]
    assert out["pagination"] == {"limit": 2, "offset": 1, "total": 5, "has_more": True}
    assert out["next_offset"] == 3


async def test_list_leads_all_pages_through_into_a_job(server: EnrichServer, sandbox: Sandbox) -> None:
    pipeline_id = seed(sandbox, "p", [{"email": f"l{i}@example.com"} for i in range(25)])
    with anyio.fail_after(10):
        async with connect(server) as client:
            result = await client.call_tool(
                "enrichabl_list_leads", {"pipeline_id": pipeline_id, "limit": 10, "all": True, "fields": ["lead_email"]}
            )
            assert not result.is_error, result.content
            out = result.structured_content
            assert out is not None and out["finished"] is True
            job_id = out["job"]["job_id"]
            page = await client.call_tool("get_job_results", {"job_id": job_id, "limit": 100})
    urls = [str(r.url) for r in sandbox.calls("GET", f"/pipelines/{pipeline_id}/leads")]
    assert urls == [f"{BASE}/pipelines/{pipeline_id}/leads?limit=10&offset={o}" for o in (0, 10, 20)]
    assert out["job"]["status"] == "completed" and out["job"]["result_count"] == 25
    assert page.structured_content is not None
    emails = [row["lead_email"] for row in page.structured_content["rows"]]
    assert emails == [f"l{i}@example.com" for i in reversed(range(25))]


async def test_list_leads_bounds_are_checked_before_any_request(server: EnrichServer, sandbox: Sandbox) -> None:
    async with connect(server) as client:
        for args in ({"limit": 10_001}, {"limit": 0}, {"offset": -1}):
            result = await client.call_tool("enrichabl_list_leads", {"pipeline_id": PID, **args})
            assert result.is_error, args
    assert sandbox.requests == []


async def test_templates_and_columns_send_the_documented_bodies(
    server: EnrichServer, sandbox: Sandbox, era: str
) -> None:
    pipeline_id = seed(sandbox, "p", [])
    async with connect(server, mode=era) as client:
        multi = await client.call_tool(
            "enrichabl_create_template",
            {
                "template": {
                    "kind": "multi_ai",
                    "name": "CompanyProfile",
                    "output_fields": ["headquarters_city", "founded_year"],
                    "prompt_template": "For {{company}}, return JSON",
                    "model": "gpt-4o",
                    "max_tokens": 300,
                }
            },
        )
        fire = await client.call_tool(
            "enrichabl_create_template",
            {
                "template": {
                    "kind": "firecrawl",
                    "name": "WebExtract",
                    "url_column": "company_website",
                    "prompt": "Extract the tagline.",
                    "output_fields": ["tagline"],
                }
            },
        )
        assert multi.structured_content is not None and fire.structured_content is not None
        multi_id = multi.structured_content["multi_ai_id"]
        fire_id = fire.structured_content["firecrawl_id"]
        columns = [
            {"type": "base", "key": "industry"},
            {
                "type": "ai",
                "template": {
                    "name": "Company summary",
                    "prompt_template": "Summarize {{company}}.",
                    "model": "gpt-4o-mini",
                    "max_tokens": 200,
                },
            },
            {"type": "multi_ai", "template_id": multi_id, "field": "headquarters_city"},
            {"type": "firecrawl", "template_id": fire_id, "field": "tagline"},
        ]
        for column in columns:
            result = await client.call_tool("enrichabl_add_column", {"pipeline_id": pipeline_id, "column": column})
            assert not result.is_error, result.content
        listed = await client.call_tool("enrichabl_list_templates", {"kind": "ai"})
    [post_multi] = sandbox.calls("POST", "/columns/multi-ai-templates")
    assert str(post_multi.url) == f"{BASE}/columns/multi-ai-templates"
    assert body(post_multi) == {
        "name": "CompanyProfile",
        "output_fields": ["headquarters_city", "founded_year"],
        "prompt_template": "For {{company}}, return JSON",
        "model": "gpt-4o",
        "max_tokens": 300,
    }
    [post_fire] = sandbox.calls("POST", "/columns/firecrawl-templates")
    assert body(post_fire) == {
        "name": "WebExtract",
        "url_column": "company_website",
        "prompt": "Extract the tagline.",
        "output_fields": ["tagline"],
    }
    sent = [body(r) for r in sandbox.calls("POST", f"/pipelines/{pipeline_id}/columns")]
    assert sent == columns
    assert listed.structured_content is not None
    assert [t["name"] for t in listed.structured_content["templates"]] == ["Company summary"]
    assert sandbox.calls("GET", "/columns/ai-templates")[0].headers["Authorization"] == AUTH


async def test_bad_column_and_template_input_sends_nothing(server: EnrichServer, sandbox: Sandbox) -> None:
    inline = {"name": "X", "prompt_template": "p", "model": "gpt-4o"}
    column_cases = [
        {"type": "multi_ai", "template": inline, "field": "f"},
        {"type": "firecrawl", "template": inline, "field": "f"},
        {"type": "ai", "template": {**inline, "model": "gemini-2.0-flash-exp"}},
        {"type": "ai"},
        {"type": "ai", "template_id": "t", "template": inline},
        {"type": "base"},
        {"type": "base", "key": "industry", "field": "x"},
        {"type": "multi_ai", "template_id": "t"},
        {"type": "Base", "key": "industry"},
    ]
    template_cases = [
        {"kind": "firecrawl", "name": "W", "url_column": "lead_company_website", "prompt": "p", "output_fields": ["t"]},
        {"kind": "ai", "name": "A", "prompt_template": "p", "model": "gpt-5"},
        {"kind": "ai", "name": "A", "prompt_template": "p"},
        {"kind": "ai", "name": "A", "prompt_template": "p", "model": "gpt-4o", "url_column": "company_website"},
        {"kind": "multi_ai", "name": "M", "prompt_template": "p", "model": "gpt-4o"},
    ]
    async with connect(server) as client:
        for args in column_cases:
            result = await client.call_tool("enrichabl_add_column", {"pipeline_id": PID, "column": args})
            assert result.is_error, args
        for args in template_cases:
            result = await client.call_tool("enrichabl_create_template", {"template": args})
            assert result.is_error, args
        inline_multi = await client.call_tool(
            "enrichabl_add_column",
            {"pipeline_id": PID, "column": {"type": "multi_ai", "template": inline, "field": "f"}},
        )
        lead_prefix = await client.call_tool("enrichabl_create_template", {"template": template_cases[0]})
    assert sandbox.requests == []
    assert "enrichabl_create_template" in text(inline_multi)
    assert '"company_website"' in text(lead_prefix)
