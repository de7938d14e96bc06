"""No id can change a vendor route: every tool and client method that puts an id into a URL path.

Ids are checked against the vendor's documented shape (Enrichabl, Lance and Sixtyfour workflow ids
are UUIDs; 4Runr ids are record ids like "rec123abc") in the tool schema and again in the client,
before any request.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from enrich_mcp.errors import InputError
from enrich_mcp.http import BEARER, Auth, VendorHTTP
from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from enrich_mcp.vendors.enrichabl.client import EnrichablClient
from enrich_mcp.vendors.fourrunr.client import FourRunrClient
from enrich_mcp.vendors.lance.client import LanceClient
from enrich_mcp.vendors.sixtyfour.client import SixtyfourClient
from tests.conftest import connect

HOSTILE = [
    "../templates?x=",
    "x/../../v2/admin",
    "a\x00b",
    "%2e%2e",
    "..",
    " 550e8400-e29b-41d4-a716-446655440000",
    "550e8400-e29b-41d4-a716-446655440000\n",
    "rec 1",
    "rec1/../../admin",
    "rec1?x=1",
]

TOOLS: list[tuple[str, str, dict[str, Any]]] = [
    ("enrichabl_get_pipeline", "pipeline_id", {}),
    ("enrichabl_list_leads", "pipeline_id", {}),
    ("enrichabl_upload_leads", "pipeline_id", {"leads": [{"email": "ada@example.com"}]}),
    ("enrichabl_add_column", "pipeline_id", {"type": "base", "key": "industry"}),
    ("enrichabl_start_enrichment", "pipeline_id", {"enrichment_type": "AI_COLUMN", "ai_template_id": "t"}),
    ("enrichabl_start_validation", "pipeline_id", {"service": "BOUNCEBAN"}),
    ("sixtyfour_get_workflow", "workflow_id", {}),
    ("sixtyfour_update_workflow", "workflow_id", {"workflow_name": "x"}),
    ("sixtyfour_delete_workflow", "workflow_id", {}),
    ("sixtyfour_run_workflow", "workflow_id", {"webhook_payload": [{"name": "Ada"}]}),
    ("sixtyfour_list_workflow_runs", "workflow_id", {}),
    ("lance_enrich_person", "person_id", {"field": "emails"}),
    ("lance_get_enrichment", "person_id", {"field": "emails"}),
    ("fourrunr_get_lead", "lead_id", {}),
    ("fourrunr_update_lead", "lead_id", {"engagement_stage": "contacted"}),
    ("fourrunr_delete_lead", "lead_id", {}),
    ("fourrunr_generate_message", "lead_id", {}),
    ("fourrunr_enrich_lead", "lead_id", {}),
    ("fourrunr_start_campaign", "campaign_id", {}),
    ("fourrunr_pause_campaign", "campaign_id", {}),
]


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[EnrichServer]:
    srv = build_server(make_settings(toolsets=["enrichabl", "sixtyfour", "lance", "fourrunr"]))
    yield srv
    srv.runtime.close()


def vendor_requests(server: EnrichServer) -> list[httpx.Request]:
    return [r for box in server.runtime.sandboxes.values() for r in box.requests]


async def test_hostile_ids_are_tool_errors_without_a_vendor_request(
    server: EnrichServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with connect(server) as client:
        for tool, arg, rest in TOOLS:  # one session for all: building a server per tool is the slow part
            for value in HOSTILE:
                result = await client.call_tool(tool, {arg: value, **rest})
                assert result.is_error, (tool, value)
                text = result.content[0].text  # type: ignore[union-attr]
                assert arg in text and text != f"Error executing tool {tool}", (tool, value, text)
                assert len(text) < 2000
    assert vendor_requests(server) == []
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


async def test_the_schema_shows_the_documented_id_shape(server: EnrichServer) -> None:
    async with connect(server) as client:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
    # UUID_PATTERN is enforced on input and published as the equivalent, shorter `format: uuid`.
    assert tools["enrichabl_get_pipeline"]["properties"]["pipeline_id"]["format"] == "uuid"
    assert tools["sixtyfour_get_workflow"]["properties"]["workflow_id"]["format"] == "uuid"
    assert tools["lance_get_enrichment"]["properties"]["person_id"]["format"] == "uuid"
    assert tools["fourrunr_get_lead"]["properties"]["lead_id"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"


# -- the second line: the clients check again, whatever the caller ----------------------------------------

UUID = "550e8400-e29b-41d4-a716-446655440000"
Call = Callable[[Any, str], Awaitable[Any]]
CLIENT_CALLS: list[tuple[str, Callable[[VendorHTTP], Any], Auth, Call]] = [
    ("enrichabl.get_pipeline", EnrichablClient, BEARER, lambda c, v: c.get_pipeline(v)),
    ("enrichabl.list_leads", EnrichablClient, BEARER, lambda c, v: c.list_leads(v, 10, 0)),
    ("enrichabl.upload_leads", EnrichablClient, BEARER, lambda c, v: c.upload_leads(v, b"[]")),
    ("enrichabl.add_column", EnrichablClient, BEARER, lambda c, v: c.add_column(v, {})),
    ("sixtyfour.get_workflow", SixtyfourClient, Auth("x-api-key"), lambda c, v: c.get_workflow(v)),
    ("sixtyfour.update_workflow", SixtyfourClient, Auth("x-api-key"), lambda c, v: c.update_workflow(v, {})),
    ("sixtyfour.delete_workflow", SixtyfourClient, Auth("x-api-key"), lambda c, v: c.delete_workflow(v)),
    ("sixtyfour.run_workflow", SixtyfourClient, Auth("x-api-key"), lambda c, v: c.run_workflow(v, [])),
    ("lance.trigger", LanceClient, BEARER, lambda c, v: c.trigger(v, "emails")),
    ("lance.get", LanceClient, BEARER, lambda c, v: c.get(v, "emails")),
    ("fourrunr.get_lead", FourRunrClient, BEARER, lambda c, v: c.get_lead(v)),
    ("fourrunr.update_lead", FourRunrClient, BEARER, lambda c, v: c.update_lead(v, {})),
    ("fourrunr.delete_lead", FourRunrClient, BEARER, lambda c, v: c.delete_lead(v)),
    ("fourrunr.start_campaign", FourRunrClient, BEARER, lambda c, v: c.start_campaign(v)),
    ("fourrunr.pause_campaign", FourRunrClient, BEARER, lambda c, v: c.pause_campaign(v)),
]


@pytest.mark.parametrize(("what", "make", "auth", "call"), CLIENT_CALLS, ids=[c[0] for c in CLIENT_CALLS])
async def test_clients_refuse_hostile_ids_before_any_request(
    what: str, make: Callable[[VendorHTTP], Any], auth: Auth, call: Call
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = make(VendorHTTP(what, "https://api.example.test/v1", auth, "k-0123456789", httpx.MockTransport(handler)))
    for value in [*HOSTILE, "%2E%2E%2Fadmin", "a\\b", "ünïcode"]:
        with pytest.raises(InputError) as info:
            await call(client, value)
        assert str(info.value).split(":")[0] in {"pipeline_id", "workflow_id", "person_id", "lead_id", "campaign_id"}
    assert seen == []


async def test_a_hostile_task_id_from_the_vendor_is_a_protocol_error() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = SixtyfourClient(
        VendorHTTP(
            "sixtyfour", "https://api.sixtyfour.ai", Auth("x-api-key"), "k-0123456789", httpx.MockTransport(handler)
        )
    )
    for call in (client.job_status, client.deep_search_status, client.run_live_status, client.run_download_links):
        with pytest.raises(Exception, match="unusable") as info:
            await call("../../workflows")
        assert type(info.value).__name__ == "VendorProtocolError"
    assert seen == []


async def test_a_nul_byte_over_stdio_is_a_short_tool_error_without_a_traceback(tmp_path: Path) -> None:
    """The reproduction: get_pipeline, list_leads and start_validation with a NUL in pipeline_id."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "enrich_mcp"],
        env={"ENRICH_MCP_SANDBOX": "1", "ENRICH_MCP_HOME": str(tmp_path / "home"), "PYTHONPATH": str(Path.cwd())},
    )
    stderr = tmp_path / "stderr.txt"
    with anyio.fail_after(60), stderr.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            for tool, rest in [
                ("enrichabl_get_pipeline", {}),
                ("enrichabl_list_leads", {}),
                ("enrichabl_start_validation", {"service": "BOUNCEBAN"}),
            ]:
                result = await client.call_tool(tool, {"pipeline_id": "p\x00../templates", **rest})
                text = result.content[0].text  # type: ignore[union-attr]
                assert result.is_error and "pipeline_id" in text and len(text) < 1000, text
    log = stderr.read_text()
    assert "Traceback" not in log and "Error executing tool" not in log, log
