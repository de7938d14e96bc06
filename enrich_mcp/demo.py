"""``enrich-mcp demo``: a short walk-through on the built-in sandbox, through a real MCP session.

It starts ``enrich-mcp`` as a stdio subprocess with ``ENRICH_MCP_SANDBOX=1`` (fake
vendors, no keys, no network) in a throw-away data directory, connects the MCP
client to it and calls tools the way an assistant would, showing each answer as
a short table or summary. It ends with the Claude Desktop entry for this install.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from rich.console import Console, Group, RenderableType
from rich.text import Text

from enrich_mcp.console import make_console, render, rows_table, spend_view, status_text, usd

View = Callable[[dict[str, Any]], RenderableType]


def _pick(rows: Sequence[Mapping[str, Any]], *columns: str) -> list[dict[str, Any]]:
    return [{c: row.get(c) for c in columns} for row in rows]


def cleaned_view(data: dict[str, Any]) -> RenderableType:
    leads = [r.get("lead") or {} for r in data.get("results", [])]
    s = data.get("summary", {})
    return Group(
        rows_table(_pick(leads, "full_name", "email", "phone", "domain")),
        Text(
            f"{s.get('total', 0)} row(s): {s.get('emails_fixed', 0)} email fixed, "
            f"{s.get('phones_normalised', 0)} phone normalised, {s.get('duplicates', 0)} duplicates. Cost: $0."
        ),
    )


def verdicts_view(data: dict[str, Any]) -> RenderableType:
    s = data.get("summary", {})
    counts = " · ".join(f"{k} {s.get(k, 0)}" for k in ("valid", "risky", "invalid", "unknown"))
    return Group(
        rows_table(_pick(data.get("results", []), "input", "verdict", "reasons")), Text(f"{counts}. Cost: $0.")
    )


def waterfall_view(data: dict[str, Any]) -> RenderableType:
    parts: list[RenderableType] = []
    if data.get("dry_run"):
        parts.append(rows_table(_pick(data.get("plan", []), "provider", "operation", "estimated_usd", "cached")))
        parts.append(Text(f"Plan only: estimated {usd(data.get('estimated_total_usd'))}, nothing spent."))
        return Group(*parts)
    parts.append(rows_table(_pick(data.get("answers", []), "want", "value", "verified", "source", "cached")))
    trail = data.get("trail", [])
    if trail:
        parts.append(rows_table(_pick(trail, "provider", "operation", "outcome", "cost_usd", "cached"), title="trail"))
    parts.append(Text(f"Cost of this call: {usd(data.get('cost_usd'))}."))
    return Group(*parts)


def job_view(data: dict[str, Any]) -> RenderableType:
    job = data.get("job") or {}
    line = Text.assemble(
        f"job {job.get('job_id')} ", status_text(job.get("status")), f", {job.get('result_count', 0)} rows"
    )
    rows = data.get("rows") or []
    if rows:
        return Group(line, rows_table(_pick(rows[:5], "name", "title", "company", "email")))
    return Group(line, Text(data.get("next_step", "")))


def rows_view(data: dict[str, Any]) -> RenderableType:
    return rows_table(data.get("rows", []))


def cache_view(data: dict[str, Any]) -> RenderableType:
    return Text(
        f"{data.get('entries', 0)} entries ({data.get('size_bytes', 0):,} bytes); "
        f"{data.get('hits', 0)} hits, {data.get('misses', 0)} misses this session."
    )


def show(out: Console, title: str, note: str, name: str, args: dict[str, Any], result: Any, view: View | None) -> Any:
    out.print()
    out.rule(f"[bold]{title}[/bold] — {name}", align="left")
    out.print(Text(note, style="dim"))
    if result.is_error:
        text = " ".join(getattr(c, "text", "") for c in result.content)
        out.print(Text("tool error: " + text.removeprefix(f"Error executing tool {name}: "), style="red"))
        return {}
    data = result.structured_content or {}
    out.print(view(data) if view else render(data))
    return data


async def _walkthrough(home: Path, out: Console) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "enrich_mcp"],
        env={
            "ENRICH_MCP_SANDBOX": "1",
            "ENRICH_MCP_HOME": str(home),
            "ENRICH_MCP_POLL_INTERVAL_SECONDS": "0.2",
            "ENRICH_MCP_BUDGET_USD": "5",
            "ENRICH_MCP_LOG_LEVEL": "WARNING",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        },
    )
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        out.print(
            f"Connected to enrich-mcp over stdio (protocol {client.protocol_version}): {len(tools)} tools, "
            "fake vendors, a $5 budget."
        )

        async def call(name: str, args: dict[str, Any], title: str, note: str, view: View | None = None) -> Any:
            if name not in tools:
                return {}
            return show(out, title, note, name, args, await client.call_tool(name, args), view)

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
            "Messy input in, normalised lead out (E.164 phone, domain from the website).",
            cleaned_view,
        )
        await call(
            "validate_emails",
            {"emails": ["ada@example.com", "info@example.com", "bob@mailinator.com", "not-an-email"]},
            "Free local email checks",
            "Syntax, MX, disposable and role-account checks before paying anyone.",
            verdicts_view,
        )
        person = {"name": "Grace Hopper", "company": "Example Navy", "want": ["work_email"]}
        await call(
            "enrich_person",
            {**person, "dry_run": True},
            "Plan a waterfall without spending",
            "dry_run shows which vendors would be asked, cheapest first, and the estimate.",
            waterfall_view,
        )
        await call("enrich_person", person, "Run the waterfall", "Stops at the first verified answer.", waterfall_view)
        await call(
            "enrich_person",
            person,
            "Same person again",
            "Answered from the on-disk cache: $0.",
            waterfall_view,
        )
        await call(
            "sixtyfour_find_email",
            {"lead": {"name": "Alan Turing", "company": "Example Labs"}, "mode": "WRONG"},
            "Bad input is a tool error",
            "The model sees a message it can act on; nothing is sent to the vendor, nothing is spent.",
        )
        job = await call(
            "sixtyfour_deep_search",
            {"query": "Heads of RevOps at Series B SaaS companies in Berlin", "max_results": 25, "wait_seconds": 10},
            "Long work runs as a job",
            "A deep search returns a job handle; the server keeps polling the vendor in the background.",
            job_view,
        )
        job_id = (job.get("job") or {}).get("job_id")
        if job_id:
            await call(
                "get_job_results",
                {"job_id": job_id, "limit": 3, "fields": ["name", "title", "company"]},
                "Page the results",
                "Only the columns asked for, to keep the assistant's context small.",
                rows_view,
            )
        await call("spend_report", {}, "What it cost", "Every paid call is in the spend ledger.", spend_view)
        await call("cache_stats", {}, "Cache", "Repeated questions are free.", cache_view)


def claude_desktop_entry(executable: Path) -> dict[str, Any]:
    return {"mcpServers": {"enrich": {"command": str(executable), "env": {"ENRICH_MCP_SANDBOX": "1"}}}}


def run_demo(console: Console | None = None) -> None:
    out = console or make_console()
    with tempfile.TemporaryDirectory(prefix="enrich-mcp-demo-") as home:
        anyio.run(_walkthrough, Path(home), out)
    exe = Path(sys.executable).with_name("enrich-mcp").absolute()
    out.print()
    out.rule("[bold]Use it from Claude Desktop[/bold]", align="left")
    out.print("Add this to claude_desktop_config.json (the path is this install's enrich-mcp):")
    # Plain print: a snippet to copy must not be re-wrapped or coloured.
    print(json.dumps(claude_desktop_entry(exe), indent=2), flush=True)
    out.print(
        "Then replace ENRICH_MCP_SANDBOX with your vendors' keys (see claude_desktop_config.example.json "
        "and the README's setup section for Claude Code, Cursor and VS Code)."
    )
