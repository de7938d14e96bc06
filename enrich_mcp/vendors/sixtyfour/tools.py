"""Sixtyfour tools: thin wrappers that validate, call the client (or start a job), and shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from enrich_mcp.cache import Cached
from enrich_mcp.http import UUID_PATTERN
from enrich_mcp.jobs import JobResult
from enrich_mcp.schema import Record, pairs
from enrich_mcp.tooling import (
    Confirm,
    Fresh,
    Toolset,
    WaitSeconds,
    cache_note,
    cached_paid_call,
    require,
    start_job,
)
from enrich_mcp.vendors.base import VendorServices
from enrich_mcp.vendors.sixtyfour import jobs
from enrich_mcp.vendors.sixtyfour.client import SixtyfourClient
from enrich_mcp.vendors.sixtyfour.models import (
    Company,
    EmailMode,
    FindEmailResult,
    FindPhoneResult,
    Lead,
    LeadInfo,
    QualificationCriterion,
    QualifyLeadResult,
    Reference,
    Research,
    ResearchResult,
    RunStatusFilter,
    SearchMode,
    StructSpec,
    Workflow,
    WorkflowDeleted,
    WorkflowGraph,
    WorkflowList,
    WorkflowRun,
    WorkflowRunList,
    parse_emails,
    parse_phones,
    struct_body,
)

Struct = Annotated[StructSpec, Field(min_length=1, max_length=100, description="Fields to collect")]
ResearchPlan = Annotated[str | None, Field(max_length=5000, description="Where to look and how")]
WorkflowId = Annotated[str, Field(pattern=UUID_PATTERN)]
MAX_BULK_LEADS = 10_000
BulkLeads = Annotated[
    list[Lead], Field(min_length=1, max_length=MAX_BULK_LEADS, description="Each <=8 KB; a call <=5 MB")
]
LeadArg = Annotated[Lead, Field(description="<=8 KB")]


def _unidentified(leads: list[Lead]) -> list[int]:
    return [i for i, lead in enumerate(leads) if not lead.identifies()]


def register(tools: Toolset, services: VendorServices) -> None:
    client = SixtyfourClient(services.http)
    vendor = services.name
    budget = services.budget
    email_bulk = jobs.BulkHandler(jobs.FIND_EMAILS_BULK, "email", client, budget)
    phone_bulk = jobs.BulkHandler(jobs.FIND_PHONES_BULK, "phone", client, budget)
    for handler in (
        jobs.ResearchHandler("enrich_lead", client.enrich_lead_async, client, services.cache, services.account),
        jobs.ResearchHandler("qa_agent", client.qa_agent_async, client, None, services.account, kind=jobs.QUALIFY_LEAD),
        jobs.ResearchHandler("enrich_company", client.enrich_company_async, client, services.cache, services.account),
        email_bulk,
        phone_bulk,
        jobs.DeepSearchHandler(client, budget),
        jobs.WorkflowRunHandler(client),
    ):
        services.jobs.register(handler)

    async def research(
        ctx: Context,
        *,
        operation: str,
        tool: str,
        request: dict[str, Any],
        subject: str,
        wait_seconds: float | None,
        fresh: bool,
        confirm: bool,
    ) -> ResearchResult:
        """A cached answer, or a paid research job waited on for up to ``wait_seconds``."""
        if not fresh and (cached := await services.cache.get(vendor, operation, request, services.account)):
            return ResearchResult(
                finished=True,
                result=Research.model_validate(cached.value),
                next_step="Done, from the cache (fresh: true researches again and spends credits).",
                cost_usd=0.0,
                cache=cache_note(cached),
            )
        # The job (kind sixtyfour.<operation>) caches its answer under the same operation on completion.
        outcome = await start_job(
            services,
            ctx,
            tool=tool,
            request=request,
            wait_seconds=wait_seconds,
            operation=operation,
            subject=subject,
            confirm=confirm,
            fresh=fresh,
        )
        completed = outcome.job.status == "completed" and bool(outcome.rows)
        return ResearchResult(
            finished=outcome.finished,
            result=Research.model_validate(outcome.rows[0]) if completed and outcome.rows else None,
            job=outcome.job,
            next_step=outcome.next_step,
            cost_usd=0.0
            if outcome.reused or outcome.job.status == "failed"
            else budget.estimate(vendor, operation).estimated_usd,
            cache=cache_note(Cached(None, False)),
        )

    # -- people and companies ------------------------------------------------------------------

    @tools.tool(read_only=False, idempotent=False)
    async def sixtyfour_enrich_lead(
        lead_info: Annotated[LeadInfo, Field(description="<=8 KB")],
        struct: Struct,
        ctx: Context,
        research_plan: ResearchPlan = None,
        wait_seconds: WaitSeconds = None,
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> ResearchResult:
        """Research custom facts about one person (`struct`, with sources); about $0.10, minutes. For an email or phone
        use enrich_person."""
        payload = lead_info.payload()
        require(bool(payload), "lead_info is empty: give at least the person's name and company, or a LinkedIn URL.")
        request: dict[str, Any] = {"lead_info": payload, "struct": struct_body(struct)}
        if research_plan:
            request["research_plan"] = research_plan
        return await research(
            ctx,
            operation="enrich_lead",
            tool="sixtyfour_enrich_lead",
            request=request,
            subject=lead_info.subject(),
            wait_seconds=wait_seconds,
            fresh=fresh,
            confirm=confirm,
        )

    @tools.tool(read_only=False, idempotent=False)
    async def sixtyfour_enrich_company(
        target_company: Annotated[Company, Field(description="<=8 KB")],
        struct: Struct,
        ctx: Context,
        lead_struct: Annotated[
            StructSpec | None, Field(max_length=100, description="Fields for each person found")
        ] = None,
        find_people: Annotated[bool, Field(description="Also find people at the company")] = False,
        research_plan: ResearchPlan = None,
        people_focus_prompt: Annotated[
            str | None, Field(max_length=2000, description="Which people to find (role, seniority)")
        ] = None,
        wait_seconds: WaitSeconds = None,
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> ResearchResult:
        """Research one company (`struct`, with sources), optionally finding people there; about $0.10, minutes."""
        payload = target_company.payload()
        require(bool(payload), "target_company is empty: give at least company_name or website.")
        require(
            find_people or (lead_struct is None and people_focus_prompt is None),
            "lead_struct and people_focus_prompt only apply with find_people: true.",
        )
        request: dict[str, Any] = {"target_company": payload, "struct": struct_body(struct), "find_people": find_people}
        if lead_struct:
            request["lead_struct"] = struct_body(lead_struct)
        if research_plan:
            request["research_plan"] = research_plan
        if people_focus_prompt:
            request["people_focus_prompt"] = people_focus_prompt
        return await research(
            ctx,
            operation="enrich_company",
            tool="sixtyfour_enrich_company",
            request=request,
            subject=str(payload.get("company_name") or payload.get("website") or payload.get("domain") or "company"),
            wait_seconds=wait_seconds,
            fresh=fresh,
            confirm=confirm,
        )

    @tools.tool(read_only=False, idempotent=True)
    async def sixtyfour_find_email(
        lead: LeadArg,
        ctx: Context,
        mode: EmailMode = "PROFESSIONAL",
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> FindEmailResult:
        """Find a person's work ($0.05) or personal ($0.20) email with Sixtyfour; cached."""
        payload = lead.payload()
        require(lead.identifies(), "Give at least the person's name (with company or domain) or their LinkedIn URL.")
        answer = await cached_paid_call(
            services,
            ctx,
            lambda: client.find_email(payload, mode),
            tool="sixtyfour_find_email",
            operation=f"find_email.{mode}",
            request={"lead": payload, "mode": mode},
            subject=lead.subject(),
            confirm=confirm,
            fresh=fresh,
        )
        raw = answer.value
        return FindEmailResult(
            emails=parse_emails(raw),
            personal_email=raw.get("personal_email") or None,
            mode=mode,
            cost_usd=answer.cost_usd,
            cache=answer.cache,
            raw=raw,
        )

    @tools.tool(read_only=False, idempotent=True)
    async def sixtyfour_find_phone(
        lead: LeadArg,
        ctx: Context,
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> FindPhoneResult:
        """Find a person's phone numbers with Sixtyfour; about $0.30, cached."""
        payload = lead.payload()
        require(lead.identifies(), "Give at least the person's name (with company or domain) or their LinkedIn URL.")
        answer = await cached_paid_call(
            services,
            ctx,
            lambda: client.find_phone(payload),
            tool="sixtyfour_find_phone",
            operation="find_phone",
            request={"lead": payload},
            subject=lead.subject(),
            confirm=confirm,
            fresh=fresh,
        )
        raw = answer.value
        return FindPhoneResult(phones=parse_phones(raw), cost_usd=answer.cost_usd, cache=answer.cache, raw=raw)

    async def bulk(
        ctx: Context,
        handler: jobs.BulkHandler,
        *,
        tool: str,
        leads: list[Lead],
        request: dict[str, Any],
        wait_seconds: float | None,
        confirm: bool,
    ) -> JobResult:
        missing = _unidentified(leads)
        require(
            not missing,
            f"Leads at positions {missing[:10]} have no name, LinkedIn URL or email; fix or drop them and call again.",
        )
        return await start_job(
            services,
            ctx,
            kind=handler.kind,
            tool=tool,
            request=request,
            wait_seconds=wait_seconds,
            operation=handler.operation(request),
            units=len(leads),
            confirm=confirm,
            total=len(leads),
        )

    @tools.tool(read_only=False, idempotent=False)
    async def sixtyfour_find_emails_bulk(
        leads: BulkLeads,
        ctx: Context,
        mode: EmailMode = "PROFESSIONAL",
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Find emails for many people as one job ($0.05 or $0.20 each); a row per lead."""
        return await bulk(
            ctx,
            email_bulk,
            tool="sixtyfour_find_emails_bulk",
            leads=leads,
            request={"leads": [lead.payload() for lead in leads], "mode": mode},
            wait_seconds=wait_seconds,
            confirm=confirm,
        )

    @tools.tool(read_only=False, idempotent=False)
    async def sixtyfour_find_phones_bulk(
        leads: BulkLeads,
        ctx: Context,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Find phones for many people as one job (about $0.30 each); a row per lead."""
        return await bulk(
            ctx,
            phone_bulk,
            tool="sixtyfour_find_phones_bulk",
            leads=leads,
            request={"leads": [lead.payload() for lead in leads]},
            wait_seconds=wait_seconds,
            confirm=confirm,
        )

    @tools.tool(read_only=False, idempotent=False)
    async def sixtyfour_qualify_lead(
        data: Annotated[Record, Field(description="The record to evaluate")],
        qualification_criteria: Annotated[list[QualificationCriterion], Field(min_length=1, max_length=50)],
        ctx: Context,
        references: Annotated[list[Reference] | None, Field(max_length=50, description="Evidence URLs")] = None,
        struct: Annotated[StructSpec | None, Field(max_length=100, description="Extra output fields")] = None,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> QualifyLeadResult:
        """Score a lead against weighted criteria with Sixtyfour's web-researching agent (about $0.05)."""
        record = pairs(data, where="data")
        request: dict[str, Any] = {
            "data": record,
            "qualification_criteria": [c.model_dump(exclude_none=True) for c in qualification_criteria],
        }
        if references:
            request["references"] = [r.model_dump() for r in references]
        if struct:
            request["struct"] = struct_body(struct)
        outcome = await start_job(
            services,
            ctx,
            kind=jobs.QUALIFY_LEAD,
            tool="sixtyfour_qualify_lead",
            request=request,
            wait_seconds=wait_seconds,
            operation="qa_agent",
            subject=str(record.get("name") or record.get("company_name") or record.get("company") or "record"),
            confirm=confirm,
        )
        done = outcome.job.status == "completed" and bool(outcome.rows)
        return QualifyLeadResult(
            finished=outcome.finished,
            result=outcome.rows[0] if done and outcome.rows else None,
            job=outcome.job,
            next_step=outcome.next_step,
            cost_usd=0.0
            if outcome.reused or outcome.job.status == "failed"
            else budget.estimate(vendor, "qa_agent").estimated_usd,
        )

    @tools.tool(read_only=False, idempotent=False)
    async def sixtyfour_deep_search(
        query: Annotated[str, Field(min_length=3, max_length=2000, description="What to find, in plain words")],
        ctx: Context,
        mode: SearchMode = "people",
        max_results: Annotated[int, Field(ge=1, le=10_000)] = 100,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Build a list of people or companies from a plain-language description (about $0.01 a result; minutes)."""
        require(bool(query.strip()), "query is blank.")
        request = {"query": query.strip(), "mode": mode, "max_results": max_results}
        return await start_job(
            services,
            ctx,
            tool="sixtyfour_deep_search",
            request=request,
            wait_seconds=wait_seconds,
            operation="deep_search",
            units=max_results,
            subject=query.strip()[:200],
            confirm=confirm,
        )

    # -- workflows -----------------------------------------------------------------------------

    @tools.tool(read_only=True, idempotent=True)
    async def sixtyfour_list_workflows() -> WorkflowList:
        """List the saved Sixtyfour workflows with their status. Free."""
        workflows = [Workflow.model_validate(w) for w in await client.list_workflows()]
        return WorkflowList(workflows=workflows, count=len(workflows))

    @tools.tool(read_only=True, idempotent=True)
    async def sixtyfour_get_workflow(workflow_id: WorkflowId) -> Workflow:
        """Read one Sixtyfour workflow with its blocks. Free."""
        return Workflow.model_validate(await client.get_workflow(workflow_id))

    @tools.tool(read_only=False, idempotent=False)
    async def sixtyfour_create_workflow(
        workflow_name: Annotated[str, Field(min_length=1, max_length=200)],
        workflow_definition: Annotated[WorkflowGraph, Field(description="<=100 KB")],
        workflow_description: Annotated[str | None, Field(max_length=2000)] = None,
    ) -> Workflow:
        """Save a Sixtyfour workflow: blocks such as webhook -> enrich_lead -> find_email. Free."""
        body: dict[str, Any] = {
            "workflow_name": workflow_name,
            "workflow_definition": workflow_definition.model_dump(exclude_none=True),
        }
        if workflow_description is not None:
            body["workflow_description"] = workflow_description
        return Workflow.model_validate(await client.create_workflow(body))

    @tools.tool(read_only=False, destructive=True, idempotent=True)
    async def sixtyfour_update_workflow(
        workflow_id: WorkflowId,
        workflow_name: Annotated[str | None, Field(min_length=1, max_length=200)] = None,
        workflow_description: Annotated[str | None, Field(max_length=2000)] = None,
        workflow_definition: Annotated[WorkflowGraph | None, Field(description="Replaces the graph; <=100 KB")] = None,
    ) -> Workflow:
        """Change a Sixtyfour workflow's name, description or blocks. Free."""
        changes: dict[str, Any] = {}
        if workflow_name is not None:
            changes["workflow_name"] = workflow_name
        if workflow_description is not None:
            changes["workflow_description"] = workflow_description
        if workflow_definition is not None:
            changes["workflow_definition"] = workflow_definition.model_dump(exclude_none=True)
        require(bool(changes), "Nothing to change: give workflow_name, workflow_description or workflow_definition.")
        return Workflow.model_validate(await client.update_workflow(workflow_id, changes))

    @tools.tool(read_only=False, destructive=True, idempotent=True)
    async def sixtyfour_delete_workflow(workflow_id: WorkflowId) -> WorkflowDeleted:
        """Delete a Sixtyfour workflow for good (runs stay). Free."""
        await client.delete_workflow(workflow_id)
        return WorkflowDeleted(workflow_id=workflow_id, deleted=True)

    @tools.tool(read_only=False, idempotent=False)
    async def sixtyfour_run_workflow(
        workflow_id: WorkflowId,
        webhook_payload: Annotated[
            list[Record], Field(min_length=1, max_length=MAX_BULK_LEADS, description="Webhook rows; a call <=5 MB")
        ],
        ctx: Context,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Run a saved Sixtyfour workflow on rows as a job (about $0.10 a row)."""
        rows = [pairs(row, where="webhook_payload") for row in webhook_payload]
        return await start_job(
            services,
            ctx,
            tool="sixtyfour_run_workflow",
            request={"workflow_id": workflow_id, "webhook_payload": rows},
            wait_seconds=wait_seconds,
            operation="workflow_run",
            units=len(rows),
            subject=workflow_id,
            confirm=confirm,
        )

    @tools.tool(read_only=True, idempotent=True)
    async def sixtyfour_list_workflow_runs(
        status: Annotated[RunStatusFilter | None, Field(description="active = queued or running")] = None,
        workflow_id: WorkflowId | None = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
    ) -> WorkflowRunList:
        """List recent Sixtyfour workflow runs, including ones started elsewhere. Free."""
        runs = [WorkflowRun.model_validate(r) for r in await client.list_runs(status, workflow_id, limit)]
        return WorkflowRunList(runs=runs, count=len(runs))
