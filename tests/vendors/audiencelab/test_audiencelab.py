from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from enrich_mcp.sandbox.audiencelab import BUCKET, GCS_HOST, Sandbox
from enrich_mcp.server import EnrichServer
from tests.conftest import connect, sandbox_of

KEY = "sandbox-key-not-secret"
API = "https://api.audiencelab.io"


def audiencelab(server: EnrichServer) -> Sandbox:
    return sandbox_of(server, Sandbox)


def text(result: Any) -> str:
    return result.content[0].text


def api_calls(sandbox: Any) -> list[Any]:
    return [r for r in sandbox.requests if r.url.host == "api.audiencelab.io"]


# -- audiencelab_enrich_contact ----------------------------------------------------------------------


async def test_enrich_contact_sends_documented_request(server: EnrichServer, era: str) -> None:
    sandbox = audiencelab(server)
    sandbox.pin(enrich_keys="fields")
    sandbox.clock = lambda: 1_735_689_601.0
    async with connect(server, mode=era) as client:
        result = await client.call_tool(
            "audiencelab_enrich_contact",
            {
                "filter": {"email": "ada.lovelace@example.com"},
                "fields": ["first_name", "company", "b2b_phone"],
                "request_id": "req_1",
            },
        )
    assert not result.is_error, result.content
    [request] = sandbox.calls("POST", "/enrich")
    assert str(request.url) == f"{API}/enrich"
    assert request.headers["X-Api-Key"] == KEY
    assert json.loads(request.content) == {
        "filter": {"email": "ada.lovelace@example.com"},
        "fields": ["first_name", "company", "b2b_phone"],
        "is_or_match": False,
        "request_id": "req_1",
    }
    assert result.structured_content == {
        "request_id": "req_1",
        "timestamp": 1_735_689_601_000,
        "found": 1,
        "result": [
            {
                "email": "ada.lovelace@example.com",
                "first_name": "Ada",
                "company": "Example Analytics",
                "b2b_phone": "+1-555-010-0017",
            }
        ],
        "cost_usd": 0.01,
        "cache": {"hit": False, "age_seconds": 0.0},
    }
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(0.01)


async def test_enrich_contact_is_cached_regardless_of_request_id(server: EnrichServer) -> None:
    sandbox = audiencelab(server)
    args = {"filter": {"email": "grace.hopper@example.com"}, "is_or_match": True}
    async with connect(server) as client:
        first = await client.call_tool("audiencelab_enrich_contact", {**args, "request_id": "a"})
        second = await client.call_tool("audiencelab_enrich_contact", {**args, "request_id": "b"})
        fresh = await client.call_tool("audiencelab_enrich_contact", {**args, "fresh": True})
    assert first.structured_content and second.structured_content and fresh.structured_content
    assert second.structured_content["cache"]["hit"] is True
    assert second.structured_content["cost_usd"] == 0.0
    assert second.structured_content["result"] == first.structured_content["result"]
    assert fresh.structured_content["cache"]["hit"] is False
    bodies = [json.loads(r.content) for r in sandbox.calls("POST", "/enrich")]
    assert bodies == [{**args, "request_id": "a"}, args]
    assert (await server.runtime.budget.report())["spent_usd"] == pytest.approx(0.02)


async def test_enrich_contact_nobody_found(server: EnrichServer) -> None:
    async with connect(server) as client:
        result = await client.call_tool("audiencelab_enrich_contact", {"filter": {"email": "nobody@example.com"}})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["found"] == 0
    assert result.structured_content["result"] == []


BAD_CONTACT_INPUT = [
    ({"filter": {}}, "filter"),
    ({"filter": {"email": ""}}, "non-empty filter value"),
    ({"filter": {"email": "a@example.com"}, "fields": ["First_Name"]}, "first_name"),
    ({"filter": {"email": "a@example.com"}, "fields": ["salary"]}, "company_domain"),
    ({"filter": {"email": "a@example.com"}, "fields": ["city", "city"]}, "each field once"),
]


