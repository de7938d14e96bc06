"""Job resources and change notifications on both protocol eras."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.subscriptions import ResourceUpdated

from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect
from tests.jobs_fakes import FakeVendor, fake_server


def _server(make_settings: Callable[..., Settings], vendor: FakeVendor) -> EnrichServer:
    return fake_server(lambda: build_server(make_settings(toolsets=["core"])), vendor)


async def _read(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    content = result.contents[0]
    assert isinstance(content, types.TextResourceContents)
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def _start(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("fake_search", {"query": "q", **arguments})
    assert not result.is_error and result.structured_content is not None
    return result.structured_content


async def test_job_resources_show_the_job_its_results_and_the_list(
    make_settings: Callable[..., Settings], era: str
) -> None:
    server = _server(make_settings, FakeVendor(rows=3))
    try:
        async with connect(server, mode=era) as client:
            with anyio.fail_after(10):
                done = await _start(client, wait_seconds=30)
            job_id = done["job"]["job_id"]

            job = await _read(client, f"enrich://jobs/{job_id}")
            assert job["job_id"] == job_id and job["status"] == "completed" and job["result_count"] == 3

            results = await _read(client, f"enrich://jobs/{job_id}/results")
            assert results["status"] == "completed" and results["result_count"] == 3
            assert [r["idx"] for r in results["rows"]] == [0, 1, 2]

            listed = await _read(client, "enrich://jobs")
            assert [j["job_id"] for j in listed] == [job_id]

            templates = await client.list_resource_templates()
            assert {t.uri_template for t in templates.resource_templates} >= {
                "enrich://jobs/{job_id}",
                "enrich://jobs/{job_id}/results",
            }
    finally:
        server.runtime.close()


async def test_an_unknown_job_resource_is_an_error(make_settings: Callable[..., Settings], era: str) -> None:
    server = _server(make_settings, FakeVendor())
    try:
        async with connect(server, mode=era) as client:
            with pytest.raises(Exception, match="nope"):
                await client.read_resource("enrich://jobs/nope")
    finally:
        server.runtime.close()


async def test_a_2025_client_subscribed_to_a_job_is_told_when_it_changes(
    make_settings: Callable[..., Settings],
) -> None:
    vendor = FakeVendor(poll_gate=anyio.Event())  # nothing moves until subscribed
    server = _server(make_settings, vendor)
    updated: list[str] = []
    done = anyio.Event()
    uri = ""

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))
            if str(message.params.uri) == uri:
                done.set()

    try:
        async with connect(server, mode="legacy", message_handler=on_message) as client:
            assert client.server_capabilities.resources is not None
            assert client.server_capabilities.resources.subscribe is True
            handle = await _start(client, wait_seconds=0)
            job_id = handle["job"]["job_id"]
            uri = f"enrich://jobs/{job_id}"
            # A parked first poll means the submit's own change has been announced already.
            with anyio.fail_after(5):
                await vendor.until(lambda: vendor.polls_started == 1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # resources/subscribe is deprecated, still right for 2025 clients
                await client.subscribe_resource(uri)
            updated.clear()

            assert vendor.poll_gate is not None
            vendor.poll_gate.set()
            with anyio.fail_after(5):
                await done.wait()
            assert "enrich://jobs" not in updated  # only what was subscribed is sent

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await client.unsubscribe_resource(uri)
            assert not list(server.runtime.subscribers.get(uri, ()))
    finally:
        server.runtime.close()


async def test_a_2026_client_listening_on_a_job_receives_resource_updated(
    make_settings: Callable[..., Settings],
) -> None:
    vendor = FakeVendor(poll_gate=anyio.Event())
    server = _server(make_settings, vendor)
    try:
        async with connect(server, mode="2026-07-28") as client:
            handle = await _start(client, wait_seconds=0)
            job_id = handle["job"]["job_id"]
            uri = f"enrich://jobs/{job_id}"
            # A parked first poll means the submit's own change has been announced already.
            with anyio.fail_after(5):
                await vendor.until(lambda: vendor.polls_started == 1)
            async with client.listen(resource_subscriptions=[uri]) as subscription:
                assert subscription.honored.resource_subscriptions == [uri]
                assert vendor.poll_gate is not None
                vendor.poll_gate.set()
                with anyio.fail_after(5):
                    event = await subscription.__anext__()
                assert event == ResourceUpdated(uri=uri)
                # The event says "read it again": the read shows the job's news.
                job = await _read(client, uri)
                assert job["vendor_status"] is not None
    finally:
        server.runtime.close()
