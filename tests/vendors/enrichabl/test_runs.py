from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from enrich_mcp.sandbox.enrichabl import Sandbox
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect
from tests.vendors.enrichabl.conftest import AUTH, BASE, PID, body, seed, text

LEADS = [
    {"email": "ada@example.com", "company": "Analytical Engines", "company_website": "https://ae.example.com"},
    {"email": "alan@example.com", "company": "Bletchley"},
    {"email": "grace@example.com", "company": "Navy", "company_website": "https://navy.example.com"},
]


def template(sandbox: Sandbox, kind: str, **fields: Any) -> str:
    created = sandbox.create_template(kind, fields)
    key = {"ai": sandbox.shape["ai_template_id"], "multi_ai": "multi_ai_id", "firecrawl": "firecrawl_id"}[kind]
    return str(created[key])


def by_email(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["lead_email"]: row for row in rows}


async def test_ai_column_enrichment_runs_to_completion(server: EnrichServer, sandbox: Sandbox, era: str) -> None:
    pipeline_id = seed(sandbox, "p", LEADS)
    template_id = template(sandbox, "ai", name="Company summary", prompt_template="Summarize", model="gpt-4o-mini")
    with anyio.fail_after(10):
        async with connect(server, mode=era) as client:
            result = await client.call_tool(
                "enrichabl_start_enrichment",
                {
                    "pipeline_id": pipeline_id,
                    "enrichment": {"enrichment_type": "AI_COLUMN", "ai_template_id": template_id},
                },
            )
    assert not result.is_error, result.content
    [start] = sandbox.calls("POST", "/enrichment/start")
    assert str(start.url) == f"{BASE}/enrichment/start"
    assert start.headers["Authorization"] == AUTH
    assert body(start) == {"pipeline_id": pipeline_id, "enrichment_type": "AI_COLUMN", "ai_template_id": template_id}
    [vendor_job] = sandbox.jobs()
    progress = sandbox.calls("GET", f"/enrichment/jobs/{vendor_job}/progress")
    assert len(progress) == 3  # PENDING, IN_PROGRESS, COMPLETED
    out = result.structured_content
    assert out is not None
    assert out["finished"] is True
    job = out["job"]
    assert (job["status"], job["vendor_status"], job["vendor_job_id"]) == ("completed", "COMPLETED", vendor_job)
    assert job["summary"]["processed_leads"] == 3 and job["summary"]["progress_percentage"] == 100
    rows = by_email(out["rows"])
    assert set(rows) == {lead["email"] for lead in LEADS}
    assert rows["ada@example.com"]["Company summary"] == "Synthetic Company summary for Analytical Engines"
    assert rows["ada@example.com"]["outcome"] == "completed"
    assert set(rows["ada@example.com"]) == {
        "pipeline_lead_id",
        "lead_id",
        "lead_email",
        "outcome",
        "error",
        "Company summary",
    }


async def test_multi_ai_top_n_keys_values_by_template_and_field(server: EnrichServer, sandbox: Sandbox) -> None:
    pipeline_id = seed(sandbox, "p", LEADS)
    template_id = template(
        sandbox,
        "multi_ai",
        name="CompanyProfile",
        prompt_template="JSON",
        model="gemini-2.0-flash",
        output_fields=["headquarters_city", "founded_year"],
    )
    with anyio.fail_after(10):
        async with connect(server) as client:
            result = await client.call_tool(
                "enrichabl_start_enrichment",
                {
                    "pipeline_id": pipeline_id,
                    "limit": 2,
                    "enrichment": {"enrichment_type": "MULTI_AI_COLUMN", "multi_ai_template_id": template_id},
                },
            )
    assert not result.is_error, result.content
    [start] = sandbox.calls("POST", "/enrichment/start")
    assert body(start) == {
        "pipeline_id": pipeline_id,
        "limit": 2,
        "enrichment_type": "MULTI_AI_COLUMN",
        "multi_ai_template_id": template_id,
    }
    out = result.structured_content
    assert out is not None
    rows = by_email(out["rows"])
    assert set(rows) == {"grace@example.com", "alan@example.com"}  # the two most recent
    assert rows["alan@example.com"]["CompanyProfile: headquarters_city"] == "Synthetic headquarters_city for Bletchley"
    assert rows["alan@example.com"]["CompanyProfile: founded_year"] == "Synthetic founded_year for Bletchley"


