"""Sixtyfour tools: thin wrappers that validate, call the client (or start a job), and shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from enrich_mcp.cache import Cached
from enrich_mcp.http import UUID_PATTERN
from enrich_mcp.jobs import JobResult
from enrich_mcp.tooling import Confirm, Fresh, Toolset, WaitSeconds, cache_note, paid_call, require, start_job
from enrich_mcp.vendors.base import VendorServices
from enrich_mcp.vendors.sixtyfour import jobs
from enrich_mcp.vendors.sixtyfour.client import SixtyfourClient
from enrich_mcp.vendors.sixtyfour.models import (
    Company,
    EmailMode,
    FindEmailResult,
    FindPhoneResult,
    Lead,
    QualificationCriterion,
    QualifyLeadResult,
    Reference,
    Research,
    ResearchResult,
    RunStatusFilter,
    SearchMode,
    StructField,
    StructSpec,
    Workflow,
    WorkflowDeleted,
    WorkflowGraph,
    WorkflowList,
    WorkflowRun,
    WorkflowRunList,
    parse_emails,
    parse_phones,
)

Struct = Annotated[
    StructSpec,
    Field(
        min_length=1,
        max_length=100,
        description='Fields to collect: name -> description, or name -> {"description", "type"} (str, int, float, '
        "bool, list, list[str], list[int], list[float], dict)",
    ),
]
ResearchPlan = Annotated[str | None, Field(max_length=5000, description="Where to look and how (optional)")]
WorkflowId = Annotated[str, Field(pattern=UUID_PATTERN, description="Sixtyfour workflow id (a UUID)")]
MAX_BULK_LEADS = 10_000
BulkLeads = Annotated[
    list[Lead], Field(min_length=1, max_length=MAX_BULK_LEADS, description="The people; any number up to 10,000")
]


def _struct(struct: StructSpec) -> dict[str, Any]:
    return {k: v.model_dump() if isinstance(v, StructField) else v for k, v in struct.items()}


def _unidentified(leads: list[Lead]) -> list[int]:
    return [i for i, lead in enumerate(leads) if not lead.identifies()]


def register(tools: Toolset, services: VendorServices) -> None:
    client = SixtyfourClient(services.http)
    vendor = services.name
    budget = services.budget
    for handler in (
        jobs.ResearchHandler(
            jobs.ENRICH_LEAD, "enrich_lead", client.enrich_lead_async, client, services.cache, services.account
        ),
        jobs.ResearchHandler(
            jobs.ENRICH_COMPANY, "enrich_company", client.enrich_company_async, client, services.cache, services.account
        ),
        jobs.BulkHandler(jobs.FIND_EMAILS_BULK, "email", client, budget),
        jobs.BulkHandler(jobs.FIND_PHONES_BULK, "phone", client, budget),
        jobs.DeepSearchHandler(client, budget),
        jobs.WorkflowRunHandler(client),
    ):
        services.jobs.register(handler)

    async def research(
        ctx: Context,
        *,
        kind: str,
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
        outcome = await start_job(
            services,
            ctx,
            kind=kind,
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

    @tools.tool(title="Sixtyfour: enrich lead", read_only=False, idempotent=False)
    async def sixtyfour_enrich_lead(
        lead_info: Annotated[Lead, Field(description="What is known: name, company, linkedin, email, title...")],
        struct: Struct,
        ctx: Context,
        research_plan: ResearchPlan = None,
        wait_seconds: WaitSeconds = None,
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> ResearchResult:
        """Research one person with Sixtyfour's agent and fill the fields in `struct` (with sources and a confidence).

        Use for custom facts about a person (role history, skills, socials...); for just an email or phone use the
        find tools. Costs about $0.10 per lead (estimate). Takes minutes: returns a job handle if not done within
        wait_seconds. Answers are cached; `fresh` researches again.
        """
        payload = lead_info.payload()
        require(bool(payload), "lead_info is empty: give at least the person's name and company, or a LinkedIn URL.")
        request: dict[str, Any] = {"lead_info": payload, "struct": _struct(struct)}
        if research_plan:
            request["research_plan"] = research_plan
        return await research(
            ctx,
            kind=jobs.ENRICH_LEAD,
            operation="enrich_lead",
            tool="sixtyfour_enrich_lead",
            request=request,
            subject=lead_info.subject(),
            wait_seconds=wait_seconds,
            fresh=fresh,
            confirm=confirm,
        )

    @tools.tool(title="Sixtyfour: enrich company", read_only=False, idempotent=False)
    async def sixtyfour_enrich_company(
        target_company: Annotated[Company, Field(description="What is known: company_name, website, address...")],
        struct: Struct,
        ctx: Context,
        lead_struct: Annotated[
            StructSpec | None, Field(max_length=100, description="Fields to return for each person found")
        ] = None,
        find_people: Annotated[bool, Field(description="Also find people at the company")] = False,
        research_plan: ResearchPlan = None,
        people_focus_prompt: Annotated[
            str | None, Field(max_length=2000, description="Which people to find (role, department, seniority)")
        ] = None,
        wait_seconds: WaitSeconds = None,
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> ResearchResult:
        """Research one company with Sixtyfour's agent, fill `struct`, and optionally find people there.

        With find_people, `structured_data.leads` lists people scored 0-10 against `people_focus_prompt`.
        Costs about $0.10 per company (estimate). Takes minutes: returns a job handle if not done within
        wait_seconds. Answers are cached; `fresh` researches again.
        """
        payload = target_company.payload()
        require(bool(payload), "target_company is empty: give at least company_name or website.")
        require(
            find_people or (lead_struct is None and people_focus_prompt is None),
            "lead_struct and people_focus_prompt only apply with find_people: true.",
        )
        request: dict[str, Any] = {"target_company": payload, "struct": _struct(struct), "find_people": find_people}
        if lead_struct:
            request["lead_struct"] = _struct(lead_struct)
        if research_plan:
            request["research_plan"] = research_plan
        if people_focus_prompt:
            request["people_focus_prompt"] = people_focus_prompt
        return await research(
            ctx,
            kind=jobs.ENRICH_COMPANY,
            operation="enrich_company",
            tool="sixtyfour_enrich_company",
            request=request,
            subject=str(payload.get("company_name") or payload.get("website") or payload.get("domain") or "company"),
            wait_seconds=wait_seconds,
            fresh=fresh,
            confirm=confirm,
        )

    @tools.tool(title="Sixtyfour: find email", read_only=False, idempotent=True)
    async def sixtyfour_find_email(
        lead: Lead,
        ctx: Context,
        mode: EmailMode = "PROFESSIONAL",
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> FindEmailResult:
        """Find a person's work email (PROFESSIONAL, $0.05) or personal email (PERSONAL, $0.20) with Sixtyfour.

        Give as much as you know (name + company or LinkedIn at least). Answers are cached; `fresh` re-asks.
        """
        payload = lead.payload()
        require(lead.identifies(), "Give at least the person's name (with company or domain) or their LinkedIn URL.")
        operation = f"find_email.{mode}"
        request = {"lead": payload, "mode": mode}
        cost = budget.estimate(vendor, operation).estimated_usd

        async def fetch() -> dict[str, Any]:
            return await paid_call(
                budget,
                ctx,
                lambda: client.find_email(payload, mode),
                vendor=vendor,
                tool="sixtyfour_find_email",
                operation=operation,
                subject=lead.subject(),
                confirm=confirm,
            )

        cached = await services.cache.get_or_fetch(vendor, "find_email", request, services.account, fetch, fresh=fresh)
        raw = cached.value
        return FindEmailResult(
            emails=parse_emails(raw),
            personal_email=raw.get("personal_email") or None,
            mode=mode,
            cost_usd=0.0 if cached.hit else cost,
            cache=cache_note(cached),
            raw=raw,
        )

    @tools.tool(title="Sixtyfour: find phone", read_only=False, idempotent=True)
    async def sixtyfour_find_phone(
        lead: Lead,
        ctx: Context,
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> FindPhoneResult:
        """Find a person's phone number(s) with Sixtyfour. About $0.30 per lead (estimate).

        Give as much as you know (name + company, LinkedIn or email). Answers are cached; `fresh` re-asks.
        """
        payload = lead.payload()
        require(lead.identifies(), "Give at least the person's name (with company or domain) or their LinkedIn URL.")
        request = {"lead": payload}
        cost = budget.estimate(vendor, "find_phone").estimated_usd

        async def fetch() -> dict[str, Any]:
            return await paid_call(
                budget,
                ctx,
                lambda: client.find_phone(payload),
                vendor=vendor,
                tool="sixtyfour_find_phone",
                operation="find_phone",
                subject=lead.subject(),
                confirm=confirm,
            )

        cached = await services.cache.get_or_fetch(vendor, "find_phone", request, services.account, fetch, fresh=fresh)
        raw = cached.value
        return FindPhoneResult(
            phones=parse_phones(raw), cost_usd=0.0 if cached.hit else cost, cache=cache_note(cached), raw=raw
        )

    async def bulk(
        ctx: Context,
        *,
        kind: str,
        tool: str,
        operation: str,
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
            kind=kind,
            tool=tool,
            request=request,
            wait_seconds=wait_seconds,
            operation=operation,
            units=len(leads),
            confirm=confirm,
            total=len(leads),
        )

    @tools.tool(title="Sixtyfour: find emails (bulk)", read_only=False, idempotent=False)
    async def sixtyfour_find_emails_bulk(
        leads: BulkLeads,
        ctx: Context,
        mode: EmailMode = "PROFESSIONAL",
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Find emails for many people at once (sent to Sixtyfour in chunks of 100), as one job.

        $0.05 (PROFESSIONAL) or $0.20 (PERSONAL) per lead answered. Rows: one per lead with `index`, `status`
        (found|not_found|failed|unknown), `emails`, `personal_email`, `error`; a failed chunk does not lose the others.
        """
        return await bulk(
            ctx,
            kind=jobs.FIND_EMAILS_BULK,
            tool="sixtyfour_find_emails_bulk",
            operation=f"find_email.{mode}",
            leads=leads,
            request={"leads": [lead.payload() for lead in leads], "mode": mode},
            wait_seconds=wait_seconds,
            confirm=confirm,
        )

    @tools.tool(title="Sixtyfour: find phones (bulk)", read_only=False, idempotent=False)
    async def sixtyfour_find_phones_bulk(
        leads: BulkLeads,
        ctx: Context,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Find phone numbers for many people at once (sent to Sixtyfour in chunks of 100), as one job.

        About $0.30 per lead answered (estimate). Rows: one per lead with `index`, `status`
        (found|not_found|failed|unknown), `phones`, `error`; a failed chunk does not lose the others.
        """
        return await bulk(
            ctx,
            kind=jobs.FIND_PHONES_BULK,
            tool="sixtyfour_find_phones_bulk",
            operation="find_phone",
            leads=leads,
            request={"leads": [lead.payload() for lead in leads]},
            wait_seconds=wait_seconds,
            confirm=confirm,
        )

    @tools.tool(title="Sixtyfour: qualify lead", read_only=False, idempotent=False)
    async def sixtyfour_qualify_lead(
        data: Annotated[dict[str, Any], Field(min_length=1, description="The lead or company record to evaluate")],
        qualification_criteria: Annotated[list[QualificationCriterion], Field(min_length=1, max_length=50)],
        ctx: Context,
        references: Annotated[
            list[Reference] | None, Field(max_length=50, description="URLs the agent may use as evidence")
        ] = None,
        struct: Annotated[
            dict[str, str] | None, Field(max_length=100, description="Extra output fields: name -> description")
        ] = None,
        confirm: Confirm = False,
    ) -> QualifyLeadResult:
        """Score a lead against your weighted qualification criteria with Sixtyfour's QA agent (researches the web).

        Use to decide whether a lead fits an ICP. About $0.05 per evaluation (estimate); not cached.
        """
        request: dict[str, Any] = {
            "data": data,
            "qualification_criteria": [c.model_dump(exclude_none=True) for c in qualification_criteria],
        }
        if references:
            request["references"] = [r.model_dump() for r in references]
        if struct:
            request["struct"] = struct
        result = await paid_call(
            budget,
            ctx,
            lambda: client.qa_agent(request),
            vendor=vendor,
            tool="sixtyfour_qualify_lead",
            operation="qa_agent",
            subject=str(data.get("name") or data.get("company_name") or data.get("company") or "record"),
            confirm=confirm,
        )
        return QualifyLeadResult(result=result, cost_usd=budget.estimate(vendor, "qa_agent").estimated_usd)

    @tools.tool(title="Sixtyfour: deep search", read_only=False, idempotent=False)
    async def sixtyfour_deep_search(
        query: Annotated[str, Field(min_length=3, max_length=2000, description="What to find, in plain words")],
        ctx: Context,
        mode: Annotated[SearchMode, Field(description="people or company")] = "people",
        max_results: Annotated[int, Field(ge=1, le=10_000, description="Most results to return")] = 100,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Find people or companies matching a plain-language description (a list-building search) with Sixtyfour.

        About $0.01 per result (estimate; max_results is reserved, results returned are charged). Takes minutes:
        returns a job handle; rows are the vendor's CSV columns.
        """
        require(bool(query.strip()), "query is blank.")
        request = {"query": query.strip(), "mode": mode, "max_results": max_results}
        return await start_job(
            services,
            ctx,
            kind=jobs.DEEP_SEARCH,
            tool="sixtyfour_deep_search",
            request=request,
            wait_seconds=wait_seconds,
            operation="deep_search",
            units=max_results,
            subject=query.strip()[:200],
            confirm=confirm,
        )

    # -- workflows -----------------------------------------------------------------------------

    @tools.tool(title="Sixtyfour: list workflows", read_only=True, idempotent=True)
    async def sixtyfour_list_workflows() -> WorkflowList:
        """List the account's saved Sixtyfour workflows (names and status, no definitions). Free."""
        workflows = [Workflow.model_validate(w) for w in await client.list_workflows()]
        return WorkflowList(workflows=workflows, count=len(workflows))

    @tools.tool(title="Sixtyfour: get workflow", read_only=True, idempotent=True)
    async def sixtyfour_get_workflow(workflow_id: WorkflowId) -> Workflow:
        """Read one Sixtyfour workflow with its block definition. Free."""
        return Workflow.model_validate(await client.get_workflow(workflow_id))

    @tools.tool(title="Sixtyfour: create workflow", read_only=False, idempotent=False)
    async def sixtyfour_create_workflow(
        workflow_name: Annotated[str, Field(min_length=1, max_length=200)],
        workflow_definition: Annotated[WorkflowGraph, Field(description="Blocks (in sequence) and the edges between")],
        workflow_description: Annotated[str | None, Field(max_length=2000)] = None,
    ) -> Workflow:
        """Save a new Sixtyfour workflow (a pipeline of blocks such as webhook -> enrich_lead -> find_email). Free;
        running it costs credits (sixtyfour_run_workflow)."""
        body: dict[str, Any] = {
            "workflow_name": workflow_name,
            "workflow_definition": workflow_definition.model_dump(exclude_none=True),
        }
        if workflow_description is not None:
            body["workflow_description"] = workflow_description
        return Workflow.model_validate(await client.create_workflow(body))

    @tools.tool(title="Sixtyfour: update workflow", read_only=False, destructive=True, idempotent=True)
    async def sixtyfour_update_workflow(
        workflow_id: WorkflowId,
        workflow_name: Annotated[str | None, Field(min_length=1, max_length=200)] = None,
        workflow_description: Annotated[str | None, Field(max_length=2000)] = None,
        workflow_definition: Annotated[WorkflowGraph | None, Field(description="Replaces the whole graph")] = None,
    ) -> Workflow:
        """Change a Sixtyfour workflow's name, description or definition; only the fields given change. Free."""
        changes: dict[str, Any] = {}
        if workflow_name is not None:
            changes["workflow_name"] = workflow_name
        if workflow_description is not None:
            changes["workflow_description"] = workflow_description
        if workflow_definition is not None:
            changes["workflow_definition"] = workflow_definition.model_dump(exclude_none=True)
        require(bool(changes), "Nothing to change: give workflow_name, workflow_description or workflow_definition.")
        return Workflow.model_validate(await client.update_workflow(workflow_id, changes))

    @tools.tool(title="Sixtyfour: delete workflow", read_only=False, destructive=True, idempotent=True)
    async def sixtyfour_delete_workflow(workflow_id: WorkflowId) -> WorkflowDeleted:
        """Permanently delete a Sixtyfour workflow definition (its run history stays). Free; cannot be undone."""
        await client.delete_workflow(workflow_id)
        return WorkflowDeleted(workflow_id=workflow_id, deleted=True)

    @tools.tool(title="Sixtyfour: run workflow", read_only=False, idempotent=False)
    async def sixtyfour_run_workflow(
        workflow_id: WorkflowId,
        webhook_payload: Annotated[
            list[dict[str, Any]],
            Field(min_length=1, max_length=MAX_BULK_LEADS, description="Input rows for the workflow's webhook block"),
        ],
        ctx: Context,
        wait_seconds: WaitSeconds = None,
        confirm: Confirm = False,
    ) -> JobResult:
        """Run a saved Sixtyfour workflow on input rows, as a job; rows are the last block's output.

        About $0.10 per input row (estimate; depends on the blocks). cancel_job stops the run at Sixtyfour.
        Workflows that start with read_csv cannot be run this way.
        """
        return await start_job(
            services,
            ctx,
            kind=jobs.WORKFLOW_RUN,
            tool="sixtyfour_run_workflow",
            request={"workflow_id": workflow_id, "webhook_payload": webhook_payload},
            wait_seconds=wait_seconds,
            operation="workflow_run",
            units=len(webhook_payload),
            subject=workflow_id,
            confirm=confirm,
        )

    @tools.tool(title="Sixtyfour: list workflow runs", read_only=True, idempotent=True)
    async def sixtyfour_list_workflow_runs(
        status: Annotated[
            RunStatusFilter | None, Field(description="Only runs in this status; active = queued or running")
        ] = None,
        workflow_id: WorkflowId | None = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
    ) -> WorkflowRunList:
        """List recent Sixtyfour workflow runs, newest first (including runs started outside enrich-mcp). Free."""
        runs = [WorkflowRun.model_validate(r) for r in await client.list_runs(status, workflow_id, limit)]
        return WorkflowRunList(runs=runs, count=len(runs))
