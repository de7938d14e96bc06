"""Lance answer models, mirroring the vendor's field names."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from enrich_mcp.jobs import JobInfo, JobStatus

EnrichField = Literal["emails", "phones"]


class Enrichment(BaseModel):
    """Lance's enrichment record (the same object from POST and GET); the fields below are typed, the others
    (createdAt, creditTransactionId, globalEnrichmentId ...) pass through as sent."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="The enrichment record's UUID")
    entityId: str = Field(description="The person's UUID")
    field: str = Field(description="emails or phones")
    status: str = Field(description="Lance's word: pending, finished, failed, timeout or cancelled")
    error: str | None = None
    dataFound: bool | None = Field(
        default=None, description="True: contact data was found and added to the person in Lance; null while pending"
    )


class EnrichmentStatus(BaseModel):
    """An enrichment record with its status normalised."""

    status: JobStatus = Field(description="queued|running|completed|failed|cancelled")
    vendor_status: str = Field(description="Lance's own word")
    enrichment: Enrichment


class EnrichPersonResult(BaseModel):
    """The answer of lance_enrich_person: the job and, once known, Lance's record."""

    job: JobInfo
    finished: bool = Field(description="True when the enrichment ended within wait_seconds")
    status: JobStatus
    vendor_status: str | None = None
    enrichment: Enrichment | None = Field(default=None, description="Lance's latest record for this person and field")
    charged: bool = Field(description="False when Lance returned an existing enrichment without using credits")
    cost_usd: float = Field(description="Estimated cost of this call (0 when nothing new was started)")
    next_step: str