async def test_enrich_contact_bad_input_sends_nothing(server: EnrichServer) -> None:
    sandbox = audiencelab(server)
    async with connect(server) as client:
        for args, expected in BAD_CONTACT_INPUT:
            result = await client.call_tool("audiencelab_enrich_contact", args)
            assert result.is_error, args
            assert expected in text(result), (args, text(result))
    assert sandbox.requests == []


async def test_enrich_contact_401_is_actionable_and_spends_nothing(server: EnrichServer) -> None:
    sandbox = audiencelab(server)
    sandbox.fail_next(401, {"error": f"Invalid API key {KEY}"})
    async with connect(server) as client:
        result = await client.call_tool("audiencelab_enrich_contact", {"filter": {"email": "ada@example.com"}})
    assert result.is_error
    assert "audiencelab returned HTTP 401" in text(result) and "check the key" in text(result)
    assert KEY not in text(result)
    assert (await server.runtime.budget.report())["spent_usd"] == 0


async def test_enrich_contact_500_is_not_resent_and_the_charge_stays_unknown(server: EnrichServer) -> None:
    """/enrich spends credits and is not deduplicated: a 500 may come after the work was done."""
    sandbox = audiencelab(server)
    sandbox.fail_next(500, {"detail": "Internal Server Error"}, times=10)
    async with connect(server) as client:
        result = await client.call_tool("audiencelab_enrich_contact", {"filter": {"email": "ada@example.com"}})
    assert result.is_error
    assert "HTTP 500" in text(result) and "may have been processed" in text(result) and "not resent" in text(result)
    assert len(sandbox.calls("POST", "/enrich")) == 1
    assert [r["status"] for r in await server.runtime.budget.ledger.rows()] == ["unknown"]


async def test_enrich_contact_503_with_retry_after_is_resent_and_spends_nothing(server: EnrichServer) -> None:
    sandbox = audiencelab(server)
    sandbox.fail_next(503, {"detail": "Maintenance"}, times=10, headers={"Retry-After": "0"})
    async with connect(server) as client:
        result = await client.call_tool("audiencelab_enrich_contact", {"filter": {"email": "ada@example.com"}})
    assert result.is_error
    assert "HTTP 503" in text(result) and "Retry in a few minutes" in text(result)
    assert len(sandbox.calls("POST", "/enrich")) == 4  # the first try and 3 retries
    assert (await server.runtime.budget.report())["spent_usd"] == 0


# -- audiencelab_enrich_contacts_bulk -------------------------------------------------------------------


