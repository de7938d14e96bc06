"""Core tools, always on: jobs, results and exports, cache, spend, erasure.

The cross-vendor waterfall (``enrich_person``) lives in ``waterfall.py`` and the
free local checks in ``local/``; both are registered from here.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from enrich_mcp.datadir import moved_aside
from enrich_mcp.erasure import Matcher, parse_identifier, scrub_exports
from enrich_mcp.errors import InputError, JobNotFound
from enrich_mcp.jobs import Job, JobInfo, JobStatus
from enrich_mcp.local.tools import register_local
from enrich_mcp.schema import published
from enrich_mcp.tooling import Toolset
from enrich_mcp.vendors import discover_vendors
from enrich_mcp.waterfall import register_waterfall

if TYPE_CHECKING:
    from enrich_mcp.runtime import Runtime

logger = logging.getLogger(__name__)

JobId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Columns = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]] | None,
    Field(max_length=200, description="Only these columns"),
]


class DamagedJob(BaseModel):
    job_id: str
    problem: str


# A job inside another answer is published as a plain object: the typed handle is what starting tools
# and get_job return; here it would repeat that shape in every schema.
NestedJob = Annotated[JobInfo, WithJsonSchema({"type": "object"})]


class JobList(BaseModel):
    jobs: list[NestedJob]
    count: int
    damaged: list[DamagedJob] = Field(
        default_factory=list, description="Job records in the ledger that cannot be read; skipped, not listed"
    )


class CancelResult(BaseModel):
    job: NestedJob
    cancelled_at_vendor: bool = Field(description="True when the vendor was told to stop too")


class ResultsPage(BaseModel):
    # Rows are published as a bare list (lean_schema), so a client validating the output does not walk
    # every property of every row (it was most of a 1,000-row page's time). offset and limit echo the call.
    model_config = ConfigDict(json_schema_extra=published("job", "rows"))

    job: NestedJob
    offset: int
    limit: int
    rows: list[dict[str, Any]]
    next_offset: int | None = Field(description="Pass as offset for the next page; null at the end")


class ExportResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=published("path", "rows", "bytes"))

    path: str
    format: Literal["csv", "jsonl"]
    rows: int
    bytes: int


class CacheStats(BaseModel):
    entries: int
    size_bytes: int
    entries_by_vendor: dict[str, int]
    hits: int
    misses: int
    hit_rate: float | None = Field(description="Hits / lookups since this server started")


class SpendReport(BaseModel):
    spent_usd: float
    reserved_usd: float = Field(description="Estimated cost of calls and jobs still in flight")
    budget_usd: float | None
    remaining_usd: float | None
    confirm_above_usd: float | None
    by_vendor: dict[str, float]
    by_tool: dict[str, float]
    by_day: dict[str, float]
    calls: int
    calls_without_known_price: int


class ForgetResult(BaseModel):
    # The published schema types what a caller acts on; the other counts are in every answer too.
    model_config = ConfigDict(
        json_schema_extra=published(
            "dry_run", "identifiers", "related_identifiers", "cache_entries_removed", "unfinished_jobs", "not_scanned"
        )
    )

    dry_run: bool = Field(description="True when nothing was changed: the counts say what would go")
    identifiers: list[str] = Field(description="The identifiers given, normalised (email lower-case, phone E.164)")
    related_identifiers: list[str] = Field(
        description="The same person's other names, emails and phones found beside them; erased too"
    )
    cache_entries_removed: int
    job_rows_removed: int
    job_rows_scrubbed: int = Field(description="Rows kept (other people's) with this person's mentions taken out")
    jobs_scrubbed: int
    unfinished_jobs: list[str] = Field(
        description="Jobs still running that mention the person: left as they are; cancel or let them end, "
        "then forget again"
    )
    ledger_rows_scrubbed: int
    export_rows_removed: int
    export_files_rewritten: int
    export_files_removed: int = Field(description="Files in exports/ that could not be parsed and held the person")
    not_scanned: list[str] = Field(
        description="Damaged files moved aside in the data directory; they may still hold the person"
    )


ToolsetName = Annotated[
    str,
    Field(max_length=40),
    WithJsonSchema({"type": "string", "enum": [spec.name for spec in discover_vendors()]}),
]


class ToolsetInfo(BaseModel):
    name: str
    enabled: bool = Field(description="Its tools are listed now")
    available: bool = Field(description="Configured, so it can be enabled")
    tools: list[str]
    status: str


class ToolsetList(BaseModel):
    toolsets: list[ToolsetInfo]


class ToolsetEnabled(BaseModel):
    toolset: str
    added: list[str] = Field(description="Tools added by this call (empty when it was on already)")


_FORMULA_START = ("=", "@", "\t", "\r")
# A sign before a plain number (an E.164 phone, a negative amount) is data, not a formula.
_SIGNED_NUMBER = re.compile(r"[+-]\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def neutralise_cell(value: Any) -> Any:
    """Stop spreadsheet apps from running a cell as a formula (CSV injection, OWASP): a quote goes before
    ``=``, ``@``, tab and CR, and before ``+``/``-`` unless a plain number follows (``+16505551234`` stays)."""
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START) or (value[:1] in ("+", "-") and not _SIGNED_NUMBER.fullmatch(value)):
        return "'" + value
    return value


def safe_file_name(name: str) -> str:
    """A file name that cannot leave the exports directory."""
    stem = _SAFE_NAME.sub("_", Path(name).name).strip("._") or "export"
    return stem[:80]


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for k, v in row.items()}


def register_dynamic(tools: Toolset, runtime: Runtime) -> None:
    """``list_toolsets`` and ``enable_toolset`` (ENRICH_MCP_DYNAMIC_TOOLSETS=1): vendors' tools on demand."""
    names = sorted(runtime.status)

    def info(name: str) -> ToolsetInfo:
        status = runtime.status[name]
        toolset = runtime.toolsets.get(name)
        return ToolsetInfo(
            name=name,
            enabled=bool(toolset and toolset.active),
            available=toolset is not None,
            tools=status.tools,
            status=status.reason,
        )

    @tools.tool(read_only=True, idempotent=True, open_world=False)
    async def list_toolsets() -> ToolsetList:
        """List the vendor toolsets, which are enabled and why others are not; enable one with enable_toolset."""
        return ToolsetList(toolsets=[info(name) for name in names])

    @tools.tool(read_only=True, idempotent=True, open_world=False)
    async def enable_toolset(
        ctx: Context,
        toolset: ToolsetName,
    ) -> ToolsetEnabled:
        """Add a vendor's tools to this server's list (the client is told to list tools again). Free."""
        if toolset not in runtime.status:
            raise InputError(f"No toolset {toolset!r}.", hint=f"Choose one of: {', '.join(names)}.")
        found = runtime.toolsets.get(toolset)
        if found is None:
            raise InputError(f"Toolset {toolset} cannot be enabled: {runtime.status[toolset].reason}.")
        added = found.activate()
        if added:
            await _announce_tool_list_change(ctx)
        return ToolsetEnabled(toolset=toolset, added=added)


