"""Enrichabl tools: thin wrappers that validate, call the client or start a job, and shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from enrich_mcp.files import input_file
from enrich_mcp.http import UUID_PATTERN
from enrich_mcp.jobs import JobResult
from enrich_mcp.tooling import Confirm, Toolset, WaitSeconds, require, start_job
from enrich_mcp.vendors.base import VendorServices
from enrich_mcp.vendors.enrichabl.client import MAX_PAGE, EnrichablClient
from enrich_mcp.vendors.enrichabl.client import template_id as template_id_of
from enrich_mcp.vendors.enrichabl.jobs import ListLeadsHandler, RunHandler
from enrich_mcp.vendors.enrichabl.models import (
    AiRun,
    ColumnSpec,
    Enrichment,
    EnrichmentJobRecord,
    FirecrawlRun,
    Lead,
    LeadsPage,
    Pipeline,
    PipelineList,
    Template,
    TemplateKind,
    TemplateList,
    TemplateSpec,
    UploadSummary,
    ValidationService,
    flatten_row,
    select,
)
from enrich_mcp.vendors.enrichabl.models import Column as ColumnOut
from enrich_mcp.vendors.enrichabl.upload import read_csv, upload

MAX_INLINE_LEADS = 50_000

PipelineId = Annotated[str, Field(pattern=UUID_PATTERN)]
Limit = Annotated[int | None, Field(ge=1, le=1_000_000, description="N newest leads only")]
LeadIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]] | None,
    Field(min_length=1, max_length=100_000),
]


def _target(pipeline_id: str | None, limit: int | None, lead_ids: list[str] | None) -> dict[str, Any]:
    """Check the three documented target modes; the body sends exactly one of them."""
    require(bool(pipeline_id or lead_ids), "Give pipeline_id (whole pipeline, or top `limit`) or lead_ids.")
    require(limit is None or (pipeline_id is not None and not lead_ids), "limit needs pipeline_id and no lead_ids.")
    if lead_ids:
        require(len(set(lead_ids)) == len(lead_ids), "List each lead_id once.")
        return {"lead_ids": lead_ids}
    return {"pipeline_id": pipeline_id, **({"limit": limit} if limit is not None else {})}


def register(tools: Toolset, services: VendorServices) -> None:
    client = EnrichablClient(services.http)
    services.jobs.register(ListLeadsHandler(client))
    runs = {run: RunHandler(client, run) for run in ("enrichment", "validation")}
    for handler in runs.values():
        services.jobs.register(handler)

    async def units_for(pipeline_id: str | None, limit: int | None, lead_ids: list[str] | None) -> int:
        if lead_ids:
            return len(lead_ids)
        assert pipeline_id is not None
        total = int((await client.get_pipeline(pipeline_id)).get("total_leads") or 0)
        return min(limit, total) if limit is not None else total

    async def start_run(
        ctx: Context,
        *,
        run: str,
        variant: str,
        tool: str,
        body: dict[str, Any],
        target: dict[str, Any],
        extra: dict[str, Any],
        wait_seconds: float | None,
        confirm: bool,
    ) -> JobResult:
        units = await units_for(target.get("pipeline_id"), target.get("limit"), target.get("lead_ids"))
        # One handler (kind enrichabl.<run>) per run; each template type or service has its own price.
        result = await start_job(
            services,
            ctx,
            kind=runs[run].kind,
            tool=tool,
            request={"body": body, "target": target, **extra},
            wait_seconds=wait_seconds,
            operation=f"{run}.{variant}",
            units=max(units, 1),
            subject=target.get("pipeline_id"),
            confirm=confirm,
            total=float(units),
        )
        return result

    # -- pipelines -------------------------------------------------------------------------------

    @tools.tool(read_only=True, idempotent=True)
    async def enrichabl_list_pipelines() -> PipelineList:
        """List Enrichabl pipelines with lead counts. Free."""
        pipelines = [Pipeline.model_validate(p) for p in await client.list_pipelines()]
        return PipelineList(pipelines=pipelines, count=len(pipelines))

    @tools.tool(read_only=True, idempotent=True)
    async def enrichabl_get_pipeline(pipeline_id: PipelineId) -> Pipeline:
        """Read one Enrichabl pipeline with lead counts. Free."""
        return Pipeline.model_validate(await client.get_pipeline(pipeline_id))

    @tools.tool(read_only=False, idempotent=False)
    async def enrichabl_create_pipeline(
        pipeline_name: Annotated[str, Field(min_length=1, max_length=200)],
        pipeline_description: Annotated[str | None, Field(max_length=2000)] = None,
        pipeline_color: Annotated[str | None, Field(pattern=r"^#[0-9A-Fa-f]{6}$")] = None,
    ) -> Pipeline:
        """Create an Enrichabl pipeline (a list of leads to enrich and validate). Free."""
        body: dict[str, Any] = {"pipeline_name": pipeline_name}
        if pipeline_description is not None:
            body["pipeline_description"] = pipeline_description
        if pipeline_color is not None:
            body["pipeline_color"] = pipeline_color
        return Pipeline.model_validate(await client.create_pipeline(body))

    # -- leads -----------------------------------------------------------------------------------

    @tools.tool(read_only=False, idempotent=True)
    async def enrichabl_upload_leads(
        ctx: Context,
        pipeline_id: PipelineId,
        leads: Annotated[
            list[Lead] | None,
            Field(min_length=1, max_length=MAX_INLINE_LEADS, description="Each <=16 KB; a call <=5 MB"),
        ] = None,
        csv_path: Annotated[
            str | None,
            Field(min_length=1, max_length=4096, description="Or a .csv with an email column, in the client's roots"),
        ] = None,
    ) -> UploadSummary:
        """Add leads to a pipeline from a list or CSV (free; uses quota; re-uploads are skipped by email)."""
        require((leads is None) != (csv_path is None), "Give either leads or csv_path (exactly one).")
        if leads is not None:
            payload = [lead.payload() for lead in leads]
        else:
            settings = services.settings
            path = await input_file(
                str(csv_path), settings=settings, ctx=ctx, remote=settings.transport == "http", suffixes=(".csv",)
            )
            payload = read_csv(str(path))
        require(bool(payload), "The CSV has no lead rows.")
        return await upload(client, pipeline_id, payload)

    @tools.tool(read_only=True, idempotent=True)
    async def enrichabl_list_leads(
        ctx: Context,
        pipeline_id: PipelineId,
        limit: Annotated[int | None, Field(ge=1, le=MAX_PAGE, description="Page size (default 1,000)")] = None,
        offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0,
        fields: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=200)]] | None,
            Field(min_length=1, max_length=100, description="Only these columns, e.g. lead_email"),
        ] = None,
        all: Annotated[bool, Field(description="Read every page into a job")] = False,
        wait_seconds: WaitSeconds = None,
    ) -> LeadsPage:
        """Read a pipeline's leads with enriched values and validation status. Free."""
        if all:
            result = await start_job(
                services,
                ctx,
                kind=ListLeadsHandler.kind,
                tool="enrichabl_list_leads",
                request={"pipeline_id": pipeline_id, "limit": limit or MAX_PAGE, "offset": offset, "fields": fields},
                wait_seconds=wait_seconds,
            )
            return LeadsPage(
                pipeline_id=pipeline_id,
                leads=result.rows or [],
                job=result.job,
                finished=result.finished,
                more_rows=result.more_rows,
                next_step=result.next_step,
            )
        page = await client.list_leads(pipeline_id, limit or 1000, offset)
        rows = [select(flatten_row(r), fields) for r in page["data"] if isinstance(r, dict)]
        pagination = page.get("pagination") if isinstance(page.get("pagination"), dict) else None
        has_more = bool(pagination and pagination.get("has_more"))
        next_offset = offset + len(rows) if has_more and rows else None
        return LeadsPage(
            pipeline_id=pipeline_id,
            leads=rows,
            pagination=pagination,
            next_offset=next_offset,
            finished=True,
            next_step=f"Call again with offset={next_offset} for the next page, or all=true."
            if next_offset is not None
            else "This is the last page.",
        )

    # -- columns and templates -------------------------------------------------------------------

    @tools.tool(read_only=False, idempotent=False)
    async def enrichabl_add_column(pipeline_id: PipelineId, column: ColumnSpec) -> ColumnOut:
        """Add a column (lead field, AI, multi-AI or Firecrawl output) that enrichment fills. Free."""
        body = column.model_dump(exclude_none=True)
        return ColumnOut.model_validate(await client.add_column(pipeline_id, body))

    @tools.tool(read_only=True, idempotent=True)
    async def enrichabl_list_templates(kind: TemplateKind) -> TemplateList:
        """List AI, multi-AI or Firecrawl templates (ids for columns and enrichment). Free."""
        templates = [
            Template.model_validate({**t, "template_id": template_id_of(t, kind)})
            for t in await client.list_templates(kind)
        ]
        return TemplateList(kind=kind, templates=templates, count=len(templates))

    @tools.tool(read_only=False, idempotent=False)
    async def enrichabl_create_template(template: TemplateSpec) -> Template:
        """Create an AI, multi-AI or Firecrawl template. Free."""
        body = template.model_dump(exclude_none=True, exclude={"kind"})
        created = await client.create_template(template.kind, body)
        return Template.model_validate({**created, "template_id": template_id_of(created, template.kind)})

    # -- runs ------------------------------------------------------------------------------------

    @tools.tool(read_only=False, idempotent=False)
    async def enrichabl_start_enrichment(
        ctx: Context,
        enrichment: Enrichment,
        pipeline_id: PipelineId | None = None,
        limit: Limit = None,
        lead_ids: LeadIds = None,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Run AI, multi-AI or Firecrawl enrichment on a pipeline or leads as a job (spends your own AI keys)."""
        target = _target(pipeline_id, limit, lead_ids)
        body: dict[str, Any] = {**target, **enrichment.model_dump()}
        if isinstance(enrichment, FirecrawlRun):
            value_keys: list[str] | None = [
                f"Firecrawl: {f}" for f in enrichment.firecrawl_extract_config.output_fields
            ]
        else:
            kind = "ai" if isinstance(enrichment, AiRun) else "multi_ai"
            template_id = (
                enrichment.ai_template_id if isinstance(enrichment, AiRun) else enrichment.multi_ai_template_id
            )
            # The template names the lead_custom_fields keys the run writes. Its id key is a guess (the
            # document writes <ai_column_template_id>), so a template not found here is left to
            # Enrichabl to accept or refuse; the read-back then returns all of lead_custom_fields.
            found = [t for t in await client.list_templates(kind) if template_id_of(t, kind) == template_id]
            value_keys = None
            if found and found[0].get("name"):
                name = str(found[0]["name"])
                fields = found[0].get("output_fields") or []
                value_keys = [name] if kind == "ai" else [f"{name}: {f}" for f in fields]
        return await start_run(
            ctx,
            run="enrichment",
            variant=enrichment.enrichment_type,
            tool="enrichabl_start_enrichment",
            body=body,
            target={**target, "pipeline_id": pipeline_id},
            extra={"value_keys": value_keys},
            wait_seconds=wait_seconds,
            confirm=confirm,
        )

    @tools.tool(read_only=False, idempotent=False)
    async def enrichabl_start_validation(
        ctx: Context,
        service: Annotated[ValidationService, Field(description="HYBRID needs both keys")],
        pipeline_id: PipelineId | None = None,
        limit: Limit = None,
        lead_ids: LeadIds = None,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Validate a pipeline's or leads' emails as a job, on your own BounceBan/Mailveri keys; rows carry
        pipeline_lead_email_validation_status."""
        target = _target(pipeline_id, limit, lead_ids)
        return await start_run(
            ctx,
            run="validation",
            variant=service,
            tool="enrichabl_start_validation",
            body={**target, "service": service},
            target={**target, "pipeline_id": pipeline_id},
            extra={},
            wait_seconds=wait_seconds,
            confirm=confirm,
        )

    @tools.tool(read_only=True, idempotent=True)
    async def enrichabl_get_enrichment_job(
        job_id: Annotated[str, Field(min_length=1, max_length=100, description="Its vendor_job_id")],
    ) -> EnrichmentJobRecord:
        """Read Enrichabl's own record of an enrichment job, e.g. one started in its UI (get_job tracks ours). Free."""
        return EnrichmentJobRecord(job_id=job_id, record=await client.get_enrichment_job(job_id))
