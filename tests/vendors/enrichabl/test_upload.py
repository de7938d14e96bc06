from __future__ import annotations

import json
from pathlib import Path

import anyio

from enrich_mcp.sandbox.enrichabl import Sandbox
from enrich_mcp.server import EnrichServer
from enrich_mcp.vendors.enrichabl.upload import MAX_BODY_BYTES
from tests.conftest import connect
from tests.vendors.enrichabl.conftest import AUTH, BASE, PID, body, seed, text


def uploads(sandbox: Sandbox, pipeline_id: str) -> list[list[dict]]:
    return [body(r) for r in sandbox.calls("POST", f"/pipelines/{pipeline_id}/leads")]


async def test_9000_leads_go_in_chunks_of_at_most_4000_three_at_a_time(
    server: EnrichServer, sandbox: Sandbox, era: str
) -> None:
    pipeline_id = seed(sandbox, "big", [])
    leads = [
        {"email": f"user{i}@example.com", "first_name": f"User{i}", "custom_fields": [{"key": "n", "value": str(i)}]}
        for i in range(9000)
    ]
    with anyio.fail_after(30):
        async with connect(server, mode=era) as client:
            result = await client.call_tool("enrichabl_upload_leads", {"pipeline_id": pipeline_id, "leads": leads})
    assert not result.is_error, result.content
    requests = sandbox.calls("POST", f"/pipelines/{pipeline_id}/leads")
    assert len(requests) == 3
    for request in requests:
        assert str(request.url) == f"{BASE}/pipelines/{pipeline_id}/leads"
        assert request.headers["Authorization"] == AUTH
        assert request.headers["Content-Type"] == "application/json"
        assert len(request.content) < 4_000_000
    batches = [body(r) for r in requests]
    assert all(len(b) <= 4000 for b in batches)
    sent = [lead["email"] for b in batches for lead in b]
    assert sorted(sent) == sorted(lead["email"] for lead in leads)  # every lead exactly once
    assert batches[0][0] == {"email": "user0@example.com", "first_name": "User0", "custom_fields": {"n": "0"}}
    assert sandbox.max_uploads_in_flight == 3  # the three chunks overlapped, and never more
    assert len(sandbox.leads()) == 9000
    out = result.structured_content
    assert out is not None
    assert (out["created"], out["skipped"], out["failed"], out["dropped"]) == (9000, 0, 0, 0)
    assert out["complete"] is True
    assert out["landed_ranges"] == [[0, 9000]] and out["not_landed_ranges"] == []
    assert [(c["start"], c["end"], c["status"]) for c in out["chunks"]] == [
        (0, 4000, "landed"),
        (4000, 8000, "landed"),
        (8000, 9000, "landed"),
    ]


async def test_large_leads_are_split_by_body_size(server: EnrichServer, sandbox: Sandbox, tmp_path: Path) -> None:
    pipeline_id = seed(sandbox, "wide", [])
    blob = "x" * 20_000
    leads = [{"email": f"wide{i}@example.com", "notes": blob} for i in range(500)]  # ~10 MB: too big inline
    path = tmp_path / "wide.csv"
    path.write_text("email,notes\n" + "".join(f"{lead['email']},{blob}\n" for lead in leads), encoding="utf-8")
    async with connect(server) as client:
        result = await client.call_tool("enrichabl_upload_leads", {"pipeline_id": pipeline_id, "csv_path": str(path)})
    assert not result.is_error, result.content
    requests = sandbox.calls("POST", f"/pipelines/{pipeline_id}/leads")
    assert len(requests) == 3
    assert all(len(r.content) < MAX_BODY_BYTES for r in requests)
    assert sorted(lead["email"] for r in requests for lead in body(r)) == sorted(lead["email"] for lead in leads)
    assert sandbox.calls("POST", f"/pipelines/{pipeline_id}/leads") == requests  # no 413, no resend
    assert result.structured_content is not None and result.structured_content["created"] == 500


async def test_sandbox_refuses_bodies_over_4_mb(server: EnrichServer, sandbox: Sandbox) -> None:
    pipeline_id = seed(sandbox, "cap", [])
    payload = json.dumps([{"email": "a@example.com", "custom_fields": {"x": "y" * 4_200_000}}]).encode()
    http = server.runtime.vendors["enrichabl"].http
    response = await http.request(
        "POST", f"/pipelines/{pipeline_id}/leads", content=payload, ok_statuses=frozenset({413})
    )
    assert response.status_code == 413
    assert "4 MB" in response.json()["error"]


async def test_quota_truncation_then_402_reports_which_ranges_landed(server: EnrichServer, sandbox: Sandbox) -> None:
    sandbox.quota_limit = 6000
    pipeline_id = seed(sandbox, "quota", [])
    leads = [{"email": f"q{i}@example.com"} for i in range(20_000)]
    with anyio.fail_after(30):
        async with connect(server) as client:
            result = await client.call_tool("enrichabl_upload_leads", {"pipeline_id": pipeline_id, "leads": leads})
    assert not result.is_error, result.content
    out = result.structured_content
    assert out is not None
    assert out["created"] == 6000 and out["dropped"] == 2000
    assert out["complete"] is False
    assert out["quota"] == {
        "message": "enrichabl returned HTTP 402: Lead quota exceeded",
        "current_count": 6000,
        "quota_limit": 6000,
    }
    statuses = [c["status"] for c in out["chunks"]]
    assert statuses.count("landed") == 1 and statuses.count("truncated") == 1
    assert "quota_exceeded" in statuses
    # Chunks sent are exactly those not reported "not_sent"; each was sent once.
    sent = uploads(sandbox, pipeline_id)
    assert len(sent) == sum(1 for s in statuses if s != "not_sent")
    assert statuses[-1] == "not_sent"  # the 402 stopped the chunks not yet started
    for chunk in out["chunks"]:
        emails = [lead["email"] for lead in leads[chunk["start"] : chunk["end"]]]
        if chunk["status"] == "not_sent":
            assert all(batch[0]["email"] != emails[0] for batch in sent)
        stored = sum(1 for e in emails if sandbox.has_email(e))
        assert stored == chunk["created"]
    landed = [c for c in out["chunks"] if c["status"] in ("landed", "truncated")]
    assert out["landed_ranges"] == [[c["start"], c["end"]] for c in landed] or len(out["landed_ranges"]) == 1
    assert "quota" in out["next_step"]


