"""AudienceLab tools: thin wrappers that validate, call the client or start a job, and shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field, ValidationError

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.jobs import JobResult
from enrich_mcp.tooling import Confirm, Fresh, Toolset, WaitSeconds, cached_paid_call, require, start_job
from enrich_mcp.vendors.audiencelab.client import MAX_PAGE_SIZE, AudienceLabClient
from enrich_mcp.vendors.audiencelab.jobs import EnrichmentJobHandler
from enrich_mcp.vendors.audiencelab.models import (
    Contact,
    ContactFilter,
    EnrichContactResult,
    EnrichmentJobPage,
    InputColumn,
    Operator,
    OutputField,
)
from enrich_mcp.vendors.base import VendorServices

MAX_RECORDS = 10_000


def checked(result: JobResult) -> JobResult:
    """A gs:// delivery's fetch instructions become the next step."""
    job = result.job
    gs_only = str(job.summary.get("csv_url", "")).startswith("gs://") and "rows" not in job.summary
    if job.status == "completed" and gs_only and job.message:
        result.next_step = job.message
    return result


def register(tools: Toolset, services: VendorServices) -> None:
    client = AudienceLabClient(services.http)
    vendor = services.name
    services.jobs.register(EnrichmentJobHandler(client))

    @tools.tool(read_only=False, idempotent=True)
    async def audiencelab_enrich_contact(
        filter: Annotated[ContactFilter, Field(description="What you know about the person")],
        ctx: Context,
        fields: Annotated[
            list[OutputField] | None, Field(min_length=1, max_length=16, description="Only these fields")
        ] = None,
        is_or_match: Annotated[bool, Field(description="Match any filter key, not all")] = False,
        request_id: Annotated[str | None, Field(min_length=1, max_length=200, description="Your tracking id")] = None,
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> EnrichContactResult:
        """Look up one person in AudienceLab now (about $0.01, cached); for 100+ use the bulk tool."""
        known = filter.payload()
        require(bool(known), 'Give at least one non-empty filter value, e.g. {"email": "ada@example.com"}.')
        require(fields is None or len(set(fields)) == len(fields), "List each field once.")
        body: dict[str, Any] = {"filter": known}
        if fields:
            body["fields"] = fields
        body["is_or_match"] = is_or_match
        # request_id is only a tracking label: it does not change the answer, so it is not part of the cache key.
        key = dict(body)
        if request_id is not None:
            body["request_id"] = request_id
        answer = await cached_paid_call(
            services,
            ctx,
            lambda: client.enrich(body),
            tool="audiencelab_enrich_contact",
            operation="enrich",
            request=key,
            subject=next(iter(known.values())),
            confirm=confirm,
            fresh=fresh,
        )
        raw = answer.value
        return EnrichContactResult(
            request_id=raw.get("request_id"),
            timestamp=raw.get("timestamp"),
            found=int(raw.get("found") or 0),
            result=[r for r in raw.get("result") or [] if isinstance(r, dict)],
            cost_usd=answer.cost_usd,
            cache=answer.cache,
        )

    @tools.tool(read_only=False, idempotent=False)
    async def audiencelab_enrich_contacts_bulk(
        name: Annotated[str, Field(min_length=1, max_length=200, description="Job name, shown in AudienceLab")],
        records: Annotated[
            list[Contact], Field(min_length=1, max_length=MAX_RECORDS, description="Each <=8 KB; a call <=5 MB")
        ],
        ctx: Context,
        columns: Annotated[
            list[InputColumn] | None, Field(min_length=1, max_length=16, description="Columns present in records")
        ] = None,
        operator: Annotated[Operator, Field(description="Match any column (OR) or all (AND)")] = "OR",
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Enrich many people as an AudienceLab job (about $0.01 each; best for 100+)."""
        rows = [r.payload() for r in records]
        require(all(rows), "Every record needs a value.")
        require(columns is None or len(set(columns)) == len(columns), "List each column once.")
        request: dict[str, Any] = {"name": name, "operator": operator}
        if columns:
            request["columns"] = columns
        request["records"] = rows
        result = await start_job(
            services,
            ctx,
            kind=EnrichmentJobHandler.kind,
            tool="audiencelab_enrich_contacts_bulk",
            request=request,
            wait_seconds=wait_seconds,
            operation="enrichment_record",
            units=len(rows),
            subject=name,
            confirm=confirm,
            total=len(rows),
        )
        return checked(result)

    @tools.tool(read_only=True, idempotent=True)
    async def audiencelab_list_enrichment_jobs(
        page: Annotated[int, Field(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 100,
    ) -> EnrichmentJobPage:
        """List AudienceLab bulk jobs, including ones started elsewhere. Free."""
        listing = await client.list_enrichments(page, page_size)
        try:
            return EnrichmentJobPage.model_validate(listing)
        except ValidationError as exc:
            raise VendorProtocolError(
                vendor, f"the job list did not match the document ({exc.error_count()} problems)"
            ) from None