async def test_bulk_pages_to_find_the_job_and_parses_the_gzipped_csv(server: EnrichServer, era: str) -> None:
    sandbox = audiencelab(server)
    sandbox.pin(list_order="oldest_first", gcs_access="public", csv_header="upper")
    sandbox.add_old_jobs(1000)  # 1,150 older jobs, oldest first: the new job is on page 2 of 1,000
    records = [{"email": "ada.lovelace@example.com"}, {"email": "nobody@example.com"}]
    async with connect(server, mode=era) as client:
        result = await client.call_tool(
            "audiencelab_enrich_contacts_bulk",
            {"name": "Q3 leads", "records": records, "columns": ["EMAIL"], "operator": "AND"},
        )
    assert not result.is_error, result.content
    [create] = sandbox.calls("POST", "/enrichments")
    assert str(create.url) == f"{API}/enrichments"
    assert create.headers["X-Api-Key"] == KEY
    assert json.loads(create.content) == {
        "name": "Q3 leads",
        "operator": "AND",
        "columns": ["EMAIL"],
        "records": records,
    }
    jobs = sandbox.jobs()
    vendor_id = jobs[-1]["id"]
    assert len(jobs) == 1151
    listed = [str(r.url) for r in sandbox.calls("GET", "/enrichments")]
    # First poll: page 1, then page 2 where the job is; later polls start at page 2.
    assert listed == [
        f"{API}/enrichments?page=1&page_size=1000",
        f"{API}/enrichments?page=2&page_size=1000",
        f"{API}/enrichments?page=2&page_size=1000",
        f"{API}/enrichments?page=2&page_size=1000",
    ]
    [download] = [r for r in sandbox.requests if r.url.host == GCS_HOST]
    assert jobs[-1]["csv_url"] == f"gs://{BUCKET}/enrichments/{vendor_id}.csv.gz"  # the document's form
    assert str(download.url) == f"https://storage.googleapis.com/{BUCKET}/enrichments/{vendor_id}.csv.gz"
    assert "X-Api-Key" not in download.headers
    out = result.structured_content
    assert out is not None
    assert out["finished"] is True
    assert out["job"]["status"] == "completed" and out["job"]["vendor_status"] == "COMPLETED"
    assert out["job"]["vendor_job_id"] == vendor_id
    assert out["job"]["result_count"] == 2
    assert out["rows"] == [
        {
            "EMAIL": "ada.lovelace@example.com",
            "FIRST_NAME": "Ada",
            "LAST_NAME": "Lovelace",
            "B2B_EMAIL": "ada.lovelace@example.com",
            "PERSONAL_EMAIL": "ada.lovelace@personal.example.com",
            "JOB_TITLE": "Head of Sandbox Data",
            "COMPANY": "Example Analytics",
        },
        {
            "EMAIL": "nobody@example.com",
            "FIRST_NAME": "",
            "LAST_NAME": "",
            "B2B_EMAIL": "",
            "PERSONAL_EMAIL": "",
            "JOB_TITLE": "",
            "COMPANY": "",
        },
    ]
    report = await server.runtime.budget.report()
    assert report["spent_usd"] == pytest.approx(0.02)  # 2 records x $0.01 estimate


async def test_bulk_private_gs_url_completes_with_fetch_instructions(server: EnrichServer) -> None:
    sandbox = audiencelab(server)
    sandbox.pin(gcs_access="private")
    async with connect(server) as client:
        result = await client.call_tool(
            "audiencelab_enrich_contacts_bulk", {"name": "nightly", "records": [{"email": "ada@example.com"}]}
        )
    assert not result.is_error, result.content
    out = result.structured_content
    assert out is not None
    vendor_id = sandbox.jobs()[-1]["id"]
    gs_url = f"gs://{BUCKET}/enrichments/{vendor_id}.csv.gz"
    public = f"https://storage.googleapis.com/{BUCKET}/enrichments/{vendor_id}.csv.gz"
    assert out["job"]["status"] == "completed"
    assert out["job"]["summary"]["csv_url"] == gs_url
    assert f"gsutil cp {gs_url} ." in out["job"]["message"] and public in out["job"]["message"]
    assert out["next_step"] == out["job"]["message"]
    assert out["rows"] == []
    # The public address was tried once, without the key; the 403 kept the instructions.
    [tried] = [r for r in sandbox.requests if r.url.host != "api.audiencelab.io"]
    assert str(tried.url) == public and "X-Api-Key" not in tried.headers


@pytest.mark.parametrize("access", ["public", "public_transcoded"])
@pytest.mark.parametrize("header", ["upper", "lower"])
async def test_bulk_public_gs_object_is_downloaded(server: EnrichServer, access: str, header: str) -> None:
    """A gs:// csv_url is read at storage.googleapis.com: stored gzipped, or transcoded to plain CSV on the way."""
    sandbox = audiencelab(server)
    sandbox.pin(gcs_access=access, csv_header=header)
    async with connect(server) as client:
        result = await client.call_tool(
            "audiencelab_enrich_contacts_bulk", {"name": "nightly", "records": [{"email": "ada@example.com"}]}
        )
    out = result.structured_content
    assert out is not None and out["job"]["status"] == "completed", result.content
    key = "B2B_EMAIL" if header == "upper" else "b2b_email"
    assert [row[key] for row in out["rows"]] == ["ada@example.com"]
    assert out["job"]["summary"]["rows"] == 1
    assert out["next_step"].startswith("Done")


