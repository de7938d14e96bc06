"""Issue 13.3: what the Enrichabl document leaves open, read every plausible way (the sandbox's variants)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from enrich_mcp.sandbox.enrichabl import Sandbox
from enrich_mcp.server import EnrichServer
from enrich_mcp.vendors.enrichabl import upload as upload_module
from enrich_mcp.vendors.enrichabl.client import job_id_of, upload_counts
from tests.conftest import connect
from tests.vendors.enrichabl.conftest import seed, text

LEADS = [
    {"email": "ada@example.com", "company": "Analytical Engines"},
    {"email": "alan@example.com", "company": "Bletchley"},
]


@pytest.mark.parametrize("summary", Sandbox.variants["upload_summary"])
async def test_upload_summary_counts_or_lists(server: EnrichServer, sandbox: Sandbox, summary: str) -> None:
    sandbox.pin(upload_summary=summary)
    sandbox.quota_limit = 4
    pipeline_id = seed(sandbox, "p", [{"email": "dup@example.com"}])
    leads = [{"email": "dup@example.com"}, *({"email": f"n{i}@example.com"} for i in range(5))]
    async with connect(server) as client:
        result = await client.call_tool("enrichabl_upload_leads", {"pipeline_id": pipeline_id, "leads": leads})
    out = result.structured_content
    assert out is not None, result.content
    # One already in the account (skipped), three fit the quota of 4, two were dropped by truncation.
    assert (out["created"], out["skipped"], out["failed"], out["dropped"]) == (3, 1, 0, 2)
    assert [c["status"] for c in out["chunks"]] == ["truncated"]
    assert out["complete"] is False and "dropped" in out["next_step"]


@pytest.mark.parametrize(
    ("answer", "counts"),
    [
        ({"created": 2, "skipped": 1, "failed": 0}, (2, 1, 0, None)),
        ({"created": [{"index": 0}], "skipped": [], "failed": [{"index": 1}], "dropped": [{"index": 2}]}, (1, 0, 1, 1)),
        ({"summary": {"created": 3, "skipped": 0, "failed": 0}, "truncated": 4}, (3, 0, 0, 4)),
        ({"created": 3, "dropped": 0, "truncated": False}, (3, None, None, 0)),
        ({"created": 1, "truncated": {"dropped": 5}}, (1, None, None, 5)),
    ],
)
def test_upload_counts_reads_each_shape(answer: dict[str, Any], counts: tuple[int | None, ...]) -> None:
    got = upload_counts(answer)
    assert (got["created"], got["skipped"], got["failed"], got["dropped"]) == counts


@pytest.mark.parametrize("start", Sandbox.variants["start_answer"])
async def test_start_answer_job_id_under_any_key(server: EnrichServer, sandbox: Sandbox, start: str) -> None:
    sandbox.pin(start_answer=start)
    pipeline_id = seed(sandbox, "p", LEADS)
    with anyio.fail_after(10):
        async with connect(server) as client:
            result = await client.call_tool(
                "enrichabl_start_validation", {"pipeline_id": pipeline_id, "service": "MAILVERI"}
            )
    out = result.structured_content
    assert out is not None, result.content
    [vendor_job] = sandbox.jobs()
    assert (out["job"]["status"], out["job"]["vendor_job_id"]) == ("completed", vendor_job)


@pytest.mark.parametrize(
    "answer",
    [
        {"job_id": "j1"},
        {"id": "j1", "status": "PENDING"},
        {"jobId": "j1"},
        {"job": {"id": "j1"}},
        {"data": {"job_id": "j1"}},
        {"enrichment_job_id": "j1"},
    ],
)
def test_job_id_of_reads_each_shape(answer: dict[str, Any]) -> None:
    assert job_id_of(answer, "enrichment") == "j1"
    assert job_id_of({"status": "PENDING"}, "enrichment") is None


@pytest.mark.parametrize("id_key", Sandbox.variants["ai_template_id"])
async def test_ai_template_found_whatever_its_id_key(server: EnrichServer, sandbox: Sandbox, id_key: str) -> None:
    sandbox.pin(ai_template_id=id_key)
    pipeline_id = seed(sandbox, "p", LEADS)
    template = sandbox.create_template("ai", {"name": "Summary", "prompt_template": "p", "model": "gpt-4o-mini"})
    with anyio.fail_after(10):
        async with connect(server) as client:
            listed = await client.call_tool("enrichabl_list_templates", {"kind": "ai"})
            result = await client.call_tool(
                "enrichabl_start_enrichment",
                {
                    "pipeline_id": pipeline_id,
                    "enrichment": {"enrichment_type": "AI_COLUMN", "ai_template_id": template[id_key]},
                },
            )
    assert listed.structured_content is not None and listed.structured_content["count"] == 1
    # Whatever key Enrichabl used, the tool names the id template_id.
    assert listed.structured_content["templates"][0]["template_id"] == template[id_key]
    out = result.structured_content
    assert out is not None, result.content
    assert {row["lead_email"]: row["Summary"] for row in out["rows"]} == {
        "ada@example.com": "Synthetic Summary for Analytical Engines",
        "alan@example.com": "Synthetic Summary for Bletchley",
    }


async def test_a_template_missing_from_the_listing_does_not_refuse_the_start(
    server: EnrichServer, sandbox: Sandbox
) -> None:
    """Before: "No ai template with id ..." locally, although Enrichabl would have run it."""
    pipeline_id = seed(sandbox, "p", LEADS)
    template = sandbox.create_template("ai", {"name": "Summary", "prompt_template": "p", "model": "gpt-4o-mini"})
    template_id = template[sandbox.shape["ai_template_id"]]
    # The listing names its ids with a key nobody guessed.
    sandbox.fail_next(200, {"data": [{"uuid": template_id, "name": "Summary"}]}, path="/columns/ai-templates")
    with anyio.fail_after(10):
        async with connect(server) as client:
            result = await client.call_tool(
                "enrichabl_start_enrichment",
                {
                    "pipeline_id": pipeline_id,
                    "enrichment": {"enrichment_type": "AI_COLUMN", "ai_template_id": template_id},
                },
            )
    out = result.structured_content
    assert out is not None, result.content
    assert out["job"]["status"] == "completed"
    assert len(sandbox.calls("POST", "/enrichment/start")) == 1
    # Which keys the run wrote is unknown: each row carries all of lead_custom_fields.
    assert {r["lead_email"]: r["lead_custom_fields"] for r in out["rows"]} == {
        "ada@example.com": {"Summary": "Synthetic Summary for Analytical Engines"},
        "alan@example.com": {"Summary": "Synthetic Summary for Bletchley"},
    }


async def test_a_template_enrichabl_does_not_know_is_its_error(server: EnrichServer, sandbox: Sandbox) -> None:
    pipeline_id = seed(sandbox, "p", LEADS)
    async with connect(server) as client:
        result = await client.call_tool(
            "enrichabl_start_enrichment",
            {
                "pipeline_id": pipeline_id,
                "enrichment": {"enrichment_type": "AI_COLUMN", "ai_template_id": "no-such-template"},
            },
        )
    assert result.is_error and "HTTP 404" in text(result) and "Template not found" in text(result)


async def test_three_uploads_per_account_across_calls(
    server: EnrichServer, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the cap was per call, so two calls had six uploads in flight and Enrichabl answered 429."""
    monkeypatch.setattr(upload_module, "MAX_LEADS_PER_REQUEST", 10)  # 40 leads: four chunks a call
    first = seed(sandbox, "a", [])
    second = seed(sandbox, "b", [])
    results: dict[str, Any] = {}
    async with connect(server) as client:

        async def upload(pipeline_id: str, prefix: str) -> None:
            leads = [{"email": f"{prefix}{i}@example.com"} for i in range(40)]
            results[prefix] = await client.call_tool(
                "enrichabl_upload_leads", {"pipeline_id": pipeline_id, "leads": leads}
            )

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(upload, first, "a")
                tg.start_soon(upload, second, "b")
    assert all(r.structured_content and r.structured_content["created"] == 40 for r in results.values())
    assert sandbox.max_uploads_in_flight == 3
    uploads = [r for r in sandbox.requests if sandbox.is_upload(r)]
    assert len(uploads) == 8  # no upload was refused with 429 and sent again


