"""Enrichabl request and answer models, mirroring the vendor's field names."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from enrich_mcp.jobs import JobInfo

ColumnType = Literal["base", "ai", "multi_ai", "firecrawl"]
TemplateKind = Literal["ai", "multi_ai", "firecrawl"]
EnrichmentType = Literal["AI_COLUMN", "MULTI_AI_COLUMN", "FIRECRAWL_EXTRACT"]
ValidationService = Literal["BOUNCEBAN", "MAILVERI", "HYBRID"]
# The document's allow-list: other names (e.g. gemini-2.0-flash-exp) are rejected by the vendor.
Model = Literal[
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o1",
    "o1-mini",
    "o3",
    "o3-mini",
    "o4-mini",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "sonar",
    "sonar-pro",
    "sonar-reasoning",
    "sonar-reasoning-pro",
]
LeadField = Literal[
    "email",
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "linkedin_url",
    "company_website",
    "company_description",
    "company_size",
    "industry",
    "location",
]
LEAD_FIELDS: tuple[str, ...] = get_args(LeadField)
"""The documented lead fields; everything else goes to custom_fields."""


# -- inputs ----------------------------------------------------------------------------------------


class Lead(BaseModel):
    """One lead to upload. Only email is required; keys beyond the documented fields go to custom_fields."""

    model_config = ConfigDict(extra="allow")

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", description="Used for dedup")
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=300)
    title: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=50)
    linkedin_url: str | None = Field(default=None, max_length=500)
    company_website: str | None = Field(default=None, max_length=500)
    company_description: str | None = Field(default=None, max_length=5000)
    company_size: str | None = Field(default=None, max_length=100)
    industry: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=300)
    custom_fields: dict[str, Any] | None = Field(default=None, description="Free-form; stored verbatim on the lead")

    def payload(self) -> dict[str, Any]:
        body = {name: getattr(self, name) for name in LEAD_FIELDS if getattr(self, name) is not None}
        custom = {**(self.model_extra or {}), **(self.custom_fields or {})}
        if custom or self.custom_fields is not None:
            body["custom_fields"] = custom
        return body


class InlineAiTemplate(BaseModel):
    """An AI template created and attached in one call (only for ``ai`` columns)."""

    name: str = Field(min_length=1, max_length=200, description="Also the lead_custom_fields key of its values")
    prompt_template: str = Field(min_length=1, max_length=20_000, description="Use {{field}} placeholders")
    model: Model
    max_tokens: int | None = Field(default=None, ge=1, le=100_000)


class FirecrawlExtractConfig(BaseModel):
    """Per-job Firecrawl extraction settings (the template is only for UI display)."""

    url_column: str = Field(
        min_length=1,
        max_length=200,
        description='Lead-field suffix, e.g. "company_website" (not "lead_company_website")',
    )
    prompt: str = Field(min_length=1, max_length=20_000)
    output_fields: list[str] = Field(min_length=1, max_length=50)


# -- answers ---------------------------------------------------------------------------------------


class Pipeline(BaseModel):
    model_config = ConfigDict(extra="allow")

    pipeline_id: str
    pipeline_name: str | None = None
    pipeline_description: str | None = None
    pipeline_color: str | None = None
    total_leads: int | None = None
    imported_leads: int | None = None
    validated_leads: int | None = None
    enriched_leads: int | None = None
    valid_emails: int | None = None


class PipelineList(BaseModel):
    pipelines: list[Pipeline]
    count: int


class UploadChunk(BaseModel):
    """One upload request: leads[start:end] of the input."""

    index: int
    start: int = Field(description="First lead (0-based) of this chunk in the input")
    end: int = Field(description="One past the last lead of this chunk")
    leads: int
    bytes: int = Field(description="Size of the JSON body sent")
    status: Literal["landed", "truncated", "quota_exceeded", "failed", "unknown", "not_sent"] = Field(
        description=(
            "landed: accepted; truncated: accepted but some rows dropped by the quota; quota_exceeded: refused "
            "with 402; failed: refused with another error; unknown: sent but the answer was lost; not_sent"
        )
    )
    created: int = 0
    skipped: int = 0
    failed: int = 0
    dropped: int = 0
    error: str | None = None


class QuotaInfo(BaseModel):
    message: str
    current_count: int | None = None
    quota_limit: int | None = None


class UploadSummary(BaseModel):
    pipeline_id: str
    leads: int = Field(description="Leads in the input")
    created: int
    skipped: int = Field(description="Emails already in the account (dedup); not an error")
    failed: int
    dropped: int = Field(description="Rows cut by the plan's lead quota (truncation)")
    complete: bool = Field(description="True when every chunk landed without truncation")
    landed_ranges: list[list[int]] = Field(description="[start, end) index ranges of the input that were accepted")
    not_landed_ranges: list[list[int]] = Field(description="[start, end) ranges refused, unsent or of unknown outcome")
    quota: QuotaInfo | None = Field(default=None, description="The 402 answer, when the quota stopped the upload")
    chunks: list[UploadChunk]
    next_step: str


class LeadsPage(BaseModel):
    pipeline_id: str
    leads: list[dict[str, Any]] = Field(
        description="Flattened rows: pipeline_lead_* fields plus the nested lead's lead_* fields"
    )
    pagination: dict[str, Any] | None = Field(default=None, description="The vendor's pagination (page mode)")
    next_offset: int | None = Field(default=None, description="Offset of the next page; None when this was the last")
    job: JobInfo | None = Field(default=None, description="The paging job (all mode)")
    finished: bool
    more_rows: bool = Field(default=False, description="All mode: get_job_results has more rows than shown")
    next_step: str


class Column(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str | None = None


class Template(BaseModel):
    model_config = ConfigDict(extra="allow")

    template_id: str | None = Field(
        default=None,
        description="The template's id, whichever key Enrichabl used for it (pass it as template_id / ai_template_id)",
    )
    name: str | None = None


class EnrichmentJobRecord(BaseModel):
    job_id: str
    record: dict[str, Any] = Field(description="Enrichabl's job record as sent (the document gives no shape)")


class TemplateList(BaseModel):
    kind: TemplateKind
    templates: list[Template]
    count: int


def flatten_row(row: dict[str, Any]) -> dict[str, Any]:
    """A pipeline_leads row with its nested ``lead`` lifted up (names are prefixed, so none collide)."""
    flat = {k: v for k, v in row.items() if k != "lead"}
    lead = row.get("lead")
    if isinstance(lead, dict):
        flat.update(lead)
    return flat


def select(row: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return {f: row.get(f) for f in fields} if fields else row
