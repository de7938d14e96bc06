"""Every vendor call under the one retry rule: what may be resent after a lost answer, audited per endpoint.

Each call is made through its vendor client on ``httpx.MockTransport``; the first answer is the fault,
the second a success. Unsafe calls (paid or creating) must reach the vendor exactly once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from enrich_mcp.errors import VendorResponseLost
from enrich_mcp.http import BEARER, Auth, RateLimiter, RetryPolicy, VendorHTTP
from enrich_mcp.vendors.audiencelab.client import AudienceLabClient
from enrich_mcp.vendors.enrichabl.client import EnrichablClient
from enrich_mcp.vendors.fourrunr.client import FourRunrClient
from enrich_mcp.vendors.lance.client import LanceClient
from enrich_mcp.vendors.sixtyfour.client import SixtyfourClient

UUID = "550e8400-e29b-41d4-a716-446655440000"
LEAD = {"name": "Ada Lovelace"}
BASES = {
    "sixtyfour": ("https://api.sixtyfour.ai", Auth("x-api-key")),
    "audiencelab": ("https://api.audiencelab.io", Auth("X-Api-Key")),
    "lance": ("https://app.lance.so/api/v1", BEARER),
    "enrichabl": ("https://api.enrichabl.com/v1", BEARER),
    "fourrunr": ("http://localhost:5000/api/v1", BEARER),
}
CLIENTS: dict[str, Callable[[VendorHTTP], Any]] = {
    "sixtyfour": SixtyfourClient,
    "audiencelab": AudienceLabClient,
    "lance": LanceClient,
    "enrichabl": EnrichablClient,
    "fourrunr": FourRunrClient,
}
ENVELOPE = {"success": True, "data": {"id": "rec1"}}
RECORD = {"id": UUID, "status": "pending"}

Call = Callable[[Any], Awaitable[Any]]


def vendor(name: str, fault: httpx.Response | Exception, success: Any) -> tuple[Any, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            if isinstance(fault, Exception):
                raise fault
            return fault
        return httpx.Response(200, json=success) if success is not None else httpx.Response(204)

    base_url, auth = BASES[name]
    http = VendorHTTP(
        vendor=name,
        base_url=base_url,
        auth=auth,
        api_key="k-0123456789",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_retries=3, base_delay=0, max_delay=0, retry_after_cap=0),
        limiter=RateLimiter(None),
    )
    return CLIENTS[name](http), seen


# (vendor, what, call): every POST/PATCH a vendor client sends that is NOT resent after a lost answer.
UNSAFE: list[tuple[str, str, Call]] = [
    ("sixtyfour", "find-email", lambda c: c.find_email(LEAD, "PROFESSIONAL")),
    ("sixtyfour", "find-phone", lambda c: c.find_phone(LEAD)),
    ("sixtyfour", "find-email-bulk-async", lambda c: c.find_email_bulk_async([LEAD], "PROFESSIONAL")),
    ("sixtyfour", "find-phone-bulk-async", lambda c: c.find_phone_bulk_async([LEAD])),
    ("sixtyfour", "enrich-lead-async", lambda c: c.enrich_lead_async({"lead_info": LEAD})),
    ("sixtyfour", "enrich-company-async", lambda c: c.enrich_company_async({"target_company": {}})),
    ("sixtyfour", "qa-agent-async", lambda c: c.qa_agent_async({"data": {}})),
    ("sixtyfour", "start-deep-search", lambda c: c.start_deep_search("cto", "people", 10)),
    ("sixtyfour", "create workflow", lambda c: c.create_workflow({"workflow_name": "w"})),
    ("audiencelab", "enrich", lambda c: c.enrich({"filter": {"email": "a@example.com"}})),
    ("audiencelab", "enrichments", lambda c: c.create_enrichment({"name": "n", "records": []})),
    ("enrichabl", "create pipeline", lambda c: c.create_pipeline({"pipeline_name": "p"})),
    ("enrichabl", "upload leads", lambda c: c.upload_leads(UUID, b"[]")),
    ("enrichabl", "add column", lambda c: c.add_column(UUID, {"type": "base", "key": "industry"})),
    ("enrichabl", "create template", lambda c: c.create_template("ai", {"name": "t"})),
    ("enrichabl", "start enrichment", lambda c: c.start("enrichment", {"pipeline_id": UUID})),
    ("enrichabl", "start validation", lambda c: c.start("validation", {"pipeline_id": UUID})),
    ("fourrunr", "create lead", lambda c: c.create_lead({"name": "Jane"})),
    ("fourrunr", "sync airtable", lambda c: c.sync_airtable(force_full_sync=False, clean_data=True)),
    ("fourrunr", "clean lead", lambda c: c.clean_lead({"name": "x"}, None)),
    ("fourrunr", "clean bulk", lambda c: c.clean_bulk(["rec1"], force_reclean=False)),
    ("fourrunr", "generate message", lambda c: c.generate_message("rec1", "initial_outreach", "high")),
    ("fourrunr", "enrich lead", lambda c: c.enrich_lead("rec1", None)),
    ("fourrunr", "create campaign", lambda c: c.create_campaign({"name": "c"})),
    ("fourrunr", "start campaign", lambda c: c.start_campaign("cmp1")),
    ("fourrunr", "pause campaign", lambda c: c.pause_campaign("cmp1")),
    ("fourrunr", "trigger automation", lambda c: c.trigger_automation("enrich_leads", None)),
]

# Calls the vendor makes safe to resend (documented dedup or idempotency key), or safe methods.
SAFE: list[tuple[str, str, Call, Any]] = [
    ("lance", "trigger (documented reuse)", lambda c: c.trigger(UUID, "emails"), RECORD),
    ("sixtyfour", "run workflow (Idempotency-Key)", lambda c: c.run_workflow(UUID, [LEAD]), {"job_id": UUID}),
    ("sixtyfour", "update workflow", lambda c: c.update_workflow(UUID, {"workflow_name": "w"}), {"id": UUID}),
    ("sixtyfour", "delete workflow", lambda c: c.delete_workflow(UUID), None),
    ("sixtyfour", "cancel run", lambda c: c.cancel_run(UUID), {"status": "cancelled"}),
    ("sixtyfour", "job status", lambda c: c.job_status("t1"), {"status": "pending"}),
    ("enrichabl", "cancel", lambda c: c.cancel("enrichment", UUID), {}),
    ("enrichabl", "get pipeline", lambda c: c.get_pipeline(UUID), {"pipeline_id": UUID}),
    ("audiencelab", "list enrichments", lambda c: c.list_enrichments(), {"data": []}),
    ("fourrunr", "update lead (PUT)", lambda c: c.update_lead("rec1", {"name": "x"}), ENVELOPE),
    ("fourrunr", "delete lead (DELETE)", lambda c: c.delete_lead("rec1"), ENVELOPE),
]


@pytest.mark.parametrize(("name", "what", "call"), UNSAFE, ids=[f"{v}:{w}" for v, w, _ in UNSAFE])
async def test_unsafe_calls_are_sent_once_after_a_read_timeout(name: str, what: str, call: Call) -> None:
    client, seen = vendor(name, httpx.ReadTimeout("no answer"), ENVELOPE)
    with pytest.raises(VendorResponseLost):
        await call(client)
    assert len(seen) == 1 and seen[0].method == "POST"


@pytest.mark.parametrize(("name", "what", "call"), UNSAFE, ids=[f"{v}:{w}" for v, w, _ in UNSAFE])
async def test_unsafe_calls_are_sent_once_after_a_502(name: str, what: str, call: Call) -> None:
    client, seen = vendor(name, httpx.Response(502, text="Bad Gateway"), ENVELOPE)
    with pytest.raises(VendorResponseLost) as info:
        await call(client)
    assert len(seen) == 1 and info.value.status == 502


@pytest.mark.parametrize(("name", "what", "call", "success"), SAFE, ids=[f"{v}:{w}" for v, w, _, _ in SAFE])
async def test_safe_calls_are_resent_after_a_read_timeout(name: str, what: str, call: Call, success: Any) -> None:
    client, seen = vendor(name, httpx.ReadTimeout("no answer"), success)
    await call(client)
    assert len(seen) == 2


# -- the reproductions named in the issue ---------------------------------------------------------------


async def test_find_email_answered_504_is_one_post_and_response_lost() -> None:
    client, seen = vendor("sixtyfour", httpx.Response(504, text="Gateway Timeout"), {"email": []})
    with pytest.raises(VendorResponseLost) as info:
        await client.find_email(LEAD, "PROFESSIONAL")
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/find-email")]
    assert info.value.status == 504 and "before retrying" in str(info.value)


async def test_find_email_answered_429_then_200_is_two_posts() -> None:
    client, seen = vendor("sixtyfour", httpx.Response(429, json={"detail": "slow"}), {"email": []})
    assert await client.find_email(LEAD, "PROFESSIONAL") == {"email": []}
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/find-email")] * 2


async def test_find_email_answered_503_without_retry_after_is_one_post() -> None:
    client, seen = vendor("sixtyfour", httpx.Response(503, json={"detail": "down"}), {"email": []})
    with pytest.raises(VendorResponseLost):
        await client.find_email(LEAD, "PROFESSIONAL")
    assert len(seen) == 1


async def test_find_email_answered_503_with_retry_after_is_resent() -> None:
    fault = httpx.Response(503, json={"detail": "down"}, headers={"Retry-After": "0"})
    client, seen = vendor("sixtyfour", fault, {"email": []})
    assert await client.find_email(LEAD, "PROFESSIONAL") == {"email": []}
    assert len(seen) == 2


async def test_fourrunr_create_lead_read_timeout_is_one_post() -> None:
    client, seen = vendor("fourrunr", httpx.ReadTimeout("no answer"), ENVELOPE)
    with pytest.raises(VendorResponseLost):
        await client.create_lead({"name": "Jane Smith", "email": "jane@startup.io"})
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/api/v1/leads")]


async def test_a_get_answered_502_is_retried() -> None:
    client, seen = vendor("fourrunr", httpx.Response(502, text="Bad Gateway"), ENVELOPE)
    assert await client.get_lead("rec1") == {"id": "rec1"}
    assert [r.method for r in seen] == ["GET", "GET"]


async def test_workflow_run_resends_with_the_same_idempotency_key() -> None:
    client, seen = vendor("sixtyfour", httpx.Response(504, text="timeout"), {"job_id": UUID})
    assert await client.run_workflow(UUID, [LEAD], idempotency_key="enrich-mcp-job-1") == UUID
    assert [r.headers["idempotency-key"] for r in seen] == ["enrich-mcp-job-1"] * 2
    client, seen = vendor("sixtyfour", httpx.ReadTimeout("x"), {"job_id": UUID})
    await client.run_workflow(UUID, [LEAD])  # without a job key: one fresh key, reused by the retry
    assert seen[0].headers["idempotency-key"] == seen[1].headers["idempotency-key"]
