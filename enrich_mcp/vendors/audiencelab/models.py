"""AudienceLab request and answer models, mirroring the vendor's field names."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from enrich_mcp.schema import Sparse

OutputField = Literal[
    "company",
    "job_title",
    "first_name",
    "last_name",
    "b2b_email",
    "personal_email",
    "b2b_phone",
    "personal_phone",
    "sha256",
    "linkedin_url",
    "address",
    "city",
    "state",
    "zip",
    "industry",
    "company_domain",
]
"""The 16 documented output fields of ``POST /enrich``."""

InputColumn = Literal[
    "EMAIL",
    "PERSONAL_EMAIL",
    "BUSINESS_EMAIL",
    "FIRST_NAME",
    "LAST_NAME",
    "PHONE",
    "PERSONAL_ADDRESS",
    "PERSONAL_CITY",
    "PERSONAL_STATE",
    "PERSONAL_ZIP",
    "COMPANY_NAME",
    "COMPANY_DOMAIN",
    "COMPANY_INDUSTRY",
    "SHA256_PERSONAL_EMAIL",
    "LINKEDIN_URL",
    "UP_ID",
]
"""The 16 documented input columns of ``POST /enrichments``."""

Operator = Literal["OR", "AND"]
JobStatusWord = Literal["IN_QUEUE", "PROCESSING", "COMPLETED", "FAILED"]


class _Columns(Sparse):
    @model_validator(mode="before")
    @classmethod
    def _case_insensitive(cls, data: Any) -> Any:
        """``FIRST_NAME`` (the column's own spelling) is ``first_name``."""
        if not isinstance(data, dict):
            return data
        return {k.lower() if isinstance(k, str) and k.lower() in cls.model_fields else k: v for k, v in data.items()}

    def payload(self) -> dict[str, str]:
        return self.named()


class ContactFilter(_Columns):
    """Who to look up in real time, by the identifying input columns."""

    email: str = ""
    business_email: str = ""
    personal_email: str = ""
    phone: str = ""
    first_name: str = ""
    last_name: str = ""
    company_name: str = ""
    company_domain: str = ""
    linkedin_url: str = ""
    sha256_personal_email: str = ""


class Contact(ContactFilter):
    """A person for a bulk job, by the documented input columns (lower-case keys, as in the examples)."""

    personal_address: str = ""
    personal_city: str = ""
    personal_state: str = ""
    personal_zip: str = ""
    company_industry: str = ""
    up_id: str = ""


class EnrichContactResult(BaseModel):
    """The answer of ``POST /enrich``."""

    request_id: str | None = Field(
        default=None, description="The tracking id AudienceLab echoed (the original call's when served from cache)"
    )
    timestamp: int | None = Field(default=None, description="AudienceLab's answer time, epoch milliseconds")
    found: int = Field(description="How many contacts matched")
    result: list[dict[str, Any]] = Field(
        default_factory=list, description="The matched contacts as AudienceLab sent them"
    )
    cost_usd: float = Field(description="Estimated cost of this call (0 when served from cache)")
    cache: dict[str, Any] = Field(default_factory=dict)


class EnrichmentJob(BaseModel):
    """One row of ``GET /enrichments``."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str | None = None
    status: str = Field(description="IN_QUEUE, PROCESSING, COMPLETED or FAILED")
    csv_url: str | None = Field(default=None, description="Gzipped CSV of the results once COMPLETED (https or gs://)")
    total: int | None = None
    created_at: str | None = None


class EnrichmentJobPage(BaseModel):
    """One page of ``GET /enrichments``."""

    total_records: int
    page_size: int
    page: int
    total_pages: int
    data: list[EnrichmentJob]
