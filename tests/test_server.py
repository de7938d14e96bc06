"""Server assembly: toolsets, read-only mode, annotations, the tools snapshot, prompts, settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from enrich_mcp.server import build_server
from enrich_mcp.settings import Settings, VendorConfig
from enrich_mcp.toolsnap import SNAPSHOT, snapshot_tools
from tests.conftest import connect

CORE_TOOLS = {
    "list_jobs",
    "get_job",
    "cancel_job",
    "get_job_results",
    "export_job_results",
    "cache_stats",
    "spend_report",
    "forget_person",
}


async def test_every_tool_sets_all_four_hints_and_describes_itself(make_settings: Callable[..., Settings]) -> None:
    server = build_server(make_settings())
    async with connect(server) as client:
        tools = (await client.list_tools()).tools
    assert len(tools) > len(CORE_TOOLS)
    for tool in tools:
        a = tool.annotations
        assert a is not None, tool.name
        hints = (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint)
        assert None not in hints, f"{tool.name} leaves a hint unset: {hints}"
        assert tool.description and len(tool.description) > 40, tool.name
        assert tool.output_schema is not None, f"{tool.name} has no structured output"
        if a.read_only_hint:
            assert not a.destructive_hint, tool.name
    server.runtime.close()


async def test_vendor_without_key_is_hidden_with_a_reason(home: Path) -> None:
    server = build_server(Settings(home=home, vendors={"sixtyfour": VendorConfig(api_key=SecretStr("k-123456"))}))
    status = server.runtime.status
    assert status["sixtyfour"].enabled
    assert not status["lance"].enabled and "LANCE_API_KEY" in status["lance"].reason
    names = {t.name for t in await server.list_tools()}
    assert "sixtyfour_find_email" in names
    assert not any(n.startswith("lance_") for n in names)
    assert names >= CORE_TOOLS
    server.runtime.close()


async def test_toolsets_selects_vendors(make_settings: Callable[..., Settings]) -> None:
    server = build_server(make_settings(toolsets="core"))
    names = {t.name for t in await server.list_tools()}
    assert not any(n.startswith("sixtyfour_") for n in names)
    assert server.runtime.status["sixtyfour"].reason == "not in ENRICH_MCP_TOOLSETS"
    server.runtime.close()


async def test_read_only_mode_keeps_only_read_only_tools(make_settings: Callable[..., Settings]) -> None:
    server = build_server(make_settings(read_only=True))
    tools = await server.list_tools()
    assert tools
    assert all(t.annotations and t.annotations.read_only_hint for t in tools)
    assert "get_job" in {t.name for t in tools} and "cancel_job" not in {t.name for t in tools}
    server.runtime.close()


def test_settings_from_env_reads_vendor_and_core_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ENRICH_MCP_HOME": str(tmp_path),
            "ENRICH_MCP_TOOLSETS": "Sixtyfour, core",
            "ENRICH_MCP_BUDGET_USD": "12.5",
            "SIXTYFOUR_API_KEY": "  key-1234  ",
            "FOURRUNR_BASE_URL": "https://crm.example.com/api/v1",
        }
    )
    assert settings.home == tmp_path
    assert settings.toolsets == ["sixtyfour", "core"]
    assert settings.budget_usd == 12.5
    key = settings.vendor("sixtyfour").api_key
    assert key is not None
    assert key.get_secret_value() == "key-1234"
    assert settings.vendor("fourrunr").base_url == "https://crm.example.com/api/v1"
    assert "key-1234" not in repr(settings)


def test_settings_read_json_values_the_same_from_a_mapping_as_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "ENRICH_MCP_HOME": str(tmp_path),
        "ENRICH_MCP_PRICES": '{"lance.enrich.emails": 0.12}',
        "ENRICH_MCP_CACHE_TTLS": '{"sixtyfour.find_email": 86400}',
        "ENRICH_MCP_TOOLSETS": "core,lance",
    }
    from_mapping = Settings.from_env(env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from_environment = Settings.from_env()
    assert from_mapping.prices == from_environment.prices == {"lance.enrich.emails": 0.12}
    assert from_mapping.cache_ttls == from_environment.cache_ttls == {"sixtyfour.find_email": 86400.0}
    assert from_mapping.toolsets == from_environment.toolsets == ["core", "lance"]


async def test_tools_snapshot_matches(make_settings: Callable[..., Settings]) -> None:
    """A schema change must be deliberate: regenerate with `python -m enrich_mcp.toolsnap --write`."""
    server = build_server(make_settings())
    current = await snapshot_tools(server)
    recorded = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current == recorded
    server.runtime.close()


async def test_prompts_are_served(server, era: str) -> None:  # type: ignore[no-untyped-def]
    async with connect(server, mode=era) as client:
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert "research_account" in prompts
        got = await client.get_prompt("research_account", {"company": "Example Corp"})
    assert got.messages


async def test_vendors_resource_lists_limits_and_status(server, era: str) -> None:  # type: ignore[no-untyped-def]
    async with connect(server, mode=era) as client:
        body = json.loads((await client.read_resource("enrich://vendors")).contents[0].text)  # type: ignore[union-attr]
    by_name = {v["vendor"]: v for v in body["vendors"]}
    assert by_name["sixtyfour"]["rate_limit"] == "500/min"
    assert by_name["sixtyfour"]["status"] == "sandbox"
    assert body["data_directory"] == {"path": str(server.runtime.home), "damaged_jobs": [], "moved_aside": []}