async def test_firecrawl_on_lead_ids_reads_back_across_pipelines(server: EnrichServer, sandbox: Sandbox) -> None:
    seed(sandbox, "other", [{"email": "x@example.com"}])
    seed(sandbox, "p", LEADS)
    ids = {lead["lead_email"]: lead_id for lead_id, lead in sandbox.leads().items()}
    lead_ids = [ids["ada@example.com"], ids["alan@example.com"]]
    config = {"url_column": "company_website", "prompt": "Extract the tagline.", "output_fields": ["tagline"]}
    with anyio.fail_after(10):
        async with connect(server) as client:
            result = await client.call_tool(
                "enrichabl_start_enrichment",
                {
                    "lead_ids": lead_ids,
                    "enrichment": {"enrichment_type": "FIRECRAWL_EXTRACT", "firecrawl_extract_config": config},
                },
            )
    assert not result.is_error, result.content
    [start] = sandbox.calls("POST", "/enrichment/start")
    assert body(start) == {
        "lead_ids": lead_ids,
        "enrichment_type": "FIRECRAWL_EXTRACT",
        "firecrawl_extract_config": config,
    }
    out = result.structured_content
    assert out is not None
    rows = by_email(out["rows"])
    assert set(rows) == {"ada@example.com", "alan@example.com"}
    assert rows["ada@example.com"]["Firecrawl: tagline"] == "Synthetic tagline for https://ae.example.com"
    assert rows["alan@example.com"]["outcome"] == "failed"
    assert rows["alan@example.com"]["error"] == "No URL in company_website"
    assert rows["alan@example.com"]["Firecrawl: tagline"] is None
    assert out["job"]["summary"]["failed_leads"] == 1
    assert out["job"]["summary"]["lead_errors"] == {ids["alan@example.com"]: "No URL in company_website"}
    assert len(sandbox.calls("GET", "/pipelines")) == 1  # no pipeline given: the account's pipelines were read


async def test_validation_job_reports_statuses(server: EnrichServer, sandbox: Sandbox, era: str) -> None:
    emails = ["ok@acme.example.com", "invalid.x@acme.example.com", "risky1@acme.example.com", "someone@gmail.com"]
    pipeline_id = seed(sandbox, "p", [{"email": e} for e in emails])
    with anyio.fail_after(10):
        async with connect(server, mode=era) as client:
            result = await client.call_tool(
                "enrichabl_start_validation", {"pipeline_id": pipeline_id, "service": "BOUNCEBAN"}
            )
    assert not result.is_error, result.content
    [start] = sandbox.calls("POST", "/validation/start")
    assert str(start.url) == f"{BASE}/validation/start"
    assert body(start) == {"pipeline_id": pipeline_id, "service": "BOUNCEBAN"}
    [vendor_job] = sandbox.jobs()
    assert len(sandbox.calls("GET", f"/validation/jobs/{vendor_job}/progress")) == 3
    out = result.structured_content
    assert out is not None
    statuses = {r["lead_email"]: r["pipeline_lead_email_validation_status"] for r in out["rows"]}
    assert statuses == {
        "ok@acme.example.com": "VALID",
        "invalid.x@acme.example.com": "INVALID",
        "risky1@acme.example.com": "RISKY",
        "someone@gmail.com": "UNKNOWN",
    }
    summary = out["job"]["summary"]
    assert (summary["valid_leads"], summary["invalid_leads"], summary["risky_leads"]) == (1, 1, 1)


