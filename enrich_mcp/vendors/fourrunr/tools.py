"""4Runr tools: thin wrappers that validate, call the client, and shape the answer.

4Runr is the operator's own lead system, so lead, campaign and status reads are
never cached (they change under us). Only ``fourrunr_clean_lead``, a pure
transformation of its input, is cached. The AI operations (clean, generate,
enrich) may cost money at the operator's AI provider and go through the budget.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from enrich_mcp.errors import EnrichError, InputError
from enrich_mcp.schema import Record, pairs
from enrich_mcp.tooling import Confirm, Fresh, Toolset, cached_paid_call, confirmer, paid_call, require
from enrich_mcp.vendors.base import VendorServices
from enrich_mcp.vendors.fourrunr.client import FourRunrClient
from enrich_mcp.vendors.fourrunr.models import (
    AiMessage,
    AutomationStatus,
    AutomationTrigger,
    BulkCleanResult,
    Campaign,
    CampaignAction,
    CampaignAnalytics,
    CampaignList,
    CleanedLead,
    CleaningContext,
    CleaningStats,
    CompanyName,
    CreatedLead,
    Email,
    EnrichmentResult,
    GeneratedMessage,
    Health,
    Lead,
    LeadAnalytics,
    LeadDeletion,
    LeadList,
    LeadName,
    LeadSource,
    LeadUpdate,
    RawLead,
    RecordId,
    Schedule,
    Stage,
    SyncResult,
    SyncStatus,
    Timestamp,
    Url,
)


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields the caller set: 4Runr's PUT changes exactly what it is sent."""
    return {k: v for k, v in fields.items() if v is not None}


class DeleteApproval(BaseModel):
    """The elicitation form for approving a deletion."""

    delete: bool = Field(description="Delete this lead permanently?")


