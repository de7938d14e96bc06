"""Enrichabl request and answer models, mirroring the vendor's field names."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from enrich_mcp.jobs import JobInfo
from enrich_mcp.schema import Extras, Input, WithExtras, pairs

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


class Lead(WithExtras):
    """One lead to upload (email required); other data goes to custom_fields."""

    extra_name = "custom_fields"
    max_bytes = 16_000

    email: str = Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    title: str = ""
    phone: str = ""
    linkedin_url: str = ""
    company_website: str = ""
    company_description: str = ""
    company_size: str = ""
    industry: str = ""
    location: str = ""
    custom_fields: Extras = Field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        body = self.named()
        custom = pairs(self.custom_fields, where="custom_fields")
        if custom:
            body["custom_fields"] = custom
        return body


TemplateName = Annotated[str, Field(min_length=1, max_length=200)]
PromptTemplate = Annotated[str, Field(min_length=1, max_length=20_000, description="Uses {{field}}s")]
MaxTokens = Annotated[int | None, Field(ge=1, le=100_000)]
EndpointUrl = Annotated[str | None, Field(max_length=2000, description="Custom deployments only")]


class InlineAiTemplate(Input):
    """An AI template created and attached in one call (only for ``ai`` columns)."""

    name: TemplateName
    prompt_template: PromptTemplate
    model: Annotated[Model, WithJsonSchema({"type": "string", "maxLength": 40, "description": "e.g. gpt-4o-mini"})]
    max_tokens: MaxTokens = None


def _suffix_only(url_column: str) -> str:
    if url_column.startswith("lead_"):
        raise ValueError(f'is the lead-field suffix only: use "{url_column[5:]}", not "{url_column}"')
    return url_column


UrlColumn = Annotated[
    str,
    AfterValidator(_suffix_only),
    Field(min_length=1, max_length=200, description='e.g. "company_website"'),
]
OutputFields = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(min_length=1, max_length=50)]


class FirecrawlExtractConfig(Input):
    """Per-job Firecrawl extraction settings (the template is only for UI display)."""

    url_column: UrlColumn
    prompt: str = Field(min_length=1, max_length=20_000)
    output_fields: OutputFields


# Columns: `type` picks the shape (a discriminated union), so the valid combinations are in the schema.


class BaseColumn(Input):
    type: Literal["base"]
    key: LeadField


class AiColumn(Input):
    type: Literal["ai"]
    template_id: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    template: InlineAiTemplate | None = Field(default=None, description="Or create the template inline")

    @model_validator(mode="after")
    def _one_template(self) -> AiColumn:
        if (self.template_id is None) == (self.template is None):
            raise ValueError("an ai column needs template_id or template (exactly one)")
        return self


class FieldColumn(Input):
    """One output field of a multi-AI or Firecrawl template."""

    type: Literal["multi_ai", "firecrawl"]
    template_id: str = Field(min_length=1, max_length=100)
    field: str = Field(min_length=1, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_template(cls, data: Any) -> Any:
        if isinstance(data, dict) and "template" in data:
            raise ValueError(
                f"inline templates are only for ai columns: create the {data.get('type')} template with "
                "enrichabl_create_template, then pass its id as template_id"
            )
        return data


ColumnSpec = Annotated[BaseColumn | AiColumn | FieldColumn, Field(discriminator="type")]


# Templates: `kind` picks the shape.


class AiTemplate(Input):
    kind: Literal["ai"]
    name: TemplateName
    prompt_template: PromptTemplate
    model: Model
    max_tokens: MaxTokens = None
    endpoint_url: EndpointUrl = None


# The model allow-list is published once per schema (on the ai shape); elsewhere it is enforced, not repeated.
CompactModel = Annotated[
    Model, WithJsonSchema({"type": "string", "maxLength": 40, "description": "One of the ai template's models"})
]


class MultiAiTemplate(Input):
    kind: Literal["multi_ai"]
    name: TemplateName
    prompt_template: PromptTemplate
    model: CompactModel
    output_fields: OutputFields
    max_tokens: MaxTokens = None
    endpoint_url: EndpointUrl = None


class FirecrawlTemplate(Input):
    kind: Literal["firecrawl"]
    name: str = Field(min_length=1, max_length=200)
    url_column: UrlColumn
    prompt: str = Field(min_length=1, max_length=20_000)
    output_fields: OutputFields


TemplateSpec = Annotated[AiTemplate | MultiAiTemplate | FirecrawlTemplate, Field(discriminator="kind")]


# Enrichment runs: `enrichment_type` picks the setting it needs.


class AiRun(Input):
    enrichment_type: Literal["AI_COLUMN"]
    ai_template_id: str = Field(min_length=1, max_length=100)


class MultiAiRun(Input):
    enrichment_type: Literal["MULTI_AI_COLUMN"]
    multi_ai_template_id: str = Field(min_length=1, max_length=100)


class FirecrawlRun(Input):
    enrichment_type: Literal["FIRECRAWL_EXTRACT"]
    firecrawl_extract_config: FirecrawlExtractConfig


Enrichment = Annotated[AiRun | MultiAiRun | FirecrawlRun, Field(discriminator="enrichment_type")]


# -- answers ---------------------------------------------------------------------------------------


class Pipeline(BaseModel):
    """A pipeline as Enrichabl sent it; the fields below are typed, the others pass through."""

    model_config = ConfigDict(extra="allow")

    pipeline_id: str
    pipeline_name: str | None = None
    total_leads: int | None = None
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
