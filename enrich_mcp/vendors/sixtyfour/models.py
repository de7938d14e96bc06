"""Sixtyfour request and answer models, mirroring the vendor's field names, and the answer parsers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from enrich_mcp.jobs import JobInfo
from enrich_mcp.schema import Extras, Input, JsonObjectText, Sparse, WithExtras, published

EmailMode = Literal["PROFESSIONAL", "PERSONAL"]
SearchMode = Literal["people", "company"]
FieldType = Literal["str", "int", "float", "bool", "list", "list[str]", "list[int]", "list[float]", "dict"]
RunStatusFilter = Literal["active", "queued", "running", "completed", "failed", "cancelled"]


# -- inputs ----------------------------------------------------------------------------------------


class Lead(Sparse):
    """A person for the find tools, by the document's lead fields; more fields give better answers."""

    name: str = ""
    company: str = ""
    title: str = ""
    phone: str = ""
    linkedin: str = ""
    domain: str = ""
    email: str = ""

    def payload(self) -> dict[str, Any]:
        return self.named()

    def identifies(self) -> bool:
        """Sixtyfour needs at least a name, a LinkedIn URL or an email to find a person."""
        return bool(self.name or self.linkedin or self.email)

    def subject(self) -> str:
        return str(self.name or self.linkedin or self.email or "lead")


class LeadInfo(Lead, WithExtras):
    """What is known about a person for research: the lead fields plus any others (``extra``)."""

    extra: Extras = Field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return self.flat()


class Company(WithExtras):
    """What is known about a company."""

    company_name: str = ""
    website: str = ""
    domain: str = ""
    linkedin: str = ""
    address: str = ""
    phone: str = ""
    extra: Extras = Field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return self.flat()


class StructField(Input):
    """A field to collect, with the type Sixtyfour should cast the answer to."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(max_length=2000)
    type: FieldType = "str"


def _unique_names(fields: list[StructField]) -> list[StructField]:
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValueError("each field name once")
    return fields


StructSpec = Annotated[list[StructField], AfterValidator(_unique_names)]


def struct_body(fields: list[StructField]) -> dict[str, Any]:
    """Sixtyfour's ``struct`` object: name -> description, or -> {description, type} when typed."""
    return {
        f.name: f.description if f.type == "str" else {"description": f.description, "type": f.type} for f in fields
    }


class QualificationCriterion(Input):
    criteria_name: str = Field(min_length=1, max_length=200)
    description: str = Field(max_length=2000, description="What qualifies")
    weight: float = Field(default=1.0, ge=0, le=1000)
    threshold: float | None = Field(default=None, ge=0, le=1, description="Minimum score to pass")


class Reference(Input):
    url: str = Field(max_length=2083)
    description: str = Field(default="", max_length=1000)


class Block(Input):
    """One step of a workflow; its size counts toward the graph's cap."""

    sequence_number: int
    block_type: str
    block_name: str = Field(description="e.g. webhook, enrich_lead, find_email")
    specs: JsonObjectText = Field(default_factory=dict)
    block_id: str | None = None


class WorkflowEdge(Input):
    from_block_id: str
    to_block_id: str
    condition: str | None = None


class WorkflowGraph(Input):
    """Blocks in sequence and the edges between them, at most 100 KB as JSON."""

    max_bytes = 100_000

    blocks: list[Block] = Field(min_length=1, max_length=50)
    edges: list[WorkflowEdge] = Field(default_factory=list, max_length=100)


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
    # Typed in the published schema: what a caller acts on. The echo and diagnostics pass through.
    model_config = ConfigDict(json_schema_extra=published("emails", "cost_usd"))

    emails: list[FoundEmail]
    personal_email: str | None = None
    mode: EmailMode
    cost_usd: float
    cache: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict, description="Sixtyfour's answer as received")


class FindPhoneResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=published("phones", "cost_usd"))

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
    model_config = ConfigDict(json_schema_extra=published("finished", "next_step", "cost_usd"))

    finished: bool = Field(description="True when the answer is here (from the cache or a job that ended)")
    result: Research | None = Field(default=None, description="The answer, when the research completed")
    job: JobInfo | None = Field(default=None, description="The research job; absent when served from the cache")
    next_step: str
    cost_usd: float
    cache: dict[str, Any] = Field(default_factory=dict)


class QualifyLeadResult(BaseModel):
    finished: bool = Field(description="True when the evaluation is here")
    result: dict[str, Any] | None = Field(default=None, description="Sixtyfour's evaluation (scores per criterion)")
    job: JobInfo | None = None
    next_step: str
    cost_usd: float


class Workflow(BaseModel):
    """A workflow as Sixtyfour sent it; the fields below are typed, the others pass through."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str | None = None
    description: str | None = None
    status: str | None = None
    workflow_definition: dict[str, Any] | None = Field(default=None, description="Blocks and edges (detail only)")


class WorkflowList(BaseModel):
    workflows: list[Workflow]
    count: int


class WorkflowDeleted(BaseModel):
    workflow_id: str
    deleted: bool


class WorkflowRun(BaseModel):
    """A run as Sixtyfour sent it; the fields below are typed, the others pass through."""

    model_config = ConfigDict(extra="allow")

    job_id: str = Field(description="Sixtyfour's run id (not an enrich-mcp job id)")
    workflow_id: str
    status: str
    error_message: str | None = None


class WorkflowRunList(BaseModel):
    runs: list[WorkflowRun]
    count: int
