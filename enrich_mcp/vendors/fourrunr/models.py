"""4Runr request and answer models, mirroring the field names of vendor-docs/fourrunr.md.

Answers the document shows are typed; answers it leaves out (update, delete,
bulk clean, enrich, campaigns, campaign analytics, trigger) keep the vendor's
``data`` as a dict. Every answer model allows extra keys so a newer 4Runr
version's fields reach the caller instead of being dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from enrich_mcp.schema import Extras, Input, WithExtras, published

RECORD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""4Runr's record ids (Airtable-style, e.g. "rec123abc"): also checked by the client before a path is built."""
RecordId = Annotated[
    str,
    Field(
        pattern=RECORD_ID_PATTERN,
    ),
]
Stage = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        description='e.g. "contacted"',
    ),
]
Email = Annotated[
    str,
    Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
LeadName = Annotated[str, Field(min_length=1, max_length=200)]
CompanyName = Annotated[str, Field(max_length=200)]
LeadSource = Annotated[
    str,
    Field(min_length=1, max_length=100),
]
AiMessage = Annotated[str, Field(max_length=5000)]
Url = Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")]
Timestamp = Annotated[
    str,
    Field(
        max_length=40,
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$",
        description="ISO 8601 with zone",
    ),
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- leads --------------------------------------------------------------------------------------


class Lead(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=published("id", "name", "email", "engagement_stage"))

    id: str
    name: str | None = None
    email: str | None = None
    company: str | None = None
    company_website: str | None = None
    engagement_stage: str | None = None
    ai_message: str | None = None
    last_contacted: str | None = None
    source: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class LeadList(BaseModel):
    leads: list[Lead]
    total: int | None = Field(description="Leads matching the filters, across all pages")
    limit: int
    offset: int
    has_more: bool
    next_offset: int | None = Field(description="Pass as offset for the next page; null at the end")


class CreatedLead(_Open):
    id: str
    message: str | None = None


class LeadUpdate(BaseModel):
    lead_id: str
    changed: dict[str, Any] = Field(description="The fields that were sent")
    data: dict[str, Any] = Field(description="4Runr's answer (the document does not specify it)")


class LeadDeletion(BaseModel):
    lead_id: str
    deleted: bool
    data: dict[str, Any] = Field(description="4Runr's answer (the document does not specify it)")


# -- sync and cleaning --------------------------------------------------------------------------


class SyncResult(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=published("synced_leads", "skipped_leads"))

    synced_leads: int | None = None
    cleaned_leads: int | None = None
    skipped_leads: int | None = None
    sync_duration: str | None = None


class SyncStatus(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=published("last_sync", "sync_status"))

    last_sync: str | None = None
    next_sync: str | None = None
    sync_status: str | None = None
    total_synced: int | None = None


class RawLead(WithExtras):
    """Lead fields to clean, as messy as they come; the extra pairs are cleaned too."""

    name: str = ""
    email: str = ""
    company: str = ""
    extra: Extras = Field(default_factory=list)


class CleaningContext(Input):
    source: str | None = Field(default=None, max_length=100, description='e.g. "api"')
    # Same order as waterfall.Confidence: typing caches `Literal[...] | None` by equality, which ignores
    # the order, so two orders of one set of words would make the published enum depend on import order.
    priority: Literal["high", "medium", "low"] | None = None


class CleaningStats(_Open):
    fields_cleaned: int | None = None
    confidence_score: float | None = None
    processing_time: float | None = Field(default=None, description="Seconds")


class CleanedLead(BaseModel):
    cleaned_data: dict[str, Any]
    cleaning_stats: CleaningStats
    cache: dict[str, Any] = Field(default_factory=dict)


class BulkCleanResult(BaseModel):
    lead_ids: list[str]
    data: dict[str, Any] = Field(description="4Runr's answer (the document does not specify it)")


# -- AI -----------------------------------------------------------------------------------------


class GeneratedMessage(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=published("ai_message"))

    ai_message: str
    confidence_score: float | None = None
    personalization_elements: list[str] = Field(default_factory=list)


class EnrichmentResult(BaseModel):
    lead_id: str
    data: dict[str, Any] = Field(description="4Runr's answer (the document does not specify it)")


# -- campaigns ----------------------------------------------------------------------------------


class Schedule(Input):
    start_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="First day, YYYY-MM-DD")
    frequency: str = Field(min_length=1, max_length=50, description='e.g. "daily", "weekly"')
    max_sends_per_day: int = Field(ge=1, le=100_000, description="Cap on messages sent per day")


class Campaign(_Open):
    id: str
    name: str | None = None
    status: str | None = Field(default=None, description="e.g. draft, running, paused")
    target_stage: str | None = None
    message_template: str | None = None
    schedule: dict[str, Any] | None = None


class CampaignList(BaseModel):
    campaigns: list[Campaign]
    count: int


class CampaignAction(BaseModel):
    campaign_id: str
    action: Literal["created", "started", "paused"]
    status: str | None = Field(description="The campaign's status after the action, when 4Runr reports it")
    data: dict[str, Any] = Field(description="4Runr's answer (the document does not specify it)")


# -- analytics and operations -------------------------------------------------------------------


class Health(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=published("system_status"))

    system_status: str | None = None
    database_status: str | None = None
    airtable_status: str | None = None
    automation_status: str | None = None
    last_health_check: str | None = None
    uptime: str | None = None


class QualityMetrics(_Open):
    with_email: int | None = None
    with_company: int | None = None
    fully_enriched: int | None = None


class LeadAnalytics(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=published("total_leads", "by_stage"))

    total_leads: int | None = None
    by_stage: dict[str, int] = Field(default_factory=dict)
    by_source: dict[str, int] = Field(default_factory=dict)
    quality_metrics: QualityMetrics | None = None


class CampaignAnalytics(BaseModel):
    data: dict[str, Any] = Field(description="4Runr's campaign performance (the document does not specify it)")


class AutomationStatus(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=published("automation_engine", "next_cycle"))

    automation_engine: str | None = None
    last_cycle: str | None = None
    next_cycle: str | None = None
    cycles_completed: int | None = None
    average_cycle_time: str | None = None


class AutomationTrigger(BaseModel):
    operation: str
    data: dict[str, Any] = Field(description="4Runr's answer (the document does not specify it)")
