"""What ``enrich-mcp tools | call | jobs | spend`` do: each goes through a real MCP client on an in-process server.

The server is built from the same settings (environment) as ``enrich-mcp`` itself, on the same data
directory, so the job ledger, spend ledger and cache are the ones a stdio server uses. Each function
returns the process exit code.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

from enrich_mcp.console import ENDED, jobs_table, make_console, render, spend_view, status_text, tools_tables
from enrich_mcp.sdk import EnrichServer

Build = Callable[[], EnrichServer]
"""Builds the server from the environment's settings (``cli.py`` passes ``build_server`` bound to them)."""


@asynccontextmanager
async def connected(build: Build) -> AsyncIterator[tuple[Client, EnrichServer]]:
    server = build()
    try:
        async with Client(server) as client:
            yield client, server
    finally:
        server.runtime.close()


def _error_text(result: Any, tool: str = "") -> str:
    text = " ".join(getattr(block, "text", "") for block in result.content).strip()
    # The SDK prefixes every tool error with this; the message after it is what a person needs.
    return text.removeprefix(f"Error executing tool {tool}: ") or "the tool reported an error"


async def list_tools(build: Build, *, toolset: str | None = None, names_only: bool = False) -> int:
    out = make_console()
    async with connected(build) as (client, server):
        tools = (await client.list_tools()).tools
        prices = dict(server.runtime.budget.prices)
    if names_only:
        for tool in sorted(tools, key=lambda t: t.name):
            print(tool.name)
        return 0
    tables = tools_tables(tools, prices)
    if toolset:
        tables = [t for t in tables if str(t.title).split(" ", 1)[0] == toolset]
        if not tables:
            make_console(stderr=True).print(f"[red]No toolset {toolset!r} is enabled in this configuration.[/red]")
            return 1
    for table in tables:
        out.print(table)
    hidden = [status for status in server.runtime.status.values() if not status.enabled]
    for status in hidden:
        out.print(f"[dim]{status.name}: {status.reason}[/dim]")
    out.print(
        "[dim]Prices are per unit (estimates where the vendor publishes none); override with ENRICH_MCP_PRICES. "
        "Call one with: enrich-mcp call TOOL --arg key=value[/dim]"
    )
    return 0


async def call_tool(build: Build, tool: str, arguments: dict[str, Any], *, raw: bool = False) -> int:
    out, err = make_console(), make_console(stderr=True)
    async with connected(build) as (client, _):
        listed = {t.name for t in (await client.list_tools()).tools}
        if tool not in listed:
            close = difflib.get_close_matches(tool, listed, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else " List them with: enrich-mcp tools"
            err.print(f"No tool {tool!r} in this configuration.{hint}", markup=False, highlight=False)
            return 2
        started = time.monotonic()
        with err.status(f"calling {tool}…") as spinner:

            async def report(progress: float, total: float | None, message: str | None) -> None:
                of = f"/{total:g}" if total else ""
                spinner.update(f"calling {tool}… {progress:g}{of} {message or ''}")

            result = await client.call_tool(tool, arguments, progress_callback=report)
        elapsed = time.monotonic() - started
    if result.is_error:
        err.print(_error_text(result, tool), markup=False, highlight=False)
        return 1
    data = result.structured_content
    if raw:
        if data is not None:
            print(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            print("\n".join(getattr(block, "text", "") for block in result.content))
        return 0
    out.print(f"[green]✓[/green] [bold]{tool}[/bold] [dim]({elapsed:.1f} s)[/dim]")
    if data is not None:
        out.print(render(data))
        job = data.get("job") if isinstance(data.get("job"), dict) else None
        if job and job.get("status") not in ENDED:
            out.print(
                f"[dim]Job {job.get('job_id')} is {job.get('status')}. A running server keeps polling it; "
                f"watch it with: enrich-mcp jobs --follow {job.get('job_id')}[/dim]"
            )
    else:
        for block in result.content:
            out.print(getattr(block, "text", repr(block)), markup=False, highlight=False)
    return 0


async def show_jobs(build: Build, *, status: str | None = None, vendor: str | None = None, limit: int = 50) -> int:
    out = make_console()
    arguments: dict[str, Any] = {"limit": limit}
    if status:
        arguments["status"] = status
    if vendor:
        arguments["vendor"] = vendor
    async with connected(build) as (client, _):
        result = await client.call_tool("list_jobs", arguments)
    if result.is_error:
        make_console(stderr=True).print(_error_text(result, "list_jobs"), markup=False, highlight=False)
        return 1
    out.print(jobs_table((result.structured_content or {}).get("jobs", [])))
    return 0


async def follow_job(client: Client, job_id: str, *, interval: float, console: Console | None = None) -> int:
    """A live progress bar from ``get_job`` polls until the job ends; 0 when it completed, else 1."""
    out = console or make_console()
    job: dict[str, Any] = {}
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out) as progress:
        task = progress.add_task(job_id, total=None, status="")
        while True:
            result = await client.call_tool("get_job", {"job_id": job_id})
            if result.is_error:
                progress.stop()
                make_console(stderr=True).print(_error_text(result, "get_job"), markup=False, highlight=False)
                return 1
            job = result.structured_content or {}
            state = str(job.get("status"))
            total, done = job.get("total"), job.get("progress")
            if state == "completed" and not total:
                total, done = 1, 1  # vendors without counts: a finished job is a full bar
            progress.update(
                task,
                total=total or None,
                completed=done or 0,
                description=f"{job.get('tool', '')} {job_id}",
                status=status_text(state).markup,
            )
            if state in ENDED:
                break
            await anyio.sleep(interval)
    out.print(status_text(job.get("status")), f"{job.get('result_count', 0)} result rows", end=" ")
    if job.get("error"):
        out.print(f"— {job['error']}", markup=False, highlight=False)
    else:
        out.print()
    if job.get("status") == "completed" and job.get("result_count"):
        out.print(f"[dim]Read them with: enrich-mcp call get_job_results --arg job_id={job_id}[/dim]")
    return 0 if job.get("status") == "completed" else 1


async def follow(build: Build, job_id: str, *, interval: float) -> int:
    async with connected(build) as (client, _):
        return await follow_job(client, job_id, interval=interval)


async def show_spend(build: Build, *, raw: bool = False) -> int:
    async with connected(build) as (client, _):
        result = await client.call_tool("spend_report", {})
    if result.is_error:
        make_console(stderr=True).print(_error_text(result, "spend_report"), markup=False, highlight=False)
        return 1
    report = result.structured_content or {}
    if raw:
        print(json.dumps(report, indent=2))
        return 0
    make_console().print(spend_view(report))
    return 0
