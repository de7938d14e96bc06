"""Sixtyfour request and answer models, mirroring the vendor's field names, and the answer parsers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from enrich_mcp.jobs import JobInfo

EmailMode = Literal["PROFESSIONAL", "PERSONAL"]
SearchMode = Literal["people", "company"]
FieldType = Literal["str", "int", "float", "bool", "list", "list[str]", "list[int]", "list[float]", "dict"]
RunStatusFilter = Literal["active", "queued", "running", "completed", "failed", "cancelled"]


# -- inputs ----------------------------------------------------------------------------------------


class Lead(BaseModel):
    """What is known about a person; more fields give better answers. Extra keys are passed through."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    linkedin: str | None = Field(default=None, max_length=500)
    domain: str | None = Field(default=None, max_length=253)
    email: str | None = Field(default=None, max_length=320)

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    def identifies(self) -> bool:
        """Sixtyfour needs at least a name, a LinkedIn URL or an email to find a person."""
        payload = self.payload()
        return bool(payload.get("name") or payload.get("linkedin") or payload.get("email"))

    def subject(self) -> str:
        payload = self.payload()
        return str(payload.get("name") or payload.get("linkedin") or payload.get("email") or "lead")


class Company(BaseModel):
    """What is known about a company. Extra keys are passed through."""

    model_config = ConfigDict(extra="allow")

    company_name: str | None = Field(default=None, max_length=300)
    website: str | None = Field(default=None, max_length=500)
    domain: str | None = Field(default=None, max_length=253)
    linkedin: str | None = Field(default=None, max_length=500)
    address: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=50)

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class StructField(BaseModel):
    """A field to collect, with the type Sixtyfour should cast the answer to."""

    description: str = Field(min_length=1, max_length=2000)
    type: FieldType = "str"


StructSpec = dict[str, str | StructField]


class QualificationCriterion(BaseModel):
    criteria_name: str = Field(min_length=1, max_length=200, description="Short name shown in the results")
    description: str = Field(min_length=1, max_length=2000, description="What qualifies the lead")
    weight: float = Field(default=1.0, ge=0, description="Relative weight in the final score")
    threshold: float | None = Field(default=None, ge=0, le=1, description="Minimum score (0-1) to pass")


class Reference(BaseModel):
    url: str = Field(min_length=1, max_length=2083)
    description: str = Field(default="", max_length=1000)


class Block(BaseModel):
    """One step of a workflow."""

    model_config = ConfigDict(extra="allow")

    sequence_number: int = Field(ge=0, description="Position in execution order")
    block_type: str = Field(description="Category, e.g. source, enrich, output")
    block_name: str = Field(
        description="webhook, read_csv, enrich_company, enrich_lead, find_email, find_phone or qa_agent"
    )
    specs: dict[str, Any] = Field(default_factory=dict, description="Block-specific configuration")
    block_id: str | None = None


class WorkflowEdge(BaseModel):
    from_block_id: str
    to_block_id: str
    condition: str | None = None


class WorkflowGraph(BaseModel):
    blocks: list[Block] = Field(min_length=1)
    edges: list[WorkflowEdge] = Field(default_factory=list)


# -- answers ---------------------------------------------------------------------------------------


class FoundEmail(BaseModel):
    address: str
    status: str = Field(description="Sixtyfour's verification word: OK or UNKNOWN")
    type: str = Field(description="COMPANY or PERSONAL")


class FoundPhone(BaseModel):
    number: str
    region: str | None = None


def parse_emails(raw: dict[str, Any]) -> list[FoundEmail]:
    """``email`` is ``[[address, OK|UNKNOWN, COMPANY|PERSONAL], ...]`` per the document.

    A bare address, a list of addresses or of ``{address|email, status, type}`` objects are read too.
    """
    value = raw.get("email")
    found = []
    for item in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
        if isinstance(item, list | tuple) and item:
            parts = [str(p) for p in item] + ["UNKNOWN", "COMPANY"]
            found.append(FoundEmail(address=parts[0], status=parts[1], type=parts[2]))
        elif isinstance(item, str) and "@" in item:
            found.append(FoundEmail(address=item.strip(), status="UNKNOWN", type="COMPANY"))
        elif isinstance(item, dict) and (address := item.get("address") or item.get("email")):
            found.append(
                FoundEmail(
                    address=str(address),
                    status=str(item.get("status") or "UNKNOWN"),
                    type=str(item.get("type") or "COMPANY"),
                )
            )
    return found


def parse_phones(raw: dict[str, Any]) -> list[FoundPhone]:
    """``phone`` is ``"+1 ..."``, ``[{number, region}, ...]`` or ``""`` (not found) per the document."""
    value = raw.get("phone")
    if isinstance(value, str):
        return [FoundPhone(number=value.strip())] if value.strip() else []
    found = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and item.get("number"):
            found.append(FoundPhone(number=str(item["number"]), region=item.get("region") or None))
        elif isinstance(item, str) and item.strip():
            found.append(FoundPhone(number=item.strip()))
    return found


class FindEmailResult(BaseModel):
    emails: list[FoundEmail]
    personal_email: str | None = None
    mode: EmailMode
    cost_usd: float
    cache: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict, description="Sixtyfour's answer as received")


class FindPhoneResult(BaseModel):
    phones: list[FoundPhone] = Field(description="Empty when Sixtyfour found no number")
    cost_usd: float
    cache: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict, description="Sixtyfour's answer as received")


class Research(BaseModel):
    """An enrich-lead / enrich-company answer."""

    model_config = ConfigDict(extra="allow")

    notes: str | None = None
    structured_data: dict[str, Any] = Field(default_factory=dict, description="The struct fields, filled")
    references: dict[str, Any] = Field(default_factory=dict, description="Source URL -> what it supported")
    confidence_score: float | None = None


class ResearchResult(BaseModel):
    finished: bool = Field(description="True when the answer is here (from the cache or a job that ended)")
    result: Research | None = Field(default=None, description="The answer, when the research completed")
    job: JobInfo | None = Field(default=None, description="The research job; absent when served from the cache")
    next_step: str
    cost_usd: float
    cache: dict[str, Any] = Field(default_factory=dict)


class QualifyLeadResult(BaseModel):
    result: dict[str, Any] = Field(description="Sixtyfour's evaluation as received (scores per criterion)")
    cost_usd: float


class Workflow(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str | None = None
    description: str | None = None
    status: str | None = None
    step: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_run_date: str | None = None
    workflow_definition: dict[str, Any] | None = Field(default=None, description="Blocks and edges (detail only)")


class WorkflowList(BaseModel):
    workflows: list[Workflow]
    count: int


class WorkflowDeleted(BaseModel):
    workflow_id: str
    deleted: bool


class WorkflowRun(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str = Field(description="Sixtyfour's run id (not an enrich-mcp job id)")
    workflow_id: str
    workflow_name: str | None = None
    status: str
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    error_message: str | None = None


class WorkflowRunList(BaseModel):
    runs: list[WorkflowRun]
    count: int