@pytest.mark.parametrize("order", ["oldest_first", "newest_first"])
async def test_bulk_finds_the_job_whatever_the_listing_order(server: EnrichServer, order: str) -> None:
    """The document does not say how GET /enrichments is ordered."""
    sandbox = audiencelab(server)
    sandbox.pin(list_order=order)
    sandbox.add_old_jobs(1000)
    async with connect(server) as client:
        result = await client.call_tool(
            "audiencelab_enrich_contacts_bulk", {"name": "q", "records": [{"email": "ada@example.com"}]}
        )
    out = result.structured_content
    assert out is not None and out["job"]["status"] == "completed", result.content
    pages = [r.url.params["page"] for r in sandbox.calls("GET", "/enrichments")]
    assert pages[0] == "1" and set(pages) == ({"1"} if order == "newest_first" else {"1", "2"})


async def test_bulk_failed_job_spends_nothing(server: EnrichServer) -> None:
    async with connect(server) as client:
        result = await client.call_tool(
            "audiencelab_enrich_contacts_bulk", {"name": "will fail", "records": [{"email": "ada@example.com"}]}
        )
    assert not result.is_error
    out = result.structured_content
    assert out is not None
    assert out["job"]["status"] == "failed" and out["job"]["vendor_status"] == "FAILED"
    assert "FAILED" in out["job"]["error"]
    assert (await server.runtime.budget.report())["spent_usd"] == 0


async def test_bulk_wait_zero_returns_a_handle_then_finishes(server: EnrichServer) -> None:
    audiencelab(server).pin(gcs_access="public", csv_header="upper")
    async with connect(server) as client:
        result = await client.call_tool(
            "audiencelab_enrich_contacts_bulk",
            {"name": "later", "records": [{"FIRST_NAME": "Grace", "LAST_NAME": "Hopper"}], "wait_seconds": 0},
        )
        assert result.structured_content is not None
        handle = result.structured_content
        assert handle["finished"] is False
        assert handle["job"]["resource_uri"] == f"enrich://jobs/{handle['job']['job_id']}"
        with anyio.fail_after(5):
            job = await server.runtime.jobs.wait(handle["job"]["job_id"], 5)
    assert job.status == "completed"
    _, rows = await server.runtime.jobs.results(job.id)
    assert rows[0]["FIRST_NAME"] == "Grace" and rows[0]["B2B_EMAIL"] == "grace.hopper@example.com"


BAD_BULK_INPUT = [
    ({"name": "x", "records": []}, "records"),
    ({"name": "x", "records": [{}]}, "Every record needs a value"),
    (
        {"name": "x", "records": [{"email": "a@example.com"}], "operator": "or"},
        'operator: must be OR or AND (got "or")',
    ),
    ({"name": "x", "records": [{"email": "a@example.com"}], "columns": ["email"]}, "EMAIL"),
    ({"name": "x", "records": [{"email": "a@example.com"}], "columns": ["FAX"]}, "UP_ID"),
    ({"name": "", "records": [{"email": "a@example.com"}]}, "name"),
    ({"name": "x", "records": [{"email": "a@example.com"}], "wait_seconds": -1}, "wait_seconds"),
]


async def test_bulk_bad_input_sends_nothing(server: EnrichServer) -> None:
    sandbox = audiencelab(server)
    async with connect(server) as client:
        for args, expected in BAD_BULK_INPUT:
            result = await client.call_tool("audiencelab_enrich_contacts_bulk", args)
            assert result.is_error, args
            assert expected in text(result), (args, text(result))
    assert sandbox.requests == []
    assert await server.runtime.jobs.list() == []