async def _announce_tool_list_change(ctx: Context[Any, Any]) -> None:
    """``notifications/tools/list_changed`` to this client (2025 era) and to every listen stream (2026 era)."""
    try:
        await ctx.session.send_tool_list_changed()
    except Exception:  # a stateless (2026) request has no session to notify; the bus below covers it
        logger.debug("no session to send tools/list_changed on", exc_info=True)
    await ctx.notify_tools_changed()


def register_core(tools: Toolset, runtime: Runtime) -> None:
    register_waterfall(tools, runtime)
    register_local(tools, runtime)
    if runtime.settings.dynamic_toolsets:
        register_dynamic(tools, runtime)
    jobs = runtime.jobs

    def _damaged() -> dict[str, str]:
        return getattr(jobs.store, "damaged", {})

    async def get_or_explain(job_id: str) -> Job:
        """The job, or an error that says when its record is there but damaged (not just "no such job")."""
        try:
            return await jobs.get(job_id)
        except JobNotFound:
            if job_id in _damaged():
                raise JobNotFound(
                    f"Job {job_id!r} cannot be read: its record in the job ledger is damaged "
                    f"({_damaged()[job_id]}). It was skipped; the other jobs are unaffected.",
                    hint="",
                ) from None
            raise

    @tools.tool(read_only=True, idempotent=True, open_world=False)
    async def list_jobs(
        status: JobStatus | None = None,
        vendor: Annotated[str | None, Field(max_length=40)] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
    ) -> JobList:
        """List background jobs, newest first, by status or vendor. Free."""
        found = await jobs.list(status=status, vendor=vendor, limit=limit)
        damaged = [DamagedJob(job_id=i, problem=why) for i, why in sorted(_damaged().items())]
        return JobList(jobs=[JobInfo.of(j) for j in found], count=len(found), damaged=damaged)

    @tools.tool(read_only=True, idempotent=True, open_world=False)
    async def get_job(job_id: JobId) -> JobInfo:
        """One job's status (queued, running, completed, failed, cancelled), progress and summary. Free."""
        return JobInfo.of(await get_or_explain(job_id))

    @tools.tool(read_only=False, destructive=True, idempotent=True)
    async def cancel_job(job_id: JobId) -> CancelResult:
        """Stop a running job, at the vendor too where it allows."""
        await get_or_explain(job_id)
        job, at_vendor = await jobs.cancel(job_id)
        return CancelResult(job=JobInfo.of(await jobs.get(job.id)), cancelled_at_vendor=at_vendor)

    @tools.tool(read_only=True, idempotent=True, open_world=False)
    async def get_job_results(
        job_id: JobId,
        offset: Annotated[int, Field(ge=0)] = 0,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
        fields: Columns = None,
    ) -> ResultsPage:
        """Page through a job's result rows; `fields` keeps answers small. Free."""
        try:
            job, rows = await jobs.results(job_id, offset=offset, limit=limit, fields=fields)
        except JobNotFound:
            await get_or_explain(job_id)
            raise
        end = offset + len(rows)
        return ResultsPage(
            job=JobInfo.of(job),
            offset=offset,
            limit=limit,
            rows=rows,
            next_offset=end if end < job.result_count else None,
        )

    @tools.tool(read_only=False, idempotent=False, open_world=False)
    async def export_job_results(
        job_id: JobId,
        format: Literal["csv", "jsonl"] = "csv",
        file_name: Annotated[str | None, Field(max_length=120)] = None,
        fields: Columns = None,
    ) -> ExportResult:
        """Write a job's rows to a new CSV or JSONL file in the data directory's exports/. Free."""
        job = await get_or_explain(job_id)
        if job.result_count == 0:
            raise InputError(f"Job {job_id} has no result rows to export (status {job.status}).")
        base = safe_file_name(file_name or f"{job.kind.replace('.', '-')}-{job.id}")
        base = base.removesuffix(f".{format}")
        directory = runtime.exports_dir

        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            _, page = await jobs.results(job_id, offset=offset, limit=5000, fields=fields)
            rows.extend(page)
            offset += len(page)
            if len(page) < 5000:
                break

        def write() -> Path:
            for n in range(1000):
                path = directory / (f"{base}.{format}" if n == 0 else f"{base}-{n}.{format}")
                try:
                    # Created 0600 and exclusively: an existing file, or a link planted there, is never written.
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                except FileExistsError:
                    continue
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                    if format == "jsonl":
                        for row in rows:
                            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                    else:
                        columns = list(dict.fromkeys(k for row in rows for k in row))
                        writer = csv.writer(handle)
                        # Column names come from vendor data too, so the header is neutralised like any cell.
                        writer.writerow([neutralise_cell(c) for c in columns])
                        for row in rows:
                            flat = _flatten(row)
                            writer.writerow([neutralise_cell(flat.get(c)) for c in columns])
                return path
            raise InputError(f"Too many exports named {base!r}; choose another file_name.")

        path = await anyio.to_thread.run_sync(write)
        return ExportResult(path=str(path), format=format, rows=len(rows), bytes=path.stat().st_size)

    @tools.tool(read_only=True, idempotent=True, open_world=False)
    async def cache_stats() -> CacheStats:
        """Entries, size and hit rate of the result cache. Free."""
        return CacheStats.model_validate(await runtime.cache.summary())

    @tools.tool(read_only=True, idempotent=True, open_world=False)
    async def spend_report() -> SpendReport:
        """Spend by vendor, tool and day, reserved spend and budget left. Free."""
        return SpendReport.model_validate(await runtime.budget.report())

    @tools.tool(read_only=False, destructive=True, idempotent=True, open_world=False)
    async def forget_person(
        identifiers: Annotated[
            list[Annotated[str, Field(min_length=3, max_length=320)]],
            Field(
                min_length=1,
                max_length=20,
                description="One person's emails, phones, LinkedIn URLs, full name or vendor ids",
            ),
        ],
        dry_run: Annotated[bool, Field(description="Only report what would be erased")] = False,
        default_region: Annotated[
            str, Field(min_length=2, max_length=2, description="Country code for phones without +code")
        ] = "US",
    ) -> ForgetResult:
        """Erase one person (by whole identifiers) from the local cache, job results, exports and ledger, not at
        vendors; try dry_run first."""
        region = default_region.upper()
        given = sorted({parse_identifier(i, region) for i in identifiers})
        matcher = Matcher(set(given), region=region)
        for _ in range(3):  # a name found by email can lead to a phone found by name; bounded
            found = await runtime.cache.related(matcher) | await runtime.jobs.store.related(matcher)
            if not matcher.add(found):
                break
        related = sorted(matcher.identifiers - set(given))
        cache_removed = await runtime.cache.forget(matcher, dry_run=dry_run)
        jobs = await runtime.jobs.store.forget(matcher, dry_run=dry_run)
        ledger_scrubbed = await runtime.budget.ledger.forget(matcher, dry_run=dry_run)

        exports = await anyio.to_thread.run_sync(
            lambda: scrub_exports(runtime.home / "exports", matcher, neutralise_cell, dry_run=dry_run)
        )
        return ForgetResult(
            dry_run=dry_run,
            identifiers=[i.value for i in given],
            related_identifiers=[i.value for i in related],
            cache_entries_removed=cache_removed,
            job_rows_removed=jobs.rows_removed,
            job_rows_scrubbed=jobs.rows_changed,
            jobs_scrubbed=jobs.jobs_scrubbed,
            unfinished_jobs=jobs.unfinished,
            ledger_rows_scrubbed=ledger_scrubbed,
            export_rows_removed=exports.rows_removed,
            export_files_rewritten=exports.files_rewritten,
            export_files_removed=exports.files_removed,
            not_scanned=[str(p) for p in moved_aside(runtime.home)],
        )
