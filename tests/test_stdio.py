"""The real thing: `enrich-mcp` as a stdio subprocess, driven by the MCP client on both protocol eras."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters


def params(home: Path, **extra: str) -> StdioServerParameters:
    # env=None would hand the child only a minimal environment: pass what it needs explicitly.
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "enrich_mcp"],
        env={"ENRICH_MCP_SANDBOX": "1", "ENRICH_MCP_HOME": str(home), "PYTHONPATH": str(Path.cwd()), **extra},
    )


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_server_serves_tools(home: Path, mode: str) -> None:
    with anyio.fail_after(60):
        async with Client(params(home), mode=mode) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"sixtyfour_find_email", "list_jobs", "spend_report"} <= tools
            result = await client.call_tool(
                "sixtyfour_find_email", {"lead": {"name": "Grace Hopper", "company": "Navy"}}
            )
            assert not result.is_error, result.content
            assert result.structured_content is not None
            assert result.structured_content["emails"][0]["address"] == "grace.hopper@navy.example.com"
            spend = await client.read_resource("enrich://spend")
            assert '"spent_usd": 0.05' in spend.contents[0].text  # type: ignore[union-attr]


async def test_stdout_carries_only_protocol_and_missing_keys_are_explained(home: Path) -> None:
    """Without keys or sandbox, vendor toolsets are hidden and stderr says which variable to set."""
    with anyio.fail_after(60):
        proc = await anyio.run_process(
            [sys.executable, "-m", "enrich_mcp", "tools"],
            env={"ENRICH_MCP_HOME": str(home), "PYTHONPATH": str(Path.cwd()), "PATH": "/usr/bin:/bin"},
            check=True,
        )
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert "sixtyfour_find_email" not in out
    assert "list_jobs" in out
    assert "SIXTYFOUR_API_KEY" in err
