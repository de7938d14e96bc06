"""AudienceLab tools: thin wrappers that validate, call the client or start a job, and shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field, ValidationError

from enrich_mcp.errors import VendorProtocolError
from enrich_mcp.jobs import JobResult
from enrich_mcp.tooling import Confirm, Fresh, Toolset, WaitSeconds, cache_note, paid_call, require, start_job
from enrich_mcp.vendors.audiencelab.client import MAX_PAGE_SIZE, AudienceLabClient
from enrich_mcp.vendors.audiencelab.jobs import EnrichmentJobHandler
from enrich_mcp.vendors.audiencelab.models import (
    EnrichContactResult,
    EnrichmentJobPage,
    InputColumn,
    Operator,
    OutputField,
    Scalar,
)
from enrich_mcp.vendors.base import VendorServices


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

    @tools.tool(title="AudienceLab: enrich one contact", read_only=False, idempotent=True)
    async def audiencelab_enrich_contact(
        filter: Annotated[
            dict[str, Scalar],
            Field(
                min_length=1,
                max_length=20,
                description='What you know about the person, e.g. {"email": "ada@example.com"} (email, phone, name…)',
            ),
        ],
        ctx: Context,
        fields: Annotated[
            list[OutputField] | None,
            Field(min_length=1, max_length=16, description="Only return these fields (default: AudienceLab's choice)"),
        ] = None,
        is_or_match: Annotated[bool, Field(description="Match any filter key (true) or all of them (false)")] = False,
        request_id: Annotated[str | None, Field(min_length=1, max_length=200, description="Your tracking id")] = None,
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> EnrichContactResult:
        """Look up one contact in AudienceLab in real time (name, company, title, emails, phones, address…).

        For a handful of people; use audiencelab_enrich_contacts_bulk for 100+. Costs one lookup (estimated
        $0.01 unless ENRICH_MCP_PRICES says otherwise). Answers are cached; `fresh` re-asks and pays again.
        """
        require(
            any(v not in (None, "") for v in filter.values()),
            'Give at least one non-empty filter value, e.g. {"email": "ada@example.com"}.',
        )
        require(fields is None or len(set(fields)) == len(fields), "List each field once.")
        body: dict[str, Any] = {"filter": filter}
        if fields:
            body["fields"] = fields
        body["is_or_match"] = is_or_match
        # request_id is only a tracking label: it does not change the answer, so it is not part of the cache key.
        key = dict(body)
        if request_id is not None:
            body["request_id"] = request_id
        cost = services.budget.estimate(vendor, "enrich").estimated_usd

        async def fetch() -> dict[str, Any]:
            return await paid_call(
                services.budget,
                ctx,
                lambda: client.enrich(body),
                vendor=vendor,
                tool="audiencelab_enrich_contact",
                operation="enrich",
                subject=next(str(v) for v in filter.values() if v not in (None, "")),
                confirm=confirm,
            )

        cached = await services.cache.get_or_fetch(vendor, "enrich", key, services.account, fetch, fresh=fresh)
        raw = cached.value
        return EnrichContactResult(
            request_id=raw.get("request_id"),
            timestamp=raw.get("timestamp"),
            found=int(raw.get("found") or 0),
            result=[r for r in raw.get("result") or [] if isinstance(r, dict)],
            cost_usd=0.0 if cached.hit else cost,
            cache=cache_note(cached),
        )

    @tools.tool(title="AudienceLab: bulk enrichment job", read_only=False, idempotent=False)
    async def audiencelab_enrich_contacts_bulk(
        name: Annotated[str, Field(min_length=1, max_length=200, description="Job name, shown in AudienceLab")],
        records: Annotated[
            list[dict[str, Scalar]],
            Field(min_length=1, description='Contacts to enrich, e.g. [{"email": "ada@example.com"}]'),
        ],
        ctx: Context,
        columns: Annotated[
            list[InputColumn] | None,
            Field(min_length=1, max_length=16, description='Input columns present in the records, e.g. ["EMAIL"]'),
        ] = None,
        operator: Annotated[Operator, Field(description="Match on any column (OR) or all of them (AND)")] = "OR",
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Enrich many contacts with an AudienceLab bulk job; results come back as rows (get_job_results pages them).

        Best for 100+ contacts. Costs about one lookup per record (estimated $0.01 each unless ENRICH_MCP_PRICES
        says otherwise). Returns the rows if the job ends within `wait_seconds`, else a job handle; the server
        keeps polling. When AudienceLab delivers a gs:// file, the job says how to fetch it.
        """
        require(all(any(v not in (None, "") for v in r.values()) for r in records), "Every record needs a value.")
        require(columns is None or len(set(columns)) == len(columns), "List each column once.")
        request: dict[str, Any] = {"name": name, "operator": operator}
        if columns:
            request["columns"] = columns
        request["records"] = records
        result = await start_job(
            services,
            ctx,
            kind=EnrichmentJobHandler.kind,
            tool="audiencelab_enrich_contacts_bulk",
            request=request,
            wait_seconds=wait_seconds,
            operation="enrichment_record",
            units=len(records),
            subject=name,
            confirm=confirm,
            total=len(records),
        )
        return checked(result)

    @tools.tool(title="AudienceLab: list enrichment jobs", read_only=True, idempotent=True)
    async def audiencelab_list_enrichment_jobs(
        page: Annotated[int, Field(ge=1, description="Page number, from 1")] = 1,
        page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE, description="Jobs per page (max 1000)")] = 100,
    ) -> EnrichmentJobPage:
        """List the account's AudienceLab bulk enrichment jobs with status and result file URL. Free.

        Use it to find jobs started elsewhere (e.g. the dashboard); jobs started here are tracked by get_job.
        """
        listing = await client.list_enrichments(page, page_size)
        try:
            return EnrichmentJobPage.model_validate(listing)
        except ValidationError as exc:
            raise VendorProtocolError(
                vendor, f"the job list did not match the document ({exc.error_count()} problems)"
            ) from None