async def test_cancel_job_cancels_at_enrichabl(make_settings: Callable[..., Settings]) -> None:
    # A long poll interval keeps the job running at the vendor until it is cancelled.
    server = build_server(make_settings(toolsets=["enrichabl"], poll_interval_seconds=600))
    sandbox = server.runtime.sandboxes["enrichabl"]
    assert isinstance(sandbox, Sandbox)
    pipeline_id = seed(sandbox, "p", LEADS)
    try:
        with anyio.fail_after(10):
            async with connect(server) as client:
                started = await client.call_tool(
                    "enrichabl_start_validation", {"pipeline_id": pipeline_id, "service": "MAILVERI", "wait_seconds": 0}
                )
                assert started.structured_content is not None
                job = started.structured_content["job"]
                while job["vendor_job_id"] is None:  # the start is sent in the background
                    job = (await client.call_tool("get_job", {"job_id": job["job_id"]})).structured_content or {}
                assert job["status"] == "queued" and job["vendor_job_id"] in sandbox.jobs()
                cancelled = await client.call_tool("cancel_job", {"job_id": job["job_id"]})
    finally:
        server.runtime.close()
    assert not cancelled.is_error, cancelled.content
    assert cancelled.structured_content is not None
    assert cancelled.structured_content["cancelled_at_vendor"] is True
    assert cancelled.structured_content["job"]["status"] == "cancelled"
    [cancel] = sandbox.calls("POST", f"/validation/jobs/{job['vendor_job_id']}/cancel")
    assert cancel.headers["Authorization"] == AUTH
    assert sandbox.jobs()[job["vendor_job_id"]]["status"] == "CANCELLED"


async def test_missing_provider_key_is_a_tool_error(server: EnrichServer, sandbox: Sandbox) -> None:
    pipeline_id = seed(sandbox, "no-keys", LEADS)
    template_id = template(sandbox, "ai", name="S", prompt_template="p", model="gpt-4o")
    async with connect(server) as client:
        result = await client.call_tool(
            "enrichabl_start_enrichment",
            {"pipeline_id": pipeline_id, "enrichment": {"enrichment_type": "AI_COLUMN", "ai_template_id": template_id}},
        )
    assert result.is_error
    assert "No API key found for OPENAI" in text(result)
    assert sandbox.jobs() == {}


AI = {"enrichment_type": "AI_COLUMN", "ai_template_id": "t"}


async def test_bad_run_input_sends_nothing(server: EnrichServer, sandbox: Sandbox) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("enrichabl_start_enrichment", {"pipeline_id": PID, "enrichment": {**AI, "enrichment_type": "ai_column"}}),
        ("enrichabl_start_enrichment", {"pipeline_id": PID, "enrichment": {"enrichment_type": "AI_COLUMN"}}),
        ("enrichabl_start_enrichment", {"enrichment": AI}),
        (
            "enrichabl_start_enrichment",
            {"pipeline_id": PID, "enrichment": {**AI, "multi_ai_template_id": "m"}},
        ),
        (
            "enrichabl_start_enrichment",
            {
                "pipeline_id": PID,
                "enrichment": {
                    "enrichment_type": "FIRECRAWL_EXTRACT",
                    "firecrawl_extract_config": {
                        "url_column": "lead_company_website",
                        "prompt": "p",
                        "output_fields": ["tagline"],
                    },
                },
            },
        ),
        (
            "enrichabl_start_enrichment",
            {"lead_ids": ["a"], "limit": 5, "enrichment": AI},
        ),
        ("enrichabl_start_validation", {"pipeline_id": PID, "service": "bounceban"}),
        ("enrichabl_start_validation", {"pipeline_id": PID, "service": "BOUNCEBAN", "limit": 0}),
        ("enrichabl_start_validation", {"lead_ids": ["a", "a"], "service": "HYBRID"}),
    ]
    async with connect(server) as client:
        for name, args in cases:
            result = await client.call_tool(name, args)
            assert result.is_error, args
        firecrawl = await client.call_tool(*cases[4])
    assert sandbox.requests == []
    assert '"company_website"' in text(firecrawl)


async def test_sandbox_rejects_lowercase_enrichment_type(server: EnrichServer, sandbox: Sandbox) -> None:
    http = server.runtime.vendors["enrichabl"].http
    response = await http.request(
        "POST",
        "/enrichment/start",
        json_body={"pipeline_id": PID, "enrichment_type": "ai_column"},
        ok_statuses=frozenset({400}),
    )
    assert (response.status_code, response.json()) == (400, {"error": "invalid enrichment_type"})
