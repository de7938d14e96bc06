from __future__ import annotations

from enrich_mcp.sandbox.enrichabl import Sandbox
from enrich_mcp.server import EnrichServer
from tests.conftest import connect
from tests.vendors.enrichabl.conftest import AUTH, BASE, PID, body, seed, text


async def test_create_get_and_list_pipelines(server: EnrichServer, sandbox: Sandbox, era: str) -> None:
    async with connect(server, mode=era) as client:
        created = await client.call_tool(
            "enrichabl_create_pipeline",
            {"pipeline_name": "Q3 outbound", "pipeline_description": "SaaS leads", "pipeline_color": "#8B5CF6"},
        )
        assert not created.is_error, created.content
        assert created.structured_content is not None
        pipeline_id = created.structured_content["pipeline_id"]
        got = await client.call_tool("enrichabl_get_pipeline", {"pipeline_id": pipeline_id})
        listed = await client.call_tool("enrichabl_list_pipelines", {})
    [post] = sandbox.calls("POST", "/pipelines")
    assert str(post.url) == f"{BASE}/pipelines"
    assert post.headers["Authorization"] == AUTH
    assert body(post) == {
        "pipeline_name": "Q3 outbound",
        "pipeline_description": "SaaS leads",
        "pipeline_color": "#8B5CF6",
    }
    [get] = sandbox.calls("GET", f"/pipelines/{pipeline_id}")
    assert get.headers["Authorization"] == AUTH
    assert got.structured_content is not None
    assert got.structured_content["pipeline_name"] == "Q3 outbound"
    assert got.structured_content["total_leads"] == 0
    assert listed.structured_content is not None
    assert listed.structured_content["count"] == 1
    assert listed.structured_content["pipelines"][0]["pipeline_id"] == pipeline_id


async def test_pipeline_stats_are_passed_through(server: EnrichServer, sandbox: Sandbox) -> None:
    pipeline_id = seed(sandbox, "stats", [{"email": f"p{i}@example.com"} for i in range(3)])
    async with connect(server) as client:
        got = await client.call_tool("enrichabl_get_pipeline", {"pipeline_id": pipeline_id})
    assert got.structured_content is not None
    assert got.structured_content["total_leads"] == 3
    assert got.structured_content["validated_leads"] == 0


async def test_bad_color_is_refused_before_any_request(server: EnrichServer, sandbox: Sandbox) -> None:
    async with connect(server) as client:
        for color in ("purple", "#8B5CF", "8B5CF6"):
            result = await client.call_tool(
                "enrichabl_create_pipeline", {"pipeline_name": "x", "pipeline_color": color}
            )
            assert result.is_error
    assert sandbox.requests == []


ERRORS = [
    (401, "Invalid token", "check the key"),
    (403, "Account is in read-only mode", "not allowed"),
    (404, "Pipeline not found", "Check the id"),
    (429, "Rate limit exceeded", "rate limiting"),
    (500, "Internal error", "failing or unreachable"),
]


async def test_vendor_errors_map_to_actionable_tool_errors(server: EnrichServer, sandbox: Sandbox) -> None:
    async with connect(server) as client:
        for status, message, expected in ERRORS:
            sandbox.requests.clear()
            sandbox.fail_next(status, {"error": message}, times=10)
            result = await client.call_tool("enrichabl_get_pipeline", {"pipeline_id": PID})
            sandbox._faults.clear()
            assert result.is_error
            assert f"HTTP {status}" in text(result)
            assert message in text(result)
            assert expected in text(result)
            assert "sandbox-key-not-secret" not in text(result)
            retried = status in (429, 500)
            assert len(sandbox.calls("GET", f"/pipelines/{PID}")) == (4 if retried else 1)  # FAST: 3 retries


async def test_unknown_pipeline_is_404_from_the_sandbox(server: EnrichServer) -> None:
    async with connect(server) as client:
        result = await client.call_tool("enrichabl_get_pipeline", {"pipeline_id": PID})
    assert result.is_error
    assert "HTTP 404" in text(result) and "Pipeline not found" in text(result)


async def test_wrong_token_is_401(server: EnrichServer, sandbox: Sandbox) -> None:
    sandbox.valid_keys = frozenset({"eab_live_other"})
    async with connect(server) as client:
        result = await client.call_tool("enrichabl_list_pipelines", {})
    assert result.is_error
    assert "HTTP 401" in text(result)