async def test_bulk_refused_by_vendor_is_a_tool_error_and_spends_nothing(server: EnrichServer) -> None:
    sandbox = audiencelab(server)
    sandbox.fail_next(400, {"error": "records[0] has no usable column"}, method="POST", path="/enrichments")
    async with connect(server) as client:
        result = await client.call_tool(
            "audiencelab_enrich_contacts_bulk", {"name": "x", "records": [{"email": "a@example.com"}]}
        )
    assert result.is_error
    assert "audiencelab returned HTTP 400: records[0] has no usable column" in text(result)
    assert sandbox.calls("GET", "/enrichments") == []
    assert (await server.runtime.budget.report())["spent_usd"] == 0


# -- audiencelab_list_enrichment_jobs -----------------------------------------------------------------


async def test_list_jobs_second_page(server: EnrichServer, era: str) -> None:
    sandbox = audiencelab(server)
    sandbox.pin(list_order="oldest_first")
    async with connect(server, mode=era) as client:
        result = await client.call_tool("audiencelab_list_enrichment_jobs", {"page": 2, "page_size": 100})
    assert not result.is_error, result.content
    [request] = api_calls(sandbox)
    assert str(request.url) == f"{API}/enrichments?page=2&page_size=100"
    assert request.headers["X-Api-Key"] == KEY
    out = result.structured_content
    assert out is not None
    assert (out["total_records"], out["page"], out["page_size"], out["total_pages"]) == (150, 2, 100, 2)
    assert len(out["data"]) == 50
    assert out["data"][0]["name"] == "Sandbox history 101"
    assert out["data"][0]["csv_url"].startswith("gs://")


async def test_list_jobs_bounds_checked_before_any_request(server: EnrichServer) -> None:
    sandbox = audiencelab(server)
    async with connect(server) as client:
        for args in ({"page_size": 1001}, {"page_size": 0}, {"page": 0}):
            result = await client.call_tool("audiencelab_list_enrichment_jobs", args)
            assert result.is_error, args
    assert sandbox.requests == []


async def test_list_jobs_vendor_500_is_a_tool_error(server: EnrichServer) -> None:
    sandbox = audiencelab(server)
    sandbox.fail_next(500, {"error": "database unavailable"}, times=4)
    async with connect(server) as client:
        result = await client.call_tool("audiencelab_list_enrichment_jobs", {})
    assert result.is_error
    assert "HTTP 500" in text(result) and "database unavailable" in text(result)


@pytest.mark.parametrize("key", Sandbox.variants["error_body"])
async def test_vendor_error_message_is_read_whatever_its_key(server: EnrichServer, key: str) -> None:
    """The document lists 400/401/500 without a body; the message is read from {error}, {message} or {detail}."""
    from enrich_mcp.errors import VendorBadRequest
    from enrich_mcp.vendors.audiencelab.client import AudienceLabClient

    audiencelab(server).pin(error_body=key)
    client = AudienceLabClient(server.runtime.vendors["audiencelab"].http)
    with pytest.raises(VendorBadRequest) as caught:
        await client.enrich({"filter": {}})
    assert caught.value.message.endswith(": filter is required and must be a non-empty object")


@pytest.mark.parametrize("keys", Sandbox.variants["enrich_keys"])
async def test_enrich_result_keys_pass_through_as_sent(server: EnrichServer, keys: str) -> None:
    audiencelab(server).pin(enrich_keys=keys)
    async with connect(server) as client:
        result = await client.call_tool(
            "audiencelab_enrich_contact", {"filter": {"email": "ada@example.com"}, "fields": ["company", "b2b_email"]}
        )
    assert result.structured_content is not None, result.content
    [match] = result.structured_content["result"]
    company = "company_name" if keys == "example" else "company"  # the document's example answer renames it
    assert match == {"email": "ada@example.com", company: "Example Analytics", "b2b_email": "ada@example.com"}