@pytest.mark.parametrize("listing", Sandbox.variants["list_shape"])
@pytest.mark.parametrize("single", Sandbox.variants["object_shape"])
async def test_listings_and_objects_in_any_wrapper(
    server: EnrichServer, sandbox: Sandbox, listing: str, single: str
) -> None:
    sandbox.pin(list_shape=listing, object_shape=single)
    async with connect(server) as client:
        created = await client.call_tool("enrichabl_create_pipeline", {"pipeline_name": "Q3"})
        listed = await client.call_tool("enrichabl_list_pipelines", {})
    assert created.structured_content is not None and listed.structured_content is not None, created.content
    assert created.structured_content["pipeline_name"] == "Q3" and created.structured_content["total_leads"] == 0
    assert [p["pipeline_id"] for p in listed.structured_content["pipelines"]] == [
        created.structured_content["pipeline_id"]
    ]


@pytest.mark.parametrize("errors", Sandbox.variants["lead_errors"])
async def test_lead_errors_as_a_map_or_a_list(server: EnrichServer, sandbox: Sandbox, errors: str) -> None:
    sandbox.pin(lead_errors=errors)
    pipeline_id = seed(sandbox, "p", LEADS)  # neither lead has a company_website
    config = {"url_column": "company_website", "prompt": "Tagline", "output_fields": ["tagline"]}
    with anyio.fail_after(10):
        async with connect(server) as client:
            result = await client.call_tool(
                "enrichabl_start_enrichment",
                {
                    "pipeline_id": pipeline_id,
                    "enrichment": {"enrichment_type": "FIRECRAWL_EXTRACT", "firecrawl_extract_config": config},
                },
            )
    out = result.structured_content
    assert out is not None, result.content
    ids = {lead["lead_email"]: lead_id for lead_id, lead in sandbox.leads().items()}
    assert out["job"]["summary"]["lead_errors"] == {ids[e]: "No URL in company_website" for e in ids}
    assert {r["lead_email"]: r["error"] for r in out["rows"]} == {e: "No URL in company_website" for e in ids}