def register(tools: Toolset, services: VendorServices) -> None:
    client = FourRunrClient(services.http)
    vendor = services.name
    budget = services.budget

    # -- leads ------------------------------------------------------------------------------------

    @tools.tool(read_only=True, idempotent=True)
    async def fourrunr_list_leads(
        limit: Annotated[int, Field(ge=1, le=1000)] = 50,
        offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0,
        stage: Stage | None = None,
        source: LeadSource | None = None,
    ) -> LeadList:
        """List 4Runr leads, by stage or source. Free."""
        data, pagination = await client.list_leads(limit=limit, offset=offset, stage=stage, source=source)
        page = {**data, **(pagination or {})}
        leads = [Lead.model_validate(item) for item in data.get("leads") or []]
        total = page.get("total")
        got_offset = int(page.get("offset", offset))
        got_limit = int(page.get("limit", limit))
        has_more = page.get("has_more")
        if has_more is None:
            has_more = total is not None and got_offset + len(leads) < int(total)
        return LeadList(
            leads=leads,
            total=None if total is None else int(total),
            limit=got_limit,
            offset=got_offset,
            has_more=bool(has_more),
            next_offset=got_offset + len(leads) if has_more and leads else None,
        )

    @tools.tool(read_only=True, idempotent=True)
    async def fourrunr_get_lead(lead_id: RecordId) -> Lead:
        """Read one 4Runr lead with its stage and AI message. Free."""
        return Lead.model_validate(await client.get_lead(lead_id))

    @tools.tool(read_only=False, idempotent=False)
    async def fourrunr_create_lead(
        name: LeadName,
        email: Email | None = None,
        company: CompanyName | None = None,
        company_website: Url | None = None,
        source: LeadSource | None = None,
    ) -> CreatedLead:
        """Add a lead to 4Runr (twice makes two: list first if unsure). Free."""
        lead = {"name": name, "email": email, "company": company, "company_website": company_website, "source": source}
        return CreatedLead.model_validate(await client.create_lead(_given(lead)))

    @tools.tool(read_only=False, idempotent=True)
    async def fourrunr_update_lead(
        lead_id: RecordId,
        engagement_stage: Stage | None = None,
        ai_message: AiMessage | None = None,
        last_contacted: Timestamp | None = None,
        name: LeadName | None = None,
        email: Email | None = None,
        company: CompanyName | None = None,
        company_website: Url | None = None,
        source: LeadSource | None = None,
    ) -> LeadUpdate:
        """Change some fields of a 4Runr lead, e.g. engagement_stage. Free."""
        changes = _given(
            {
                "engagement_stage": engagement_stage,
                "ai_message": ai_message,
                "last_contacted": last_contacted,
                "name": name,
                "email": email,
                "company": company,
                "company_website": company_website,
                "source": source,
            }
        )
        require(bool(changes), "Give at least one field to change.")
        data = await client.update_lead(lead_id, changes)
        return LeadUpdate(lead_id=lead_id, changed=changes, data=data)

    @tools.tool(read_only=False, destructive=True, idempotent=True)
    async def fourrunr_delete_lead(
        lead_id: RecordId,
        ctx: Context,
        confirm: Annotated[bool, Field(description="The user approved (when the client cannot ask them)")] = False,
    ) -> LeadDeletion:
        """Delete a 4Runr lead for good, once the user approves."""
        if confirmer(ctx) is not None:
            # A client that can ask the user always does: a model's `confirm` never overrides a person.
            answer = await ctx.elicit(
                f"Delete 4Runr lead {lead_id} permanently? This cannot be undone.", DeleteApproval
            )
            if not (answer.action == "accept" and answer.data.delete):
                raise EnrichError(f"The user did not approve deleting lead {lead_id}.", hint="Nothing was deleted.")
        elif not confirm:
            raise InputError(
                f"Deleting lead {lead_id} cannot be undone and this client cannot ask the user.",
                hint="Ask the user, then call again with confirm: true. Nothing was deleted.",
            )
        data = await client.delete_lead(lead_id)
        return LeadDeletion(lead_id=lead_id, deleted=True, data=data)

    # -- sync and cleaning ------------------------------------------------------------------------

    @tools.tool(read_only=False, idempotent=True)
    async def fourrunr_sync_airtable(
        force_full_sync: Annotated[bool, Field(description="Every record, not only changes")] = False,
        clean_data: bool = True,
    ) -> SyncResult:
        """Sync leads from Airtable into 4Runr now (it also syncs on a schedule). Free."""
        return SyncResult.model_validate(
            await client.sync_airtable(force_full_sync=force_full_sync, clean_data=clean_data)
        )

    @tools.tool(read_only=True, idempotent=True)
    async def fourrunr_get_sync_status() -> SyncStatus:
        """4Runr's last and next Airtable sync. Free."""
        return SyncStatus.model_validate(await client.sync_status())

    @tools.tool(read_only=False, idempotent=True)
    async def fourrunr_clean_lead(
        lead_data: RawLead,
        ctx: Context,
        context: CleaningContext | None = None,
        fresh: Fresh = False,
        confirm: Confirm = False,
    ) -> CleanedLead:
        """Normalise messy lead fields with 4Runr's AI (cached; default $0); clean_leads is free."""
        lead = lead_data.flat()
        require(bool(lead), "Give at least one field of lead_data to clean.")
        ctx_payload = context.model_dump(exclude_none=True) if context else None
        answer = await cached_paid_call(
            services,
            ctx,
            lambda: client.clean_lead(lead, ctx_payload),
            tool="fourrunr_clean_lead",
            operation="clean_lead",
            request={"lead_data": lead, "context": ctx_payload},
            subject=str(lead.get("email") or lead.get("name") or ""),
            confirm=confirm,
            fresh=fresh,
        )
        raw = answer.value
        return CleanedLead(
            cleaned_data=dict(raw.get("cleaned_data") or {}),
            cleaning_stats=CleaningStats.model_validate(raw.get("cleaning_stats") or {}),
            cache=answer.cache,
        )

    @tools.tool(read_only=False, idempotent=True)
    async def fourrunr_clean_leads_bulk(
        lead_ids: Annotated[list[RecordId], Field(min_length=1, max_length=1000)],
        ctx: Context,
        force_reclean: Annotated[bool, Field(description="Also leads cleaned before")] = False,
        confirm: Confirm = False,
    ) -> BulkCleanResult:
        """Clean stored 4Runr leads by id with 4Runr's AI (default $0)."""
        ids = list(dict.fromkeys(lead_ids))
        data = await paid_call(
            budget,
            ctx,
            lambda: client.clean_bulk(ids, force_reclean=force_reclean),
            vendor=vendor,
            tool="fourrunr_clean_leads_bulk",
            operation="clean_lead",
            units=len(ids),
            confirm=confirm,
        )
        return BulkCleanResult(lead_ids=ids, data=data)

    # -- AI ---------------------------------------------------------------------------------------

    @tools.tool(read_only=False, idempotent=False)
    async def fourrunr_generate_message(
        lead_id: RecordId,
        ctx: Context,
        message_type: Annotated[
            str,
            Field(min_length=1, max_length=100, description='e.g. "follow_up"'),
        ] = "initial_outreach",
        personalization_level: Literal["low", "medium", "high"] = "high",
        confirm: Confirm = False,
    ) -> GeneratedMessage:
        """Write an outreach message for a 4Runr lead with 4Runr's AI (default $0)."""
        data = await paid_call(
            budget,
            ctx,
            lambda: client.generate_message(lead_id, message_type, personalization_level),
            vendor=vendor,
            tool="fourrunr_generate_message",
            operation="generate_message",
            subject=lead_id,
            confirm=confirm,
        )
        return GeneratedMessage.model_validate(data)

    @tools.tool(read_only=False, idempotent=False)
    async def fourrunr_enrich_lead(
        lead_id: RecordId,
        ctx: Context,
        enrichment_sources: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=50)]] | None,
            Field(min_length=1, max_length=10, description='e.g. ["google", "linkedin"]'),
        ] = None,
        confirm: Confirm = False,
    ) -> EnrichmentResult:
        """Fill a stored 4Runr lead's missing fields from the web with 4Runr's AI (default $0)."""
        data = await paid_call(
            budget,
            ctx,
            lambda: client.enrich_lead(lead_id, enrichment_sources),
            vendor=vendor,
            tool="fourrunr_enrich_lead",
            operation="enrich_lead",
            subject=lead_id,
            confirm=confirm,
        )
        return EnrichmentResult(lead_id=lead_id, data=data)

    # -- campaigns --------------------------------------------------------------------------------

    @tools.tool(read_only=True, idempotent=True)
    async def fourrunr_list_campaigns() -> CampaignList:
        """List 4Runr outreach campaigns and their status. Free."""
        campaigns = [Campaign.model_validate(c) for c in await client.list_campaigns()]
        return CampaignList(campaigns=campaigns, count=len(campaigns))

    @tools.tool(read_only=False, idempotent=False)
    async def fourrunr_create_campaign(
        name: Annotated[str, Field(min_length=1, max_length=200)],
        target_stage: Stage,
        message_template: Annotated[
            str, Field(min_length=1, max_length=5000, description="With {name}, {company} placeholders")
        ],
        schedule: Schedule,
    ) -> CampaignAction:
        """Create a 4Runr outreach campaign for one stage; sends nothing until started. Free."""
        data = await client.create_campaign(
            {
                "name": name,
                "target_stage": target_stage,
                "message_template": message_template,
                "schedule": schedule.model_dump(exclude_none=True),
            }
        )
        return CampaignAction(
            campaign_id=str(data.get("id") or data.get("campaign_id") or ""),
            action="created",
            status=data.get("status"),
            data=data,
        )

    @tools.tool(read_only=False, idempotent=True)
    async def fourrunr_start_campaign(
        campaign_id: RecordId,
    ) -> CampaignAction:
        """Start or resume a 4Runr campaign: it messages real leads, so confirm with the user first."""
        data = await client.start_campaign(campaign_id)
        return CampaignAction(campaign_id=campaign_id, action="started", status=data.get("status"), data=data)

    @tools.tool(read_only=False, idempotent=True)
    async def fourrunr_pause_campaign(
        campaign_id: RecordId,
    ) -> CampaignAction:
        """Pause a running 4Runr campaign; start resumes it. Free."""
        data = await client.pause_campaign(campaign_id)
        return CampaignAction(campaign_id=campaign_id, action="paused", status=data.get("status"), data=data)

    # -- analytics and operations -----------------------------------------------------------------

    @tools.tool(read_only=True, idempotent=True)
    async def fourrunr_get_health() -> Health:
        """Health of 4Runr, its database, Airtable sync and automation; check it first on errors. Free."""
        return Health.model_validate(await client.health())

    @tools.tool(read_only=True, idempotent=True)
    async def fourrunr_get_lead_analytics() -> LeadAnalytics:
        """4Runr lead counts by stage and source. Free."""
        return LeadAnalytics.model_validate(await client.lead_analytics())

    @tools.tool(read_only=True, idempotent=True)
    async def fourrunr_get_campaign_analytics() -> CampaignAnalytics:
        """Performance figures of 4Runr outreach campaigns. Free."""
        return CampaignAnalytics(data=await client.campaign_analytics())

    @tools.tool(read_only=True, idempotent=True)
    async def fourrunr_get_automation_status() -> AutomationStatus:
        """4Runr automation engine status and cycles. Free."""
        return AutomationStatus.model_validate(await client.automation_status())

    @tools.tool(read_only=False, idempotent=False)
    async def fourrunr_trigger_automation(
        operation: Annotated[
            str,
            Field(
                min_length=1,
                max_length=100,
                pattern=r"^[a-z][a-z0-9_]*$",
                description='e.g. "enrich_leads"',
            ),
        ],
        parameters: Annotated[Record | None, Field(description="Its options")] = None,
    ) -> AutomationTrigger:
        """Run a 4Runr automation now (AI ones may cost outside this server's budget)."""
        options = pairs(parameters, where="parameters") if parameters is not None else None
        return AutomationTrigger(operation=operation, data=await client.trigger_automation(operation, options))
