"""Inputs and outputs of the local provider, as pydantic models the MCP tools return as structured content."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema, model_validator

from enrich_mcp.local.columns import lead_field
from enrich_mcp.schema import Extras, WithExtras

Verdict = Literal["valid", "invalid", "risky", "unknown"]

EmailReason = Literal[
    "not_a_string",
    "empty",
    "too_long",
    "syntax",
    "no_mx",
    "dns_unreachable",
    "mx_not_checked",
    "disposable",
    "role_account",
    "free_mail",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LeadRow(WithExtras):
    """One lead row to clean. Common column names (E-mail, Job Title, Website, company_name...) are accepted."""

    max_bytes = 16_000

    name: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    company: str = ""
    domain: str = Field(default="", description="Website or domain")
    linkedin: str = ""
    title: str = ""
    extra: Extras = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _known_columns(cls, data: Any) -> Any:
        """Rename recognised column aliases to the field they stand for; anything else stays (and is refused)."""
        if not isinstance(data, dict):
            return data
        renamed: dict[str, Any] = {}
        for key, value in data.items():
            field = lead_field(key) if isinstance(key, str) and key not in cls.model_fields else None
            name = {"full_name": "name", "linkedin_url": "linkedin"}.get(field, field) if field else key
            if name in renamed:
                continue  # the first column for a field wins, as in a CSV
            # A spreadsheet's phone or zip arrives as a number: the cleaner reads it as text.
            renamed[name] = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        return renamed


class MxAnswer(_Frozen):
    """What DNS says about a domain's ability to receive mail."""

    status: Literal["has_mx", "no_mx", "unreachable"] = Field(
        description="has_mx: MX records, or an A/AAAA record as implicit MX. "
        "no_mx: the domain does not exist, has a null MX, or has no MX, A or AAAA record. "
        "unreachable: DNS did not answer (timeout, no nameservers, SERVFAIL)."
    )
    hosts: tuple[str, ...] = Field(default=(), description="Mail exchangers, most preferred first.")
    detail: str | None = None


class EmailResult(_Frozen):
    input: str = Field(description="As given, cut to 320 characters")
    email: str | None = Field(description="Normalised; null when the syntax is bad")
    domain: str | None
    verdict: Verdict
    reasons: list[EmailReason]
    disposable: bool = False
    role: bool = Field(default=False, description="A shared mailbox such as info@")
    free_mail: bool = Field(default=False, description="Consumer mailbox: valid, not B2B")
    mx: bool | None = Field(default=None, description="Domain accepts mail; null when not checked")
    detail: str | None = None


class EmailSummary(_Frozen):
    total: int
    valid: int
    invalid: int
    risky: int
    unknown: int
    distinct_domains: int
    duplicates: int


class EmailValidationReport(_Frozen):
    results: list[EmailResult]
    summary: EmailSummary


class CleanLead(_Frozen):
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    phone: str | None = Field(default=None, description="E.164")
    company: str | None = None
    domain: str | None = None
    linkedin_url: str | None = None
    title: str | None = None
    extra: Annotated[dict[str, JsonValue], WithJsonSchema({"type": "object"})] = Field(
        default_factory=dict, description="Unrecognised columns, kept as given"
    )


class LeadResult(_Frozen):
    index: int
    ok: bool = Field(description="Cleaned without any issue")
    lead: CleanLead | None = Field(description="Null when the row is empty")
    issues: list[str]
    duplicate_of: int | None = Field(default=None, description="Index of the first row with the same person")


class LeadSummary(_Frozen):
    total: int
    ok: int
    with_errors: int
    duplicates: int
    emails_fixed: int
    phones_normalised: int
    domains_derived: int = Field(description="Company domains taken from work emails")


class LeadCleaningReport(_Frozen):
    results: list[LeadResult]
    summary: LeadSummary
