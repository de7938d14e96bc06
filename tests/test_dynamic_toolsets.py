"""ENRICH_MCP_DYNAMIC_TOOLSETS=1: core plus list_toolsets / enable_toolset; enabling sends tools/list_changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import mcp_types as types
import pytest

from enrich_mcp.server import EnrichServer, build_server
from enrich_mcp.settings import Settings
from tests.conftest import connect


@pytest.fixture
def dynamic(make_settings: Callable[..., Settings]) -> Any:
    server = build_server(make_settings(dynamic_toolsets=True))
    yield server
    server.runtime.close()


def names(tools: Any) -> set[str]:
    return {t.name for t in tools.tools}


def test_the_setting_reads_from_the_environment(tmp_path: Any) -> None:
    settings = Settings.from_env({"ENRICH_MCP_HOME": str(tmp_path), "ENRICH_MCP_DYNAMIC_TOOLSETS": "1"})
    assert settings.dynamic_toolsets is True


async def test_a_2025_client_is_told_and_relists(dynamic: EnrichServer) -> None:
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with connect(dynamic, mode="legacy", message_handler=on_message) as client:
        assert client.server_capabilities.tools is not None
        assert client.server_capabilities.tools.list_changed is True
        before = names(await client.list_tools())
        assert {"list_toolsets", "enable_toolset", "enrich_person", "get_job"} <= before
        assert not any(n.startswith(("sixtyfour_", "lance_", "fourrunr_")) for n in before)

        listed = await client.call_tool("list_toolsets", {})
        assert listed.structured_content is not None
        lance = next(t for t in listed.structured_content["toolsets"] if t["name"] == "lance")
        assert (lance["enabled"], lance["available"]) == (False, True)
        assert lance["tools"] == ["lance_enrich_person", "lance_get_enrichment"]

        enabled = await client.call_tool("enable_toolset", {"toolset": "lance"})
        assert not enabled.is_error, enabled.content
        assert enabled.structured_content == {
            "toolset": "lance",
            "added": ["lance_enrich_person", "lance_get_enrichment"],
        }
        with anyio.fail_after(5):
            await changed.wait()
        after = names(await client.list_tools())
        assert after == before | {"lance_enrich_person", "lance_get_enrichment"}

        # The new tools work, and enabling again changes nothing.
        got = await client.call_tool(
            "lance_get_enrichment", {"person_id": "550e8400-e29b-41d4-a716-446655440000", "field": "emails"}
        )
        assert got.is_error and "lance_enrich_person" in got.content[0].text  # type: ignore[union-attr]
        changed = anyio.Event()
        again = await client.call_tool("enable_toolset", {"toolset": "lance"})
        assert again.structured_content == {"toolset": "lance", "added": []}
        assert names(await client.list_tools()) == after
    assert not changed.is_set()


async def test_a_2026_client_listening_for_tool_changes_is_told(dynamic: EnrichServer) -> None:
    async with connect(dynamic, mode="2026-07-28") as client:
        assert "sixtyfour_find_email" not in names(await client.list_tools())
        async with client.listen(tools_list_changed=True) as subscription:
            enabled = await client.call_tool("enable_toolset", {"toolset": "sixtyfour"})
            assert not enabled.is_error, enabled.content
            with anyio.fail_after(5):
                async for _event in subscription:
                    break
        assert "sixtyfour_find_email" in names(await client.list_tools())


async def test_an_unavailable_or_unknown_toolset_is_a_tool_error(make_settings: Callable[..., Settings]) -> None:
    server = build_server(make_settings(dynamic_toolsets=True, toolsets="core,lance"))
    try:
        async with connect(server) as client:
            hidden = await client.call_tool("enable_toolset", {"toolset": "sixtyfour"})
            unknown = await client.call_tool("enable_toolset", {"toolset": "hubspot"})
            tools = names(await client.list_tools())
    finally:
        server.runtime.close()
    assert hidden.is_error and "not in ENRICH_MCP_TOOLSETS" in hidden.content[0].text  # type: ignore[union-attr]
    assert unknown.is_error and "Choose one of: audiencelab, enrichabl" in unknown.content[0].text  # type: ignore[union-attr]
    assert not any(n.startswith("sixtyfour_") for n in tools)


async def test_without_the_setting_every_toolset_is_on_and_there_is_no_enable(server: EnrichServer) -> None:
    async with connect(server) as client:
        tools = names(await client.list_tools())
        assert client.server_capabilities.tools is not None
        assert not client.server_capabilities.tools.list_changed
    assert "sixtyfour_find_email" in tools
    assert not {"list_toolsets", "enable_toolset"} & tools


async def test_jobs_of_an_inactive_toolset_still_resume(dynamic: EnrichServer) -> None:
    """Job handlers are registered at start even while the tools are hidden, so restarts resume them."""
    assert "sixtyfour.deep_search" in dynamic.runtime.jobs.handlers