@pytest.mark.parametrize("record", Sandbox.variants["job_record"])
async def test_get_enrichment_job_reads_the_record(server: EnrichServer, sandbox: Sandbox, record: str) -> None:
    sandbox.pin(job_record=record)
    pipeline_id = seed(sandbox, "p", LEADS)
    template = sandbox.create_template("ai", {"name": "S", "prompt_template": "p", "model": "gpt-4o"})
    template_id = template[sandbox.shape["ai_template_id"]]
    async with connect(server) as client:
        started = await client.call_tool(
            "enrichabl_start_enrichment",
            {"pipeline_id": pipeline_id, "enrichment": {"enrichment_type": "AI_COLUMN", "ai_template_id": template_id}},
        )
        assert started.structured_content is not None, started.content
        job_id = started.structured_content["job"]["vendor_job_id"]
        result = await client.call_tool("enrichabl_get_enrichment_job", {"job_id": job_id})
        missing = await client.call_tool("enrichabl_get_enrichment_job", {"job_id": "nope"})
    [request] = sandbox.calls("GET", f"/enrichment/jobs/{job_id}")
    assert str(request.url) == f"https://api.enrichabl.com/v1/enrichment/jobs/{job_id}"
    out = result.structured_content
    assert out is not None, result.content
    assert out["job_id"] == job_id
    assert (out["record"]["id"], out["record"]["status"], out["record"]["enrichment_type"]) == (
        job_id,
        "COMPLETED",
        "AI_COLUMN",
    )
    assert out["record"]["ai_template_id"] == template_id
    assert missing.is_error and "HTTP 404" in text(missing)
