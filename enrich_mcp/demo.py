"""``enrich-mcp demo``: a short walk-through on the built-in sandbox, through a real MCP session.

It starts ``enrich-mcp`` as a stdio subprocess with ``ENRICH_MCP_SANDBOX=1`` (fake
vendors, no keys, no network) in a throw-away data directory, connects the MCP
client to it and calls tools the way an assistant would, printing each call and
its answer.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

WIDTH = 100


def _show(title: str, args: dict[str, Any], result: Any) -> dict[str, Any]:
    print(f"\n\033[1m▶ {title}\033[0m  {json.dumps(args, ensure_ascii=False)[:WIDTH]}")
    if result.is_error:
        text = " ".join(getattr(c, "text", "") for c in result.content)
        print(textwrap.indent(textwrap.fill(f"tool error: {text}", WIDTH), "  "))
        return {}
    data = result.structured_content or {}
    body = json.dumps(data, indent=2, ensure_ascii=False)
    lines = body.splitlines()
    if len(lines) > 28:
        lines = [*lines[:26], f"  ... ({len(lines) - 26} more lines)"]
    print(textwrap.indent("\n".join(lines), "  "))
    return data


async def _walkthrough(home: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "enrich_mcp"],
        env={
            "ENRICH_MCP_SANDBOX": "1",
            "ENRICH_MCP_HOME": str(home),
            "ENRICH_MCP_POLL_INTERVAL_SECONDS": "0.2",
            "ENRICH_MCP_BUDGET_USD": "5",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        },
    )
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        print(f"Connected to enrich-mcp over stdio (protocol {client.protocol_version}); {len(tools)} tools.")

        async def call(name: str, args: dict[str, Any], title: str) -> dict[str, Any]:
            if name not in tools:
                return {}
            return _show(f"{title} — {name}", args, await client.call_tool(name, args))

        await call(
            "clean_leads",
            {
                "rows": [
                    {
                        "name": "  ADA LOVELACE ",
                        "email": "ADA@Example.COM",
                        "phone": "(415) 555-0100",
                        "website": "https://www.example.com/about",
                    }
                ]
            },
            "Free local cleaning",
        )
        await call(
            "validate_emails",
            {"emails": ["ada@example.com", "info@example.com", "bob@mailinator.com", "not-an-email"]},
            "Free local email checks",
        )
        await call(
            "enrich_person",
            {"name": "Grace Hopper", "company": "Example Navy", "want": ["work_email"], "dry_run": True},
            "Plan a waterfall without spending",
        )
        await call(
            "enrich_person",
            {"name": "Grace Hopper", "company": "Example Navy", "want": ["work_email"]},
            "Run the waterfall",
        )
        await call(
            "enrich_person",
            {"name": "Grace Hopper", "company": "Example Navy", "want": ["work_email"]},
            "Same person again: answered from the cache, $0",
        )
        await call(
            "sixtyfour_find_email",
            {"lead": {"name": "Alan Turing", "company": "Example Labs"}, "mode": "WRONG"},
            "Bad input is a tool error, nothing is sent",
        )
        job = await call(
            "sixtyfour_deep_search",
            {"query": "Heads of RevOps at Series B SaaS companies in Berlin", "max_results": 25, "wait_seconds": 10},
            "Long work runs as a job",
        )
        job_id = (job.get("job") or {}).get("job_id")
        if job_id:
            await call(
                "get_job_results",
                {"job_id": job_id, "limit": 3, "fields": ["name", "title", "company"]},
                "Page results, only the columns needed",
            )
        await call("spend_report", {}, "What it cost")
        await call("cache_stats", {}, "Cache")


def run_demo() -> None:
    with tempfile.TemporaryDirectory(prefix="enrich-mcp-demo-") as home:
        anyio.run(_walkthrough, Path(home))
    exe = Path(sys.executable).with_name("enrich-mcp")
    print("\nDone. To use enrich-mcp from Claude Desktop, add this to claude_desktop_config.json:")
    print(json.dumps({"mcpServers": {"enrich": {"command": str(exe), "env": {"ENRICH_MCP_SANDBOX": "1"}}}}, indent=2))
    print("Replace ENRICH_MCP_SANDBOX with your vendors' keys (see claude_desktop_config.example.json).")