async def test_full_quota_from_the_start_is_a_tool_error_with_counts(server: EnrichServer, sandbox: Sandbox) -> None:
    sandbox.quota_limit = 2
    pipeline_id = seed(sandbox, "full", [{"email": "a@example.com"}, {"email": "b@example.com"}])
    async with connect(server) as client:
        result = await client.call_tool(
            "enrichabl_upload_leads", {"pipeline_id": pipeline_id, "leads": [{"email": "c@example.com"}]}
        )
    assert result.is_error
    assert "HTTP 402" in text(result) and "2 of 2" in text(result)


async def test_429_is_resent_and_2xx_chunks_are_never_resent(server: EnrichServer, sandbox: Sandbox) -> None:
    pipeline_id = seed(sandbox, "busy", [{"email": "dup@example.com"}])
    path = f"/pipelines/{pipeline_id}/leads"
    sandbox.fail_next(429, {"error": "Too many concurrent bulk operations"}, method="POST", path=path)
    leads = [{"email": f"r{i}@example.com"} for i in range(5000)] + [{"email": "dup@example.com"}]
    async with connect(server) as client:
        result = await client.call_tool("enrichabl_upload_leads", {"pipeline_id": pipeline_id, "leads": leads})
    assert not result.is_error, result.content
    requests = sandbox.calls("POST", path)
    assert len(requests) == 3  # two chunks, one of them refused once with 429 and sent again
    firsts = [body(r)[0]["email"] for r in requests]
    assert len(set(firsts)) == 2
    assert requests[-1].headers.get("X-Enrich-Attempt") == "1"
    out = result.structured_content
    assert out is not None
    assert (out["created"], out["skipped"]) == (5000, 1)
    assert out["complete"] is True
    assert len(sandbox.leads()) == 5001


async def test_csv_upload_maps_known_columns_and_keeps_the_rest(
    server: EnrichServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    pipeline_id = seed(sandbox, "csv", [])
    path = tmp_path / "leads.csv"
    path.write_text(
        "\ufeffEmail,first_name,Company,Tier,source\n"
        "ada@example.com,Ada,Analytical Engines,A,Apollo\n"
        "alan@example.com,,,,\n",
        encoding="utf-8",
    )
    async with connect(server) as client:
        result = await client.call_tool("enrichabl_upload_leads", {"pipeline_id": pipeline_id, "csv_path": str(path)})
    assert not result.is_error, result.content
    [request] = sandbox.calls("POST", f"/pipelines/{pipeline_id}/leads")
    assert body(request) == [
        {
            "email": "ada@example.com",
            "first_name": "Ada",
            "company": "Analytical Engines",
            "custom_fields": {"Tier": "A", "source": "Apollo"},
        },
        {"email": "alan@example.com"},
    ]


async def test_bad_upload_input_sends_nothing(server: EnrichServer, sandbox: Sandbox, tmp_path: Path) -> None:
    no_email = tmp_path / "no_email.csv"
    no_email.write_text("email,company\n,Acme\n", encoding="utf-8")
    cases = [
        {"pipeline_id": PID},
        {"pipeline_id": PID, "leads": [{"email": "a@example.com"}], "csv_path": str(no_email)},
        {"pipeline_id": PID, "leads": [{"first_name": "Ada"}]},
        {"pipeline_id": PID, "leads": [{"email": "not-an-email"}]},
        {"pipeline_id": PID, "csv_path": str(tmp_path / "missing.csv")},
        {"pipeline_id": PID, "csv_path": str(no_email)},
    ]
    async with connect(server) as client:
        for args in cases:
            result = await client.call_tool("enrichabl_upload_leads", args)
            assert result.is_error, args
    assert sandbox.requests == []


async def test_extra_lead_keys_go_to_custom_fields(server: EnrichServer, sandbox: Sandbox) -> None:
    pipeline_id = seed(sandbox, "extra", [])
    custom = [{"key": "tier", "value": "A"}, {"key": "source", "value": "Apollo"}]
    lead = {"email": "ada@example.com", "custom_fields": custom}
    async with connect(server) as client:
        result = await client.call_tool("enrichabl_upload_leads", {"pipeline_id": pipeline_id, "leads": [lead]})
        loose = await client.call_tool(
            "enrichabl_upload_leads", {"pipeline_id": pipeline_id, "leads": [{"email": "ada@example.com", "tier": "A"}]}
        )
    assert not result.is_error, result.content
    [request] = sandbox.calls("POST", f"/pipelines/{pipeline_id}/leads")
    assert body(request) == [{"email": "ada@example.com", "custom_fields": {"tier": "A", "source": "Apollo"}}]
    # A key beyond the documented fields is refused, naming where it belongs; nothing more was sent.
    assert loose.is_error
    assert "leads[0]: unknown field tier; valid fields: email," in text(loose)
    assert "(other data goes in custom_fields, as key/value pairs)" in text(loose)
    assert len(sandbox.calls("POST", f"/pipelines/{pipeline_id}/leads")) == 1
