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
from enrich_mcp.vendors.enrichabl.models import Column as ColumnOut
from enrich_mcp.vendors.enrichabl.models import (
    ColumnType,
    EnrichmentJobRecord,
    EnrichmentType,
    FirecrawlExtractConfig,
    InlineAiTemplate,
    Lead,
    LeadField,
    LeadsPage,
    Model,
    Pipeline,
    PipelineList,
    Template,
    TemplateKind,
    TemplateList,
    UploadSummary,
    ValidationService,
    flatten_row,
    select,
)
from enrich_mcp.vendors.enrichabl.upload import read_csv, upload

PipelineId = Annotated[
    str,
    Field(pattern=UUID_PATTERN, description="pipeline_id (a UUID) from enrichabl_list_pipelines"),
]
Limit = Annotated[int | None, Field(ge=1, le=1_000_000, description="Only the N most recent leads of pipeline_id")]
LeadIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]] | None,
    Field(
        min_length=1,
        max_length=100_000,
        description="Specific lead_id values. pipeline_id may be given too: it is then only used to read results back",
    ),
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
    services.jobs.register(RunHandler(client, "enrichment"))
    services.jobs.register(RunHandler(client, "validation"))

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
        tool: str,
        operation: str,
        body: dict[str, Any],
        target: dict[str, Any],
        extra: dict[str, Any],
        wait_seconds: float | None,
        confirm: bool,
    ) -> JobResult:
        units = await units_for(target.get("pipeline_id"), target.get("limit"), target.get("lead_ids"))
        result = await start_job(
            services,
            ctx,
            kind=f"enrichabl.{run}",
            tool=tool,
            request={"body": body, "target": target, **extra},
            wait_seconds=wait_seconds,
            operation=operation,
            units=max(units, 1),
            subject=target.get("pipeline_id"),
            confirm=confirm,
            total=float(units),
        )
        return result

    # -- pipelines -------------------------------------------------------------------------------

    @tools.tool(title="Enrichabl: list pipelines", read_only=True, idempotent=True)
    async def enrichabl_list_pipelines() -> PipelineList:
        """List your Enrichabl pipelines with their stats (total, validated, enriched leads, valid emails). Free."""
        pipelines = [Pipeline.model_validate(p) for p in await client.list_pipelines()]
        return PipelineList(pipelines=pipelines, count=len(pipelines))

    @tools.tool(title="Enrichabl: get pipeline", read_only=True, idempotent=True)
    async def enrichabl_get_pipeline(pipeline_id: PipelineId) -> Pipeline:
        """One Enrichabl pipeline with its stats. Free."""
        return Pipeline.model_validate(await client.get_pipeline(pipeline_id))

    @tools.tool(title="Enrichabl: create pipeline", read_only=False, idempotent=False)
    async def enrichabl_create_pipeline(
        pipeline_name: Annotated[str, Field(min_length=1, max_length=200)],
        pipeline_description: Annotated[str | None, Field(max_length=2000)] = None,
        pipeline_color: Annotated[str | None, Field(pattern=r"^#[0-9A-Fa-f]{6}$", description="#RRGGBB")] = None,
    ) -> Pipeline:
        """Create an Enrichabl pipeline (a list of leads to enrich and validate). Free; each call makes a new one."""
        body: dict[str, Any] = {"pipeline_name": pipeline_name}
        if pipeline_description is not None:
            body["pipeline_description"] = pipeline_description
        if pipeline_color is not None:
            body["pipeline_color"] = pipeline_color
        return Pipeline.model_validate(await client.create_pipeline(body))

    # -- leads -----------------------------------------------------------------------------------

    @tools.tool(title="Enrichabl: upload leads", read_only=False, idempotent=True)
    async def enrichabl_upload_leads(
        ctx: Context,
        pipeline_id: PipelineId,
        leads: Annotated[
            list[Lead] | None,
            Field(min_length=1, description="Leads as objects (email required); extra keys go to custom_fields"),
        ] = None,
        csv_path: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=4096,
                description="A UTF-8 .csv file with a header row (an email column), inside the client's roots or "
                "ENRICH_MCP_FILES_DIR; unknown columns go to custom_fields",
            ),
        ] = None,
    ) -> UploadSummary:
        """Add any number of leads to a pipeline, from a list or a CSV file. Free; leads count against the quota.

        Sent in chunks (≤4,000 leads, <4 MB, ≤3 at a time). Enrichabl dedups by email across the account, so
        uploading the same leads again is harmless: they come back as `skipped`. When the quota is full the
        answer says which input ranges landed (`landed_ranges`) and which did not.
        """
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

    @tools.tool(title="Enrichabl: list leads", read_only=True, idempotent=True)
    async def enrichabl_list_leads(
        ctx: Context,
        pipeline_id: PipelineId,
        limit: Annotated[
            int | None,
            Field(ge=1, le=MAX_PAGE, description="Page size (default 1,000; with all=true default 10,000 per page)"),
        ] = None,
        offset: Annotated[int, Field(ge=0, description="Rows to skip (newest first)")] = 0,
        fields: Annotated[
            list[str] | None,
            Field(
                min_length=1,
                max_length=100,
                description="Only these columns, e.g. lead_email, lead_custom_fields, pipeline_lead_stage",
            ),
        ] = None,
        all: Annotated[
            bool, Field(description="Read every page (from offset) into a job; page results with get_job_results")
        ] = False,
        wait_seconds: WaitSeconds = None,
    ) -> LeadsPage:
        """Read a pipeline's leads (newest first) with their enriched values and validation status. Free.

        Rows are flattened: pipeline_lead_* fields plus the lead's lead_* fields (enriched values are in
        lead_custom_fields). One page by default; `all: true` exports the whole pipeline as a job.
        """
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

    @tools.tool(title="Enrichabl: add column", read_only=False, idempotent=False)
    async def enrichabl_add_column(
        pipeline_id: PipelineId,
        type: Annotated[ColumnType, Field(description="base | ai | multi_ai | firecrawl")],
        key: Annotated[LeadField | None, Field(description="base: the lead field to show")] = None,
        template_id: Annotated[
            str | None,
            Field(min_length=1, max_length=100, description="ai | multi_ai | firecrawl: an existing template's id"),
        ] = None,
        template: Annotated[
            InlineAiTemplate | None, Field(description="ai only: create the template inline instead of template_id")
        ] = None,
        field: Annotated[
            str | None, Field(min_length=1, max_length=200, description="multi_ai | firecrawl: one output field")
        ] = None,
    ) -> ColumnOut:
        """Add a column to a pipeline: a lead field (base), an AI column, or one output field of a multi-AI or
        Firecrawl template. Free (an inline AI template is created too). Columns drive what enrichment writes.
        """
        body: dict[str, Any] = {"type": type}
        if type == "base":
            require(key is not None, "A base column needs key (a lead field such as industry).")
            require(template_id is None and template is None and field is None, "A base column takes only key.")
            body["key"] = key
        elif type == "ai":
            require((template_id is None) != (template is None), "An ai column needs template_id or template (one).")
            require(key is None and field is None, "An ai column takes template_id or template, not key or field.")
            if template is not None:
                body["template"] = template.model_dump(exclude_none=True)
            else:
                body["template_id"] = template_id
        else:
            require(
                template is None,
                f"Inline templates are only for ai columns: create the {type} template with "
                "enrichabl_create_template, then pass its id as template_id.",
            )
            require(template_id is not None and field is not None, f"A {type} column needs template_id and field.")
            require(key is None, f"A {type} column takes template_id and field, not key.")
            body.update(template_id=template_id, field=field)
        return ColumnOut.model_validate(await client.add_column(pipeline_id, body))

    @tools.tool(title="Enrichabl: list templates", read_only=True, idempotent=True)
    async def enrichabl_list_templates(
        kind: Annotated[TemplateKind, Field(description="ai | multi_ai | firecrawl")],
    ) -> TemplateList:
        """List your AI, multi-AI or Firecrawl templates (their ids feed add_column and start_enrichment). Free."""
        templates = [
            Template.model_validate({**t, "template_id": template_id_of(t, kind)})
            for t in await client.list_templates(kind)
        ]
        return TemplateList(kind=kind, templates=templates, count=len(templates))

    @tools.tool(title="Enrichabl: create template", read_only=False, idempotent=False)
    async def enrichabl_create_template(
        kind: Annotated[TemplateKind, Field(description="ai | multi_ai | firecrawl")],
        name: Annotated[str, Field(min_length=1, max_length=200, description="Names the lead_custom_fields key(s)")],
        prompt_template: Annotated[
            str | None, Field(min_length=1, max_length=20_000, description="ai | multi_ai: prompt with {{field}}s")
        ] = None,
        model: Annotated[Model | None, Field(description="ai | multi_ai: one of the supported models")] = None,
        max_tokens: Annotated[int | None, Field(ge=1, le=100_000, description="ai | multi_ai")] = None,
        output_fields: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=200)]] | None,
            Field(min_length=1, max_length=50, description="multi_ai | firecrawl: the fields to produce"),
        ] = None,
        url_column: Annotated[
            str | None,
            Field(min_length=1, max_length=200, description='firecrawl: lead-field suffix, e.g. "company_website"'),
        ] = None,
        prompt: Annotated[str | None, Field(min_length=1, max_length=20_000, description="firecrawl")] = None,
        endpoint_url: Annotated[
            str | None,
            Field(max_length=2000, description="ai | multi_ai: only for custom OpenAI-compatible deployments"),
        ] = None,
    ) -> Template:
        """Create an AI (one output), multi-AI (several JSON outputs) or Firecrawl (scrape a URL) template. Free.

        Values land in lead_custom_fields as "{name}" (ai), "{name}: {field}" (multi_ai), "Firecrawl: {field}".
        """
        given = {
            "prompt_template": prompt_template,
            "model": model,
            "max_tokens": max_tokens,
            "output_fields": output_fields,
            "url_column": url_column,
            "prompt": prompt,
            "endpoint_url": endpoint_url,
        }
        allowed, needed = {
            "ai": ({"prompt_template", "model", "max_tokens", "endpoint_url"}, ("prompt_template", "model")),
            "multi_ai": (
                {"prompt_template", "model", "max_tokens", "endpoint_url", "output_fields"},
                ("prompt_template", "model", "output_fields"),
            ),
            "firecrawl": ({"url_column", "prompt", "output_fields"}, ("url_column", "prompt", "output_fields")),
        }[kind]
        stray = sorted(k for k, v in given.items() if v is not None and k not in allowed)
        require(not stray, f"A {kind} template does not take {', '.join(stray)}.")
        missing = [k for k in needed if given[k] is None]
        require(not missing, f"A {kind} template needs {', '.join(missing)}.")
        require(
            url_column is None or not url_column.startswith("lead_"),
            f'url_column is the lead-field suffix only: use "{(url_column or "")[5:]}", not "{url_column}".',
        )
        body = {"name": name, **{k: v for k, v in given.items() if v is not None}}
        created = await client.create_template(kind, body)
        return Template.model_validate({**created, "template_id": template_id_of(created, kind)})

    # -- runs ------------------------------------------------------------------------------------

    @tools.tool(title="Enrichabl: start enrichment", read_only=False, idempotent=False)
    async def enrichabl_start_enrichment(
        ctx: Context,
        enrichment_type: Annotated[
            EnrichmentType, Field(description="AI_COLUMN | MULTI_AI_COLUMN | FIRECRAWL_EXTRACT")
        ],
        pipeline_id: PipelineId | None = None,
        limit: Limit = None,
        lead_ids: LeadIds = None,
        ai_template_id: Annotated[str | None, Field(min_length=1, max_length=100, description="AI_COLUMN")] = None,
        multi_ai_template_id: Annotated[
            str | None, Field(min_length=1, max_length=100, description="MULTI_AI_COLUMN")
        ] = None,
        firecrawl_extract_config: Annotated[
            FirecrawlExtractConfig | None, Field(description="FIRECRAWL_EXTRACT: what to scrape and extract")
        ] = None,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Run AI, multi-AI or Firecrawl enrichment on a whole pipeline, its N newest leads, or given lead_ids.

        Costs provider usage on your own OpenAI/Gemini/Perplexity/Firecrawl keys (set in Enrichabl's Settings →
        API Keys; without them the start is refused). Results are the targeted leads with their new values,
        keyed as Enrichabl stores them: "{template name}", "{template name}: {field}", "Firecrawl: {field}".
        """
        target = _target(pipeline_id, limit, lead_ids)
        given = {
            "AI_COLUMN": ai_template_id,
            "MULTI_AI_COLUMN": multi_ai_template_id,
            "FIRECRAWL_EXTRACT": firecrawl_extract_config,
        }
        stray = [k for k, v in given.items() if v is not None and k != enrichment_type]
        require(
            not stray,
            f"{enrichment_type} takes only its own setting; drop the one(s) for {', '.join(stray)}.",
        )
        require(
            given[enrichment_type] is not None,
            {
                "AI_COLUMN": "AI_COLUMN needs ai_template_id.",
                "MULTI_AI_COLUMN": "MULTI_AI_COLUMN needs multi_ai_template_id.",
                "FIRECRAWL_EXTRACT": "FIRECRAWL_EXTRACT needs firecrawl_extract_config.",
            }[enrichment_type],
        )
        body: dict[str, Any] = {**target, "enrichment_type": enrichment_type}
        if firecrawl_extract_config is not None:
            url_column = firecrawl_extract_config.url_column
            require(
                not url_column.startswith("lead_"),
                f'url_column is the lead-field suffix only: use "{url_column[5:]}", not "{url_column}".',
            )
            body["firecrawl_extract_config"] = firecrawl_extract_config.model_dump()
            value_keys = [f"Firecrawl: {f}" for f in firecrawl_extract_config.output_fields]
        else:
            kind = "ai" if enrichment_type == "AI_COLUMN" else "multi_ai"
            template_id = ai_template_id if kind == "ai" else multi_ai_template_id
            body["ai_template_id" if kind == "ai" else "multi_ai_template_id"] = template_id
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
            tool="enrichabl_start_enrichment",
            operation=f"enrichment.{enrichment_type}",
            body=body,
            target={**target, "pipeline_id": pipeline_id},
            extra={"value_keys": value_keys},
            wait_seconds=wait_seconds,
            confirm=confirm,
        )

    @tools.tool(title="Enrichabl: start email validation", read_only=False, idempotent=False)
    async def enrichabl_start_validation(
        ctx: Context,
        service: Annotated[ValidationService, Field(description="BOUNCEBAN | MAILVERI | HYBRID (needs both keys)")],
        pipeline_id: PipelineId | None = None,
        limit: Limit = None,
        lead_ids: LeadIds = None,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Validate the emails of a whole pipeline, its N newest leads, or given lead_ids.

        Costs verifier usage on your own BounceBan/Mailveri keys. Already-validated leads are not re-checked.
        Results are the targeted leads with pipeline_lead_email_validation_status VALID/INVALID/RISKY/UNKNOWN.
        """
        target = _target(pipeline_id, limit, lead_ids)
        return await start_run(
            ctx,
            run="validation",
            tool="enrichabl_start_validation",
            operation=f"validation.{service}",
            body={**target, "service": service},
            target={**target, "pipeline_id": pipeline_id},
            extra={},
            wait_seconds=wait_seconds,
            confirm=confirm,
        )

    @tools.tool(title="Enrichabl: get enrichment job", read_only=True, idempotent=True)
    async def enrichabl_get_enrichment_job(
        job_id: Annotated[
            str, Field(min_length=1, max_length=100, description="Enrichabl's job id (a job's vendor_job_id)")
        ],
    ) -> EnrichmentJobRecord:
        """Read an Enrichabl enrichment job's record (type, target, counters), e.g. one started in Enrichabl's UI.

        Free. Jobs started here are also tracked by get_job; this reads Enrichabl's own record as it is.
        """
        return EnrichmentJobRecord(job_id=job_id, record=await client.get_enrichment_job(job_id))
