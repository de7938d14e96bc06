"""The official MCP Python SDK 1.x against enrich-mcp over stdio, on two handshake-era protocol versions.

    .venv-clients/py1/bin/python clients/py1/client.py --server .venv/bin/enrich-mcp --home DIR

For each of 2025-11-25 (the SDK's latest) and 2025-06-18: initialize, list tools, call a free tool,
start a deep search as a job (``wait_seconds: 0``), subscribe to the job's resource, wait for
``notifications/resources/updated`` until the job has ended, then read the resource.
The last line is ``RESULT {json}`` for tests/clients/test_real_clients.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

PROTOCOLS = ("2025-11-25", "2025-06-18")
ENDED = {"completed", "failed", "cancelled"}


async def session_run(server: str, home: Path, protocol: str) -> dict[str, Any]:
    # The 1.x session always offers types.LATEST_PROTOCOL_VERSION; this is how to ask for an older one.
    types.LATEST_PROTOCOL_VERSION = protocol
    updates: list[str] = []
    updated = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ResourceUpdatedNotification
        ):
            updates.append(str(message.root.params.uri))
            updated.set()

    params = StdioServerParameters(
        command=server,
        args=[],
        env={
            "ENRICH_MCP_SANDBOX": "1",
            "ENRICH_MCP_HOME": str(home),
            "ENRICH_MCP_POLL_INTERVAL_SECONDS": "0.3",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        },
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write, message_handler=on_message) as s:
        init = await s.initialize()
        tools = (await s.list_tools()).tools
        checked = await s.call_tool("validate_emails", {"emails": ["ada@example.com"], "check_mx": False})
        assert not checked.isError and checked.structuredContent is not None, checked.content
        started = await s.call_tool(
            "sixtyfour_deep_search",
            {"query": "CTOs of fintech startups in Lisbon", "max_results": 5, "wait_seconds": 0},
        )
        assert not started.isError and started.structuredContent is not None, started.content
        uri = started.structuredContent["job"]["resource_uri"]
        await s.subscribe_resource(uri)  # pyright: ignore[reportArgumentType]
        status = started.structuredContent["job"]["status"]
        with anyio.move_on_after(30) as waited:
            while status not in ENDED:
                await updated.wait()
                updated = anyio.Event()
                contents = (await s.read_resource(uri)).contents[0]  # pyright: ignore[reportArgumentType]
                status = json.loads(getattr(contents, "text", "{}"))["status"]
        if waited.cancelled_caught:
            raise SystemExit(
                f"[{protocol}] job still {status} after 30 s: {len(updates)} notifications/resources/updated "
                f"received for {uri} ({updates})"
            )
        job = json.loads(getattr((await s.read_resource(uri)).contents[0], "text", "{}"))  # pyright: ignore
    mine = [u for u in updates if u == uri]
    print(
        f"[{protocol}] {init.serverInfo.name} {init.serverInfo.version}, negotiated {init.protocolVersion}: "
        f"{len(tools)} tools; validate_emails ok; job {job['job_id']} {job['status']} "
        f"({job['result_count']} rows); {len(mine)} resources/updated for {uri}"
    )
    return {
        "requested": protocol,
        "negotiated": init.protocolVersion,
        "tools": len(tools),
        "job_status": job["status"],
        "job_rows": job["result_count"],
        "updates": len(mine),
    }


async def run(server: str, home: Path) -> list[dict[str, Any]]:
    return [await session_run(server, home / protocol, protocol) for protocol in PROTOCOLS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="path of the enrich-mcp executable")
    parser.add_argument("--home", required=True, help="a temp directory for the servers' ENRICH_MCP_HOME")
    args = parser.parse_args()
    import mcp

    print(f"mcp (Python SDK) {getattr(mcp, '__version__', None) or _version()}")
    sessions = anyio.run(run, args.server, Path(args.home))
    print("RESULT " + json.dumps({"sessions": sessions}))
    sys.stdout.flush()


def _version() -> str:
    from importlib.metadata import version

    return version("mcp")


if __name__ == "__main__":
    main()
